/// Reductions over a list of axes beyond sum and mean: max, min, logsumexp, var and argmax, on the walk
/// over axes of Ops/Reduce.fs (which orders every combination: row-major order of the reduced elements).
module Adjoint.Ops.Axes

open System
open Adjoint
open Adjoint.Ops.Reduce

/// out[o] = pick over the elements of output o, from `identity`; Math.Max and Math.Min carry a NaN on.
let inline private extremeInto (w: AxesWalk) (x: double[]) (out: double[]) (identity: double) ([<InlineIfLambda>] pick: double -> double -> double) =
    Array.Fill(out, identity)
    eachElement w (fun k o -> out[o] <- pick out[o] x[k])

/// Whether x is the extremum z (a NaN extremum is met by the first NaN).
let inline private isExtremum (x: double) (z: double) = x = z || (Double.IsNaN x && Double.IsNaN z)

/// z = max (or min) over the axes, NaN if any element is NaN (as PyTorch's amax); λ_x = λ at the FIRST
/// element of each output, in row-major order of the reduced axes, that equals z, and 0 elsewhere: ties
/// give all the adjoint to the first (as torch.max along a dimension does; torch.amax splits it).
[<Sealed>]
type internal ExtremumOp(name, axes, keepdims, isMax: bool) =
    inherit AxesReduction(name, axes, keepdims)
    override _.VjpReadsOutput = true
    /// The element type of its argument: the result is one of its elements.
    override _.ElementType t = Ok t[0]

    override op.Forward(args, out) =
        let w = op.Walk args[0].Shape
        if isMax then extremeInto w args[0].Data out.Data Double.NegativeInfinity (fun a b -> Math.Max(a, b))
        else extremeInto w args[0].Data out.Data Double.PositiveInfinity (fun a b -> Math.Min(a, b))

    override op.Vjp(args, out, adjoint, _, dest) =
        let x, z, l, d = args[0].Data, out.Data, adjoint.Data, dest.Data
        let found = Array.zeroCreate<bool> z.Length
        eachElement (op.Walk dest.Shape) (fun k o ->
            if not found[o] && isExtremum x[k] z[o] then
                d[k] <- l[o]
                found[o] <- true
            else d[k] <- 0.0)

/// z = 1 at the first element of each group reduced by max (or min) over the axes that equals the
/// extremum, 0 elsewhere, of x's shape: where max's VJP sends λ, so that λ_x = mask ⊙ λ spread back is
/// max's VJP in catalogue ops (VjpGraphs.fs). Piecewise constant in x: λ_x = 0.
[<Sealed>]
type internal ExtremumMask(name, axes: int[] option, isMax: bool) =
    inherit Op(name, 1, OpKind.Compute)
    let extremum = ExtremumOp((if isMax then "max" else "min"), axes, false, isMax)
    override _.VjpReadsArgs = false

    override _.Shape s = extremum.Shape s |> Result.map (fun _ -> s[0])

    override _.Forward(args, out) =
        match extremum.Shape [| args[0].Shape |] with
        | Ok reduced ->
            let z = Tensor(reduced, Array.zeroCreate reduced.Count)
            extremum.Forward(args, z)
            extremum.Vjp(args, z, Tensor(reduced, Array.create reduced.Count 1.0), 0, out)
        | Error m -> invalidOp m

    override _.Vjp(_, _, _, _, dest) = Array.Fill(dest.Data, 0.0)

/// z = m + ln Σ exp(x − m) over the axes, m the maximum (taken as 0 where it is ±∞, as PyTorch does, so
/// that all −∞ gives −∞ and any +∞ gives +∞), the exponentials added in row-major order;
/// λ_x = λ ⊙ exp(x − z) (the softmax over the axes).
[<Sealed>]
type internal LogSumExpOp(axes, keepdims) =
    inherit AxesReduction("logsumexp", axes, keepdims)
    override _.VjpReadsOutput = true

    override op.Forward(args, out) =
        let w = op.Walk args[0].Shape
        let x, z = args[0].Data, out.Data
        let m = Array.zeroCreate z.Length
        extremeInto w x m Double.NegativeInfinity (fun a b -> Math.Max(a, b))
        for o in 0 .. m.Length - 1 do
            if Double.IsInfinity m[o] then m[o] <- 0.0
        Array.Fill(z, -0.0)
        eachElement w (fun k o -> z[o] <- z[o] + Math.Exp(x[k] - m[o]))
        for o in 0 .. z.Length - 1 do
            z[o] <- Math.Log z[o] + m[o]

    override op.Vjp(args, out, adjoint, _, dest) =
        let x, z, l, d = args[0].Data, out.Data, adjoint.Data, dest.Data
        eachElement (op.Walk dest.Shape) (fun k o -> d[k] <- l[o] * Math.Exp(x[k] - z[o]))

/// z = Σ (x − x̄)² / max(0, n − correction) over the axes, x̄ = (Σ x)/n, as torch.var (correction 1:
/// the unbiased estimate; 0: the population variance; n ≤ correction divides by 0, giving ∞ or NaN as
/// PyTorch does). Two passes, each adding in row-major order. λ_x = λ·2(x − x̄)/max(0, n − correction)
/// (the terms through x̄ sum to zero).
[<Sealed>]
type internal VarOp(axes, keepdims, correction: int) =
    inherit AxesReduction("var", axes, keepdims)

    member private op.Means(w: AxesWalk, x: double[]) =
        let m = Array.zeroCreate w.OutCount
        sumInOrder w x m
        let n = double w.Count
        for o in 0 .. m.Length - 1 do
            m[o] <- m[o] / n
        m

    member private _.Divisor(w: AxesWalk) = double (max 0 (w.Count - correction))

    override op.Forward(args, out) =
        let w = op.Walk args[0].Shape
        let x, z = args[0].Data, out.Data
        let m = op.Means(w, x)
        Array.Fill(z, -0.0)
        eachElement w (fun k o ->
            let d = x[k] - m[o]
            z[o] <- z[o] + d * d)
        let divisor = op.Divisor w
        for o in 0 .. z.Length - 1 do
            z[o] <- z[o] / divisor

    override op.Vjp(args, _, adjoint, _, dest) =
        let w = op.Walk dest.Shape
        let x, d = args[0].Data, dest.Data
        let m = op.Means(w, x)
        let divisor = op.Divisor w
        let g = adjoint.Data |> Array.map (fun l -> 2.0 * l / divisor)
        eachElement w (fun k o -> d[k] <- g[o] * (x[k] - m[o]))

/// z = the index of the first maximal element along `axis` (None: of the flattened tensor, in row-major
/// order), as torch.argmax; a NaN counts as larger than any number, so the first NaN wins. The result
/// is int64 and not differentiable: λ_x = 0.
[<Sealed>]
type internal ArgMaxOp(axis: int option, keepdims) =
    inherit AxesReduction("argmax", axis |> Option.map (fun a -> [| a |]), keepdims)
    override _.VjpReadsArgs = false
    override _.ElementType _ = Ok ElementType.Int64

    override op.Forward(args, out) =
        let x, z = args[0].Data, out.Data
        let best = Array.zeroCreate z.Length
        let seen = Array.zeroCreate<int> z.Length
        eachElement (op.Walk args[0].Shape) (fun k o ->
            let v = x[k]
            let b = best[o]
            if seen[o] = 0 || v > b || (Double.IsNaN v && not (Double.IsNaN b)) then
                best[o] <- v
                z[o] <- double seen[o]
            seen[o] <- seen[o] + 1)

    override _.Vjp(_, _, _, _, dest) = Array.Fill(dest.Data, 0.0)

let private maxDefault = ExtremumOp("max", None, false, true) :> Op
let private minDefault = ExtremumOp("min", None, false, false) :> Op
let private logsumexpDefault = LogSumExpOp(None, false) :> Op
let private varDefault = VarOp(None, false, 1) :> Op
let private argmaxDefault = ArgMaxOp(None, false) :> Op

/// max_mask's or min_mask's entry: the axes attribute of a reduction, x's shape.
let private maskEntry name (which: string) isMax =
    { Name = name; Arity = "1"; MinArity = 1; Attributes = [ List.head axesSpecs ]
      Summary = $"1 at the first {which} element over axes (all by default), 0 elsewhere: where {name[.. 2]} sends λ"
      ShapeRule = "x: any shape → the same shape"
      Make = fun a -> ExtremumMask(name, checkAxes (a.Ints "axes"), isMax) :> Op }

/// This family's catalogue entries.
let entries: OpEntry list =
    [ axesEntry "max" "the largest element over axes (all by default); λ to the first maximal one" [] (fun axes keepdims a ->
          if a.Given.Count = 0 then maxDefault else ExtremumOp("max", axes, keepdims, true) :> Op)
      axesEntry "min" "the smallest element over axes (all by default); λ to the first minimal one" [] (fun axes keepdims a ->
          if a.Given.Count = 0 then minDefault else ExtremumOp("min", axes, keepdims, false) :> Op)
      maskEntry "max_mask" "maximal" true
      maskEntry "min_mask" "minimal" false
      axesEntry "logsumexp" "ln Σ exp over axes (all by default), shifted by the maximum" [] (fun axes keepdims a ->
          if a.Given.Count = 0 then logsumexpDefault else LogSumExpOp(axes, keepdims) :> Op)
      axesEntry
          "var"
          "the variance over axes (all by default), Σ(x − x̄)²/(n − correction)"
          [ Spec.intOr "correction" 1 "subtracted from n in the divisor (1: unbiased, 0: population)" ]
          (fun axes keepdims a ->
              if a.Given.Count = 0 then varDefault else VarOp(axes, keepdims, a.Int "correction") :> Op)
      { Name = "argmax"; Arity = "1"; MinArity = 1
        Attributes =
          [ { Spec.int "axis" "the axis to search along (negative counts from the end); the flattened tensor when left out" with
                Optional = true }
            Spec.boolOr "keepdims" false "keep the axis (all axes, without one) as a dimension of length 1" ]
        Summary = "the index (int64) of the first maximal element, along an axis or of the flattened tensor"
        ShapeRule = "x: any shape → x without the axis (with keepdims: it as 1); () without an axis (with keepdims: all 1s)"
        Make =
          fun a ->
              if a.Given.Count = 0 then argmaxDefault
              else ArgMaxOp((if a.Has "axis" then Some(a.Int "axis") else None), a.Bool "keepdims") :> Op } ]
