/// Independent checks of computed gradients: central differences, and the Lagrangian's residuals.
module Adjoint.Checks

open System
open System.Collections.Generic

/// The gradient check's verdict on one input or parameter.
type InputCheck =
    { /// The input or parameter node.
      Node: string
      /// max_k |λ_k − d_k| / max(|λ_k|, |d_k|, floor), d the central difference.
      MaxRelativeError: double
      /// max_k |λ_k − d_k|.
      MaxAbsoluteError: double
      /// Elements compared.
      Elements: int }

/// The gradient check's verdict on a whole graph at one input set.
type GradientCheck =
    { Inputs: InputCheck[]
      /// The largest relative error over all inputs and parameters (0 when there are none).
      MaxRelativeError: double }

/// Where the Lagrangian L = z_n − Σ_i λ_i (z_i − f_i(z_α(i))) fails to be stationary.
type Residuals =
    { /// max_i |z_i − f_i(z_α(i))| over computed nodes: ∇_λ L = 0, the forward equations.
      Primal: double
      /// max_j |λ_j − Σ_{i∈β(j)} λ_i ∂f_i/∂z_j| (and |λ_n − 1|) over nodes with an adjoint:
      /// ∇_z L = 0, the backward equations.
      Dual: double }

let private maxAbsDiff (a: double[]) (b: double[]) =
    let mutable worst = 0.0
    for k in 0 .. a.Length - 1 do
        let d = abs (a[k] - b[k])
        if d > worst || Double.IsNaN d then worst <- (if Double.IsNaN d then Double.PositiveInfinity else d)
    worst

/// Compares every adjoint of the inputs and parameters with the central difference
/// (f(x + h e_k) − f(x − h e_k)) / 2h, h = step·max(1, |x_k|), element by element.
/// `floor` keeps the relative error meaningful where both derivatives are near zero.
let gradientCheckWith (step: double) (floor: double) (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
    let analytic = Engine.gradient Adjoints.InputsAndParameters plan inputs
    let probe = Engine.bind plan inputs
    let f () =
        Engine.forward probe
        probe.Output.ScalarValue
    let checks =
        [| for p in 0 .. plan.Count - 1 do
               let kind = (plan.Op p).Kind
               // Integer and boolean leaves (labels, indices, masks) are not differentiable: not checked.
               let float =
                   match plan.Op p with
                   | :? Ops.Leaf.LeafOp as leaf -> leaf.DeclaredType = ElementType.Float64
                   | _ -> true
               if (kind = OpKind.Input || kind = OpKind.Parameter) && float then
                   // Perturbed through Set: 1×1 values are not held in tensors the caller could write.
                   let x = Array.copy (probe.ValueAt p).Data
                   let shape = (plan.Shape p)
                   let bind () = probe.Set(plan.Ids[p], Tensor(shape, x))
                   let lambda = analytic.AdjointAt p
                   let mutable rel = 0.0
                   let mutable absErr = 0.0
                   for k in 0 .. x.Length - 1 do
                       let x0 = x[k]
                       let h = step * max 1.0 (abs x0)
                       x[k] <- x0 + h
                       bind ()
                       let up = f ()
                       x[k] <- x0 - h
                       bind ()
                       let down = f ()
                       x[k] <- x0
                       bind ()
                       let numeric = (up - down) / (2.0 * h)
                       let exact = if isNull lambda then 0.0 else lambda.Data[k]
                       let d = abs (exact - numeric)
                       let r = d / max floor (max (abs exact) (abs numeric))
                       absErr <- if Double.IsNaN d then Double.PositiveInfinity else max absErr d
                       rel <- if Double.IsNaN r then Double.PositiveInfinity else max rel r
                   yield { Node = plan.Ids[p]; MaxRelativeError = rel; MaxAbsoluteError = absErr; Elements = x.Length } |]
    { Inputs = checks
      MaxRelativeError = if checks.Length = 0 then 0.0 else checks |> Array.map _.MaxRelativeError |> Array.max }

/// The gradient check with step 1e-6 and floor 1e-6.
let gradientCheck (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) = gradientCheckWith 1e-6 1e-6 plan inputs

/// The residuals of eq. (6)'s stationarity conditions for any computed (z, λ) — from this engine, the
/// distributed one, or anywhere else. Values and adjoints are by plan position; a null adjoint means
/// "not computed" and is taken as zero in the sums and skipped in the dual residual.
let residuals (plan: Plan) (values: IReadOnlyList<Tensor>) (adjoints: IReadOnlyList<Tensor>) =
    let n = plan.Count
    let argsOf p = plan.Ancestors p |> Seq.map (fun a -> values[a]) |> Array.ofSeq
    let mutable primal = 0.0
    for p in 0 .. n - 1 do
        if (plan.Op p).Kind = OpKind.Compute then
            let recomputed = Tensor.Zeros (plan.Shape p)
            (plan.Op p).Forward(argsOf p, recomputed)
            primal <- max primal (maxAbsDiff values[p].Data recomputed.Data)
    let mutable dual = 0.0
    for j in 0 .. n - 1 do
        let lambda = adjoints[j]
        if not (isNull lambda) then
            let expected = Tensor.Zeros (plan.Shape j)
            if j = plan.Output then expected.Data[0] <- 1.0
            for struct (i, slot) in plan.Successors j do
                if not (isNull adjoints[i]) then
                    let term = Tensor.Zeros (plan.Shape j)
                    (plan.Op i).Vjp(argsOf i, values[i], adjoints[i], slot, term)
                    Kernels.Vec.add expected.Data term.Data expected.Data
            dual <- max dual (maxAbsDiff lambda.Data expected.Data)
    { Primal = primal; Dual = dual }

/// The residuals of an evaluation made by the local engine. They need every value z_i, so an evaluation
/// that did not keep some (one made for Adjoints.InputsAndParameters, see Evaluation.HasValue) is refused
/// with an ArgumentException naming the first such node; evaluate with Engine.bind (or new
/// Evaluation(plan)) to keep every value.
let residualsOf (e: Evaluation) =
    let plan = e.Plan
    let n = plan.Count
    match Seq.tryFind (e.HasValueAt >> not) (seq { 0 .. n - 1 }) with
    | Some p ->
        invalidArg "e" (
            $"the Lagrangian residuals need every value, and this evaluation did not keep that of node '{plan.Ids[p]}' "
            + "(it computes only the adjoints of inputs and parameters); evaluate with Engine.bind or new Evaluation(plan), "
            + "then Engine.forward and Engine.backward"
        )
    | None -> residuals plan (Array.init n e.ValueAt) (Array.init n e.AdjointAt)
