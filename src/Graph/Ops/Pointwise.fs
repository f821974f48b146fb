/// Element-wise ops derived from one statement of f and its derivative. A rule (a struct implementing
/// IUnaryRule or IBinaryRule) states f and f′ on single elements; `Unary` and `Binary` make from it
/// everything the engine and the grains call — the one-element kernel with its partials, the array
/// forward, the broadcasting array VJP λ ⊙ f′ — so the paths cannot disagree. Rules are structs, so the
/// JIT compiles each op's loops with its f and f′ inlined.
module Adjoint.Ops.Pointwise

open System
open System.Collections.Generic
open Adjoint

/// y = f(x) and its derivative, stated once.
type IUnaryRule =
    /// f(x).
    abstract F: x: double -> double
    /// f′(x), given x and y = f(x) (a rule may use either).
    abstract D: x: double * y: double -> double

/// z = f(a, b) and its two partial derivatives, stated once.
type IBinaryRule =
    /// f(a, b).
    abstract F: a: double * b: double -> double
    /// ∂f/∂a, given a, b and z = f(a, b).
    abstract Da: a: double * b: double * z: double -> double
    /// ∂f/∂b, given a, b and z = f(a, b).
    abstract Db: a: double * b: double * z: double -> double

/// What an element-wise rule's derivative reads, so that the engine may drop what it does not.
[<Flags>]
type Reads =
    | Nothing = 0
    | Argument = 1
    | Output = 2
    | Both = 3

[<Sealed>]
type private UnaryKernel<'R when 'R :> IUnaryRule and 'R: struct>(rule: 'R) =
    inherit ScalarKernel()
    override _.Forward(a, _) = rule.F a
    override _.ForwardWithPartials(a, _, partials, at) =
        let z = rule.F a
        partials[at] <- rule.D(a, z)
        z

[<Sealed>]
type private BinaryKernel<'R when 'R :> IBinaryRule and 'R: struct>(rule: 'R) =
    inherit ScalarKernel()
    override _.Forward(a, b) = rule.F(a, b)
    override _.ForwardWithPartials(a, b, partials, at) =
        let z = rule.F(a, b)
        partials[at] <- rule.Da(a, b, z)
        partials[at + 1] <- rule.Db(a, b, z)
        z

/// y = f(x) element by element; λ_x = λ ⊙ f′(x). `fastForward`, when given, replaces the derived array
/// forward (never the one-element path, never the VJP): only where a bench line shows it pays and a test
/// bounds how far it strays from f.
[<Sealed>]
type Unary<'R when 'R :> IUnaryRule and 'R: struct>
    (name: string, rule: 'R, reads: Reads, fastForward: Action<double[], double[]>, fastVjp: Action<double[], double[], double[]>) as this =
    inherit Op(name, 1, OpKind.Compute)
    do this.Kernel <- UnaryKernel<'R>(rule)

    new(name, rule, reads) = Unary<'R>(name, rule, reads, null, null)

    /// The rule this op was derived from.
    member _.Rule = rule
    override _.VjpReadsArgs = reads.HasFlag Reads.Argument
    override _.VjpReadsOutput = reads.HasFlag Reads.Output
    override _.Shape s = Ok s[0]

    override _.Forward(args, out) =
        let x = args[0].Data
        let y = out.Data
        if y.Length = 1 then y[0] <- rule.F x[0]
        elif not (isNull fastForward) then fastForward.Invoke(x, y)
        else
            for k in 0 .. y.Length - 1 do
                y[k] <- rule.F x[k]

    override _.Vjp(args, out, adjoint, _, dest) =
        let x = args[0].Data
        let y = out.Data
        let l = adjoint.Data
        let d = dest.Data
        if d.Length <> 1 && not (isNull fastVjp) then fastVjp.Invoke(y, l, d)
        else
            for k in 0 .. d.Length - 1 do
                d[k] <- l[k] * rule.D(x[k], y[k])

/// z = f(a, b) element by element, a and b broadcast by NumPy's rules; λ_a = λ ⊙ ∂f/∂a and
/// λ_b = λ ⊙ ∂f/∂b, each summed over the dimensions its argument was broadcast along (in output order).
/// `fastForward` may replace the derived forward where all three shapes agree.
[<Sealed>]
type Binary<'R when 'R :> IBinaryRule and 'R: struct>(name: string, rule: 'R, reads: Reads, fastForward: Action<double[], double[], double[]>) as this =
    inherit Op(name, 2, OpKind.Compute)
    do this.Kernel <- BinaryKernel<'R>(rule)

    new(name, rule, reads) = Binary<'R>(name, rule, reads, null)

    /// The rule this op was derived from.
    member _.Rule = rule
    override _.VjpReadsArgs = reads.HasFlag Reads.Argument
    override _.VjpReadsOutput = reads.HasFlag Reads.Output

    override _.Shape s =
        match Broadcast.shape s[0] s[1] with
        | ValueSome shape -> Ok shape
        | ValueNone -> Error $"{name} cannot broadcast {s[0]} with {s[1]}"

    override _.Forward(args, out) =
        let a = args[0].Data
        let b = args[1].Data
        let z = out.Data
        if z.Length = 1 then z[0] <- rule.F(a[0], b[0])
        elif a.Length = z.Length && b.Length = z.Length then
            if not (isNull fastForward) then fastForward.Invoke(a, b, z)
            else
                for k in 0 .. z.Length - 1 do
                    z[k] <- rule.F(a[k], b[k])
        elif b.Length = 1 then
            let bv = b[0]
            for k in 0 .. z.Length - 1 do
                z[k] <- rule.F(a[k], bv)
        elif a.Length = 1 then
            let av = a[0]
            for k in 0 .. z.Length - 1 do
                z[k] <- rule.F(av, b[k])
        else Broadcast.walk out.Shape args[0].Shape args[1].Shape (fun k ia ib -> z[k] <- rule.F(a[ia], b[ib]))

    override _.Vjp(args, out, adjoint, slot, dest) =
        let a = args[0].Data
        let b = args[1].Data
        let z = out.Data
        let l = adjoint.Data
        let d = dest.Data
        if d.Length = z.Length && a.Length = z.Length && b.Length = z.Length then
            if slot = 0 then
                for k in 0 .. d.Length - 1 do
                    d[k] <- l[k] * rule.Da(a[k], b[k], z[k])
            else
                for k in 0 .. d.Length - 1 do
                    d[k] <- l[k] * rule.Db(a[k], b[k], z[k])
        elif d.Length = z.Length then
            // This argument is not broadcast; the other one is.
            if slot = 0 then
                Broadcast.walk out.Shape args[0].Shape args[1].Shape (fun k ia ib -> d[k] <- l[k] * rule.Da(a[ia], b[ib], z[k]))
            else
                Broadcast.walk out.Shape args[0].Shape args[1].Shape (fun k ia ib -> d[k] <- l[k] * rule.Db(a[ia], b[ib], z[k]))
        else
            // Summed over the broadcast dimensions in output order, from −0.0 (the identity of +), so a
            // one-element sum has the bits of its one term.
            Array.Fill(d, -0.0)
            if slot = 0 then
                Broadcast.walk out.Shape args[0].Shape args[1].Shape (fun k ia ib -> d[ia] <- d[ia] + l[k] * rule.Da(a[ia], b[ib], z[k]))
            else
                Broadcast.walk out.Shape args[0].Shape args[1].Shape (fun k ia ib -> d[ib] <- d[ib] + l[k] * rule.Db(a[ia], b[ib], z[k]))
