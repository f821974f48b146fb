/// The local engine: the seed's forward pass (∇_λ L = 0) and backward pass (∇_z L = 0) over a plan.
namespace Adjoint

// Prefetch takes the address of an array element.
#nowarn "9"

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

/// An op failed while a node was evaluated; names the node and the op.
type EvaluationException(node: string, op: string, message: string, inner: exn) =
    inherit Exception($"node '{node}': op '{op}' failed: {message}", inner)
    member _.Node = node
    member _.Op = op
    member _.Reason = message

/// The buffers of one evaluation of a plan: a value z_i for every node and, after a backward pass, the
/// adjoints λ_i it computed. Running the engine again on the same Evaluation reuses every buffer, so
/// a steady stream of evaluations allocates nothing; values read from it are overwritten by the next
/// run on it.
///
/// 1×1 values and adjoints are kept unboxed in two arrays (8 bytes a node each; 16 more for the partials
/// of ops that have them and 8 for a div's denominator: see Direct.forward), so `Value`, `ValueAt`,
/// `Adjoint` and `AdjointAt` of a 1×1 node return a fresh tensor holding a copy; bind new values with `Set`.
///
/// An evaluation made for `Adjoints.InputsAndParameters` (as `Engine.gradient` makes for that mode)
/// keeps only the values some VJP reads: the buffers of the other non-1×1 intermediate values are
/// shared, and asking for such a value raises InvalidOperationException (see `HasValue`).
[<Sealed>]
type Evaluation private (plan: Plan, lean: bool, forBackward: bool) =
    let n = plan.Count
    let shapes = plan.Shapes
    let kinds = plan.Kinds
    let shared = if lean then plan.Shared else Unchecked.defaultof<_>
    let pool = if lean then shared.Sizes |> Array.map (fun c -> Array.zeroCreate<double> c) else null
    let scalarValues = Array.zeroCreate<double> n
    let scalarAdjoints = Array.zeroCreate<double> n
    // The second argument of every binary node whose VJP reads its arguments and that the passes compute
    // through Direct, saved at p by the forward pass (see Direct.forward).
    let operands = Array.zeroCreate<double> (if plan.SavesOperands then n else 0)
    // ∂f_p/∂z_a and ∂f_p/∂z_b at 2p and 2p + 1 for every node with partials, stored by the forward pass.
    let partials = Array.zeroCreate<double> (if plan.AnyPartial then 2 * n else 0)
    // The VJP term of every successor edge into a 1×1 node, and one spare (see Plan.Edge1).
    let terms = Array.zeroCreate<double> (plan.SuccessorNode.Length + 1)
    // Read only at non-1×1 nodes and nodes computed through Op.Forward: a plan of scalar nodes needs none
    // of the three arrays below, which on a large graph are large-object allocations.
    let perNode () = if plan.AllScalar then Array.Empty() else Array.zeroCreate n
    // Tensor values: every non-1×1 node, and a 1×1 mirror of the nodes that tensor ops read or write.
    let values: Tensor[] = perNode ()
    // The argument tensors of nodes computed through Op.Forward, made once.
    let args: Tensor[][] = perNode ()
    // Tensor adjoints (1×1 mirrors for the tensor-op nodes among them), made on the first backward pass.
    let adjoints: Tensor[] = perNode ()
    let bound = Array.zeroCreate<bool> n
    let mutable adjointMode: Adjoints voption = ValueNone
    // Whether the forward pass stores the partials: from the start for an evaluation made for a backward
    // pass, else from its first backward pass on, so that forward-only use pays nothing for them.
    let mutable recordsPartials = forBackward
    // Whether `partials` holds the partials of the last forward pass.
    let mutable partialsValid = false
    // One scratch buffer per shape: a fan-out node's second and later VJP terms land here before
    // being added to its adjoint. The backward pass is sequential, so one per shape suffices.
    let scratch = Dictionary<Shape, Tensor>()
    let scratch1 = Tensor(1, 1)

    do
        for p in 0 .. n - 1 do
            let s = shapes[p]
            if not s.IsScalar then
                values[p] <-
                    if lean && shared.ValueBuffer[p] >= 0 then Tensor(s.Rows, s.Cols, pool[shared.ValueBuffer[p]])
                    else Tensor.Zeros s
            if kinds[p] = NodeKind.Tensor then
                if s.IsScalar then values[p] <- Tensor(1, 1)
                let a = plan.Args[p]
                let t = Array.zeroCreate a.Length
                for j in 0 .. a.Length - 1 do
                    if isNull values[a[j]] then values[a[j]] <- Tensor(1, 1)
                    t[j] <- values[a[j]]
                args[p] <- t
            match plan.StoredValues[p] with
            | Some v when plan.Ops[p].Kind <> OpKind.Compute ->
                if s.IsScalar then scalarValues[p] <- v.Data[0]
                else Array.Copy(v.Data, values[p].Data, v.Count)
                bound[p] <- true
            | _ -> ()

    let dropped p =
        lean && not shapes[p].IsScalar && shared.ValueBuffer[p] >= 0

    /// An evaluation that keeps every value.
    new(plan: Plan) = Evaluation(plan, false, false)

    /// An evaluation for backward passes in the given mode: with InputsAndParameters it keeps only the
    /// values that some VJP reads (and the output), sharing the buffers of the rest.
    new(plan: Plan, adjoints: Adjoints) = Evaluation(plan, (adjoints = Adjoints.InputsAndParameters), true)

    member _.Plan = plan
    /// Whether every value is kept (false for an InputsAndParameters evaluation).
    member _.KeepsAllValues = not lean
    member internal _.ScalarValues = scalarValues
    member internal _.ScalarAdjoints = scalarAdjoints
    member internal _.Operands = operands
    member internal _.Partials = partials
    member internal _.RecordsPartials
        with get () = recordsPartials
        and set v = recordsPartials <- v
    member internal _.PartialsValid
        with get () = partialsValid
        and set v = partialsValid <- v
    member internal _.Terms = terms
    member internal _.Bound = bound
    member internal _.Scratch(shape: Shape) =
        match scratch.TryGetValue shape with
        | true, t -> t
        | _ ->
            let t = Tensor.Zeros shape
            scratch[shape] <- t
            t
    member internal _.AdjointMode
        with get () = adjointMode
        and set m = adjointMode <- m

    /// z_p = f_p(z_α(p)) through Op.Forward, 1×1 arguments copied into their mirrors first.
    member internal _.ForwardTensor(p: int) =
        let a = plan.Args[p]
        let t = args[p]
        for j in 0 .. a.Length - 1 do
            if shapes[a[j]].IsScalar then t[j].Data[0] <- scalarValues[a[j]]
        plan.Ops[p].Forward(t, values[p])
        if shapes[p].IsScalar then scalarValues[p] <- values[p].Data[0]

    /// λ_p as a tensor, for Op.Vjp of a node computed through Op.Forward.
    member internal _.AdjointTensor(p: int) =
        if shapes[p].IsScalar then
            if isNull adjoints[p] then adjoints[p] <- Tensor(1, 1)
            adjoints[p].Data[0] <- scalarAdjoints[p]
        elif isNull adjoints[p] then
            let s = shapes[p]
            adjoints[p] <-
                if lean && shared.AdjointBuffer[p] >= 0 then Tensor(s.Rows, s.Cols, pool[shared.AdjointBuffer[p]])
                else Tensor.Zeros s
        adjoints[p]

    /// dest = λ_i ∂f_i/∂z_(argument slot) through Op.Vjp.
    member internal e.VjpTensor(i: int, slot: int, dest: Tensor) =
        plan.Ops[i].Vjp(args[i], values[i], e.AdjointTensor i, slot, dest)

    /// The 1×1 term λ_i ∂f_i/∂z_(argument slot) through Op.Vjp.
    member internal e.VjpTensorScalar(i: int, slot: int) =
        e.VjpTensor(i, slot, scratch1)
        scratch1.Data[0]

    /// Binds the value of an input (or overrides a parameter's or constant's stored value) by copying it
    /// into this evaluation's buffer.
    member _.Set(id: string, value: Tensor) =
        let p = plan.IndexOf id
        let op = plan.Ops[p]
        if op.Kind = OpKind.Compute then
            invalidArg "id" $"node '{id}' is computed by op '{op.Name}'; only inputs, parameters and constants can be set"
        if value.Shape <> shapes[p] then
            invalidArg "value" $"node '{id}': value of shape {value.Shape} does not match the declared shape {shapes[p]}"
        if shapes[p].IsScalar then scalarValues[p] <- value.Data[0]
        else Array.Copy(value.Data, values[p].Data, value.Count)
        bound[p] <- true

    /// Binds every entry of a map from input id to value.
    member e.SetAll(inputs: IReadOnlyDictionary<string, Tensor>) =
        for KeyValue(id, v) in inputs do e.Set(id, v)

    /// Whether the value of the node at plan position p is kept (false only for intermediate values an
    /// InputsAndParameters evaluation does not keep).
    member _.HasValueAt(p: int) = not (dropped p)
    member e.HasValue(id: string) = e.HasValueAt(plan.IndexOf id)

    /// z of a node after the forward pass. Raises InvalidOperationException for a value this
    /// evaluation does not keep (see `HasValue`).
    member e.Value(id: string) = e.ValueAt(plan.IndexOf id)
    /// z_n.
    member e.Output = e.ValueAt plan.Output
    /// z of the node at plan position p.
    member _.ValueAt(p: int) : Tensor =
        if shapes[p].IsScalar then Tensor.Scalar scalarValues[p]
        elif dropped p then
            invalidOp (
                $"node '{plan.Ids[p]}': its value was not kept — this evaluation computes the adjoints of inputs "
                + "and parameters only and reuses the buffers of values no VJP reads; evaluate with Adjoints.All "
                + "(or new Evaluation(plan)) to keep every value"
            )
        else values[p]

    /// λ of a node after the backward pass, or null where none was computed (the node does not reach
    /// z_n, or the pass was pruned to inputs and parameters).
    member e.Adjoint(id: string) = e.AdjointAt(plan.IndexOf id)
    member _.AdjointAt(p: int) : Tensor =
        match adjointMode with
        | ValueSome mode when plan.NeedsAdjoint(mode, p) ->
            if shapes[p].IsScalar then Tensor.Scalar scalarAdjoints[p] else adjoints[p]
        | _ -> null

    /// Whether the last run computed adjoints.
    member _.HasAdjoints = adjointMode.IsSome

/// Software prefetch: on a graph of 10⁶ scalar nodes the values an edge reads are scattered over
/// megabytes, and fetching them a few nodes ahead hides most of the memory latency.
module internal Prefetch =
    /// How many nodes ahead the passes fetch.
    [<Literal>]
    let Distance = 16

    let inline at (p: nativeptr<double>) (i: int) =
        if Sse.IsSupported then Sse.Prefetch0(NativePtr.toVoidPtr (NativePtr.add p i))

/// Direct calls of an element-wise op's scalar kernels from the passes. The node's ScalarCode says its
/// op is a 'T, and 'T is sealed: the JIT calls the override without a virtual call and inlines it.
module internal Direct =
    /// z_p = f_p(z_a, z_b), and what the backward pass will need of this node, in node order:
    ///
    /// - for an op with partials (`HasPartial`: add, mul, scale, sigmoid, tanh, exp, sin, cos), when the
    ///   evaluation records them, ∂f/∂z_a and ∂f/∂z_b at 2p and 2p + 1 of `partials`. The backward pass
    ///   then multiplies them by λ_p and hands the terms on, with no dispatch on the op: on random DAGs it
    ///   went from 17–36 to 8–21 ns a node (the forward pass paying 3–5 for the partials, a transcendental
    ///   for sin and cos among them), and P3's chain from 2.3 to 2.1 times a hand-written tape;
    /// - for another binary op whose VJP reads its arguments (div), z_b at p of `operands`: read in node
    ///   order rather than at b, which on a large graph lies anywhere, and whose read held up the backward
    ///   pass's critical path even when fetched 16–64 nodes ahead. A binary node's first argument is most
    ///   often the node just computed, so it is read where it is.
    let inline forward<'T when 'T :> Ops.Elementwise.ElementwiseOp and 'T: not struct>
        (binary: bool) (record: bool) (ops: Op[]) (z: double[]) (arg0: int[]) (arg1: int[]) (operands: double[]) (partials: double[]) (p: int) =
        let op = Unsafe.As<'T>(ops[p])
        let a = z[arg0[p]]
        let b = z[arg1[p]]
        let zp = op.ForwardScalar(a, b)
        z[p] <- zp
        // Constant for a given op type: each op's call is its own copy of this code.
        if op.HasPartial then
            if record then
                partials[2 * p] <- op.Partial(a, b, zp, 0)
                if binary then partials[2 * p + 1] <- op.Partial(a, b, zp, 1)
        elif binary && op.VjpReadsArgs then operands[p] <- b

    /// The terms λ_q ∂f_q/∂z_a and (for a binary op) λ_q ∂f_q/∂z_b, into the edges their arguments sum.
    let inline vjp<'T when 'T :> Op and 'T: not struct>
        (binary: bool) (ops: Op[]) (z: double[]) (arg0: int[]) (operands: double[]) (terms: double[]) (edge0: int[]) (edge1: int[])
        (q: int) (l: double) =
        let op = Unsafe.As<'T>(ops[q])
        // Only what the VJP reads is loaded. Each op's test is its own branch, always taken the same way.
        let a = if op.VjpReadsArgs then z[arg0[q]] else 0.0
        let b = if binary && op.VjpReadsArgs then operands[q] else 0.0
        let zq = if op.VjpReadsOutput then z[q] else 0.0
        terms[edge0[q]] <- op.VjpScalar(a, b, zq, l, 0)
        if binary then terms[edge1[q]] <- op.VjpScalar(a, b, zq, l, 1)

/// The passes themselves.
module Engine =

    let private fail (plan: Plan) (p: int) (e: exn) =
        let reason =
            match e with
            | Ops.Linear.OpFailure m -> m
            | e -> e.Message
        raise (EvaluationException(plan.Ids[p], plan.Ops[p].Name, reason, e))

    /// Which GEMM kernel the engine runs on: "openblas" or "managed".
    let gemmBackend = Kernels.gemmBackend

    /// Forward pass: z_i = f_i(z_α(i)) for every node in plan order.
    let forward (e: Evaluation) =
        let plan = e.Plan
        // One binding each: a tuple pattern allocates its tuple in an unoptimised (Debug) build.
        let ops = plan.Ops
        let kinds = plan.Kinds
        let codes = plan.Codes
        let arg0 = plan.Arg0
        let arg1 = plan.Arg1
        let z = e.ScalarValues
        let saved = e.Operands
        let partials = e.Partials
        let record = e.RecordsPartials && plan.AnyPartial
        let bound = e.Bound
        let n = plan.Count
        e.AdjointMode <- ValueNone
        e.PartialsValid <- false
        let mutable p = 0
        use zp = fixed z
        let ahead = n - Prefetch.Distance
        try
            while p < n do
                if p < ahead then
                    let f = p + Prefetch.Distance
                    if kinds[f] = NodeKind.Scalar then
                        Prefetch.at zp arg0[f]
                        Prefetch.at zp arg1[f]
                match codes[p] with
                | ScalarCode.Add -> Direct.forward<Ops.Elementwise.Add> true record ops z arg0 arg1 saved partials p
                | ScalarCode.Sub -> Direct.forward<Ops.Elementwise.Sub> true record ops z arg0 arg1 saved partials p
                | ScalarCode.Mul -> Direct.forward<Ops.Elementwise.Mul> true record ops z arg0 arg1 saved partials p
                | ScalarCode.Div -> Direct.forward<Ops.Elementwise.Div> true record ops z arg0 arg1 saved partials p
                | ScalarCode.Neg -> Direct.forward<Ops.Elementwise.Neg> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Scale -> Direct.forward<Ops.Elementwise.Scale> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Square -> Direct.forward<Ops.Elementwise.Square> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Sigmoid -> Direct.forward<Ops.Elementwise.Sigmoid> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Tanh -> Direct.forward<Ops.Elementwise.Tanh> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Relu -> Direct.forward<Ops.Elementwise.Relu> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Exp -> Direct.forward<Ops.Elementwise.Exp> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Log -> Direct.forward<Ops.Elementwise.Log> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Sin -> Direct.forward<Ops.Elementwise.Sin> false record ops z arg0 arg1 saved partials p
                | ScalarCode.Cos -> Direct.forward<Ops.Elementwise.Cos> false record ops z arg0 arg1 saved partials p
                | NodeKind.Scalar -> z[p] <- ops[p].ForwardScalar(z[arg0[p]], z[arg1[p]])
                | NodeKind.Tensor -> e.ForwardTensor p
                | _ ->
                    if not bound[p] then
                        raise (EvaluationException(plan.Ids[p], ops[p].Name, "no value bound to this input", null))
                p <- p + 1
            e.PartialsValid <- record
        with
        | :? EvaluationException -> reraise ()
        | ex -> fail plan p ex

    /// The partials of every node that has them, from the values of the last forward pass, for an
    /// evaluation whose forward pass did not store them (one made for forward passes only); its later
    /// forward passes store them. The same calls on the same values as the forward pass makes.
    let private fillPartials (e: Evaluation) =
        let plan = e.Plan
        let partial = plan.Partial
        let z = e.ScalarValues
        let partials = e.Partials
        for p in 0 .. plan.Count - 1 do
            if partial[p] then
                let op = plan.Ops[p] :?> Ops.Elementwise.ElementwiseOp
                let a = z[plan.Arg0[p]]
                let b = z[plan.Arg1[p]]
                partials[2 * p] <- op.Partial(a, b, z[p], 0)
                if op.Arity = 2 then partials[2 * p + 1] <- op.Partial(a, b, z[p], 1)
        e.PartialsValid <- true
        e.RecordsPartials <- true

    /// Backward pass after `forward`: λ_n = 1, then in reverse plan order
    /// λ_j = Σ_{i∈β(j)} λ_i ∂f_i/∂z_j, each term the VJP of successor i, summed in the plan's fixed
    /// successor order (the first term written, each later one computed apart and then added). Only
    /// nodes with NeedsAdjoint(mode) are visited.
    ///
    /// Terms into a 1×1 node are pushed: as soon as λ_i is known, node i computes the terms for its
    /// 1×1 arguments (one dispatch on its op) and leaves them in the slots of its successor edges, and
    /// each argument later sums its slots in order — the same terms in the same order as pulling them,
    /// but read in sequence rather than by chasing each successor, with no branch per edge. Terms into a
    /// larger node are pulled as before.
    let backward (mode: Adjoints) (e: Evaluation) =
        let plan = e.Plan
        let out = plan.Output
        if not plan.Shapes[out].IsScalar then
            raise (GraphException(NonScalarOutput(plan.Ids[out], plan.Shapes[out])))
        if mode = Adjoints.All && not e.KeepsAllValues then
            invalidOp "this evaluation keeps only the values that the adjoints of inputs and parameters need; make it with new Evaluation(plan) for Adjoints.All"
        if plan.AnyPartial && not e.PartialsValid then fillPartials e
        let shapes = plan.Shapes
        // One binding each, as in forward.
        let ops = plan.Ops
        let kinds = plan.Kinds
        let codes = plan.Codes
        let args = plan.Args
        let arg0 = plan.Arg0
        let arg1 = plan.Arg1
        let argStart = plan.ArgStart
        let argEdge = plan.ArgEdge
        let edge0 = plan.Edge0
        let edge1 = plan.Edge1
        let start = plan.SuccessorStart
        let succ = plan.SuccessorNode
        let slot = plan.SuccessorSlot
        let needs = plan.NeedsMask mode
        let isScalar = plan.IsScalar
        let z = e.ScalarValues
        let vjpFetch = plan.VjpFetch
        let saved = e.Operands
        let partial = plan.Partial
        let partials = e.Partials
        let lambda = e.ScalarAdjoints
        let terms = e.Terms
        // The node whose VJP is running, named if it fails.
        let mutable current = out
        use zp = fixed z
        use tp = fixed terms
        try
            for q in plan.Count - 1 .. -1 .. 0 do
                current <- q
                if q >= Prefetch.Distance then
                    // What the node processed Distance steps from now reads and writes anywhere: its first
                    // argument's value, if its VJP reads it, and the term it hands its second argument.
                    let f = q - Prefetch.Distance
                    if kinds[f] = NodeKind.Scalar then
                        Prefetch.at zp vjpFetch[f]
                        Prefetch.at tp edge1[f]
                if needs[q] then
                    if isScalar[q] then
                        // λ_q: the terms its successors handed it, in successor order. −0.0 is the exact
                        // identity of +, so starting from it gives the bits of t₁ + t₂ + …; a successor
                        // that needs no adjoint handed −0.0.
                        let mutable l = 1.0
                        if q <> out then
                            // A needed node other than the output has a successor. Most have one or two:
                            // the second term is taken without a branch (a spare term follows the last
                            // edge, so it can be read), replaced by −0.0 when it is not q's.
                            let s = start[q]
                            let e = start[q + 1]
                            let second = BitConverter.DoubleToInt64Bits terms[s + 1]
                            let mine = int64 ((s + 1 - e) >>> 31)
                            l <- -0.0 + terms[s]
                            l <- l + BitConverter.Int64BitsToDouble((second &&& mine) ||| (Int64.MinValue &&& ~~~mine))
                            for edge in s + 2 .. e - 1 do
                                l <- l + terms[edge]
                        lambda[q] <- l
                        // The terms this node hands its arguments, computed now that λ_q is known: with
                        // the partials the forward pass stored, two products and no dispatch on the op
                        // (a unary op's second term lands in the spare slot). The element-wise ops with
                        // partials (add, mul, scale, sigmoid, tanh, exp, sin, cos) always take that way.
                        if partial[q] then
                            terms[edge0[q]] <- partials[2 * q] * l
                            terms[edge1[q]] <- partials[2 * q + 1] * l
                        else
                            match codes[q] with
                            | ScalarCode.Sub -> Direct.vjp<Ops.Elementwise.Sub> true ops z arg0 saved terms edge0 edge1 q l
                            | ScalarCode.Div -> Direct.vjp<Ops.Elementwise.Div> true ops z arg0 saved terms edge0 edge1 q l
                            | ScalarCode.Neg -> Direct.vjp<Ops.Elementwise.Neg> false ops z arg0 saved terms edge0 edge1 q l
                            | ScalarCode.Square -> Direct.vjp<Ops.Elementwise.Square> false ops z arg0 saved terms edge0 edge1 q l
                            | ScalarCode.Relu -> Direct.vjp<Ops.Elementwise.Relu> false ops z arg0 saved terms edge0 edge1 q l
                            | ScalarCode.Log -> Direct.vjp<Ops.Elementwise.Log> false ops z arg0 saved terms edge0 edge1 q l
                            | NodeKind.Scalar ->
                                let op = ops[q]
                                let a = z[arg0[q]]
                                let b = z[arg1[q]]
                                let zq = z[q]
                                terms[edge0[q]] <- op.VjpScalar(a, b, zq, l, 0)
                                if op.Arity = 2 then terms[edge1[q]] <- op.VjpScalar(a, b, zq, l, 1)
                            | NodeKind.Tensor ->
                                let a = args[q]
                                for j in 0 .. a.Length - 1 do
                                    if isScalar[a[j]] && needs[a[j]] then terms[argEdge[argStart[q] + j]] <- e.VjpTensorScalar(q, j)
                            | _ -> ()
                    else
                        let total = e.AdjointTensor q
                        let mutable first = true
                        for edge in start[q] .. start[q + 1] - 1 do
                            let i = succ[edge]
                            if needs[i] then
                                current <- i
                                let dest = if first then total else e.Scratch shapes[q]
                                e.VjpTensor(i, slot[edge], dest)
                                if first then first <- false
                                else Kernels.Vec.add total.Data dest.Data total.Data
                        if first then Array.Clear total.Data
                        current <- q
                        if kinds[q] = NodeKind.Tensor then
                            let a = args[q]
                            for j in 0 .. a.Length - 1 do
                                if isScalar[a[j]] && needs[a[j]] then terms[argEdge[argStart[q] + j]] <- e.VjpTensorScalar(q, j)
                elif kinds[q] <> NodeKind.Leaf then
                    // Its arguments sum what it hands them whether or not it needs an adjoint.
                    for k in argStart[q] .. argStart[q + 1] - 1 do
                        terms[argEdge[k]] <- -0.0
        with ex ->
            fail plan current ex
        e.AdjointMode <- ValueSome mode

    /// A fresh evaluation of the plan with the given inputs bound (stored values for the rest).
    let bind (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = Evaluation plan
        if not (isNull inputs) then e.SetAll inputs
        e

    /// Forward only: every z_i; no adjoint state is kept.
    let evaluate (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = bind plan inputs
        forward e
        e

    /// Forward and backward: z_i and the adjoints the mode asks for. With InputsAndParameters the
    /// evaluation keeps only the values that some VJP reads (see Evaluation).
    let gradient (mode: Adjoints) (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = Evaluation(plan, mode)
        if not (isNull inputs) then e.SetAll inputs
        forward e
        backward mode e
        e

    /// One compiled plan evaluated for many input sets, each into its own Evaluation.
    let gradientMany (mode: Adjoints) (plan: Plan) (inputSets: IReadOnlyDictionary<string, Tensor> seq) =
        inputSets |> Seq.map (gradient mode plan)
