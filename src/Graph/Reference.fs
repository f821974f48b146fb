/// The seed's two passes written plainly, beside the engine's fast ones: every node on tensors through
/// Op.Forward and Op.Vjp, every adjoint summed over its successors in plan order. Slow, and bitwise equal
/// to Engine.forward and Engine.backward (a test holds them to it), so that the fast passes' tricks —
/// unboxed scalars, stored partials, pushed terms, shared buffers — are checked against the plain statement.
module Adjoint.Reference

open System.Collections.Generic

/// λ_j from the terms λ_i ∂f_i/∂z_j of its successors, from the last successor to the first and a
/// successor's slots in order: the first term, then each later one added (((t₁ + t₂) + t₃) + …); λ_n = 1.
let private adjointOf (plan: Plan) (needs: bool[]) (values: Tensor[]) (adjoints: Tensor[]) (j: int) =
    let shape = plan.Shape j
    if j = plan.Output then Tensor(shape, Array.create shape.Count 1.0)
    else
        let mutable total: Tensor = null
        let edges = plan.Successors j |> Seq.sortBy (fun struct (i, slot) -> struct (-i, slot))
        for struct (i, slot) in edges do
            if needs[i] then
                let term = Tensor.Zeros shape
                let args = plan.Ancestors i |> Seq.map (fun a -> values[a]) |> Array.ofSeq
                plan.Op(i).Vjp(args, values[i], adjoints[i], slot, term)
                if isNull total then total <- term
                else Kernels.Vec.add total.Data term.Data total.Data
        total

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
    let needs = Array.init plan.Count (fun p -> plan.NeedsAdjoint(mode, p))
    let adjoints = Array.zeroCreate plan.Count
    for j in plan.Count - 1 .. -1 .. 0 do
        if needs[j] then adjoints[j] <- adjointOf plan needs values adjoints j
    adjoints
