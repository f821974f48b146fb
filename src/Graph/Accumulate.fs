/// The one statement of how a node's adjoint is summed from its successors' terms, for every engine that
/// sums terms it holds apart (the node grain; the reference pass): the fixed order that makes distributed
/// results equal the local engine's bit for bit.
module Adjoint.Accumulate

open System

/// The successor edges of node j (indices into Plan.Successors j) in summation order: successors from the
/// last in plan order to the first, a successor's argument slots in order — the order in which the local
/// engine's backward pass, walking the plan backwards, adds terms into λ_j.
let order (plan: Plan) (j: int) : int[] =
    let edges = plan.Successors j
    Array.init edges.Count id
    |> Array.sortBy (fun e -> let struct (i, slot) = edges[e] in struct (-i, slot))

/// λ_n = 1 for the output node z_n, of its shape.
let seed (plan: Plan) : Tensor =
    let shape = plan.Shape plan.Output
    Tensor(shape, Array.create shape.Count 1.0)

/// λ_j = ((t₁ + t₂) + t₃) + … over the terms of the successors that need an adjoint in this mode, in
/// `order`; `terms` is indexed by successor edge (Plan.Successors j), entries of the others unread. The
/// first term is returned as it is when it is the only one; otherwise the sum goes into a tensor from
/// `buffer` (terms may be shared, and are never written). Null when no successor needs an adjoint.
let adjoint (plan: Plan) (mode: Adjoints) (j: int) (terms: Tensor[]) (buffer: Func<Shape, Tensor>) : Tensor =
    let edges = plan.Successors j
    let mutable total: Tensor = null
    let mutable owned = false
    for e in order plan j do
        let struct (i, _) = edges[e]
        if plan.NeedsAdjoint(mode, i) then
            let t = terms[e]
            if isNull total then total <- t
            elif owned then Kernels.Vec.add total.Data t.Data total.Data
            else
                let sum = buffer.Invoke(plan.Shape j)
                Kernels.Vec.add total.Data t.Data sum.Data
                total <- sum
                owned <- true
    total
