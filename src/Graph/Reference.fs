/// The seed's two passes written plainly, beside the engine's fast ones: every node on tensors through
/// Op.Forward and Op.Vjp, every adjoint summed over its successors in plan order. Slow, and bitwise equal
/// to Engine.forward and Engine.backward (a test holds them to it), so that the fast passes' tricks —
/// unboxed scalars, stored partials, pushed terms, shared buffers — are checked against the plain statement.
module Adjoint.Reference

open System.Collections.Generic

/// λ_j through Accumulate.adjoint (λ_n = 1 at the output), each term computed when asked for.
let private adjointOf (plan: Plan) (mode: Adjoints) (values: Tensor[]) (adjoints: Tensor[]) (j: int) =
    let successors = plan.Successors j
    let term (e: int) =
        let struct (i, slot) = successors[e]
        let t = Tensor.Zeros(plan.Shape j)
        plan.Op(i).Vjp(plan.Ancestors i |> Seq.map (fun a -> values[a]) |> Array.ofSeq, values[i], adjoints[i], slot, t)
        t
    Accumulate.adjoint plan mode j (System.Func<_, _> term) (System.Func<_, _> Tensor.Zeros)

/// Every value z_i, plan order, through Op.Forward; inputs from `inputs`, else stored values.
let forward (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) : Tensor[] =
    let values = Array.zeroCreate plan.Count
    for p in 0 .. plan.Count - 1 do
        let op = plan.Op p
        if op.Kind = OpKind.Compute then
            let z = Tensor.Zeros(plan.Shape p)
            op.Forward(plan.Ancestors p |> Seq.map (fun a -> values[a]) |> Array.ofSeq, z)
            values[p] <- z
        else
            values[p] <-
                match (if isNull inputs then None else (match inputs.TryGetValue plan.Ids[p] with | true, v -> Some v | _ -> None)) with
                | Some v -> Tensor(plan.Shape p, Array.copy v.Data)
                | None ->
                    match plan.Graph.Node(plan.Ids[p]).Value with
                    | Some v -> v
                    | None -> invalidArg "inputs" $"node '{plan.Ids[p]}': no value bound to this input"
    values

/// Every adjoint the mode asks for (null elsewhere), reverse plan order, from the values of `forward`.
let backward (mode: Adjoints) (plan: Plan) (values: Tensor[]) : Tensor[] =
    let adjoints = Array.zeroCreate plan.Count
    for j in plan.Count - 1 .. -1 .. 0 do
        if plan.NeedsAdjoint(mode, j) then adjoints[j] <- adjointOf plan mode values adjoints j
    adjoints
