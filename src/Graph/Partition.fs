/// The partitioner: nodes of a plan assigned to k parts, balancing estimated op cost and keeping the
/// bytes that cross parts small; the same plan and k always give the same assignment.
module Adjoint.Partition

/// A fixed per-node cost standing for the messages a node handles, so that graphs of cheap scalar ops
/// still spread evenly.
[<Literal>]
let NodeOverhead = 64.0

/// The estimated cost of node p, forward plus backward, in flop-like units: 2mkn per GEMM for
/// matmul (three GEMMs with the VJPs), n³ for solve, the elements touched for the rest, plus
/// NodeOverhead. Leaves cost only the overhead.
let cost (plan: Plan) (p: int) =
    let op = plan.Op p
    let out = plan.Shape p
    let args = plan.Ancestors p |> Seq.map plan.Shape |> Array.ofSeq
    let work =
        match op.Kind, op.Name with
        // 2k per output element (m·p per batch matrix), k the inner dimension; N-d by NumPy's rules.
        | OpKind.Compute, "matmul" -> 3.0 * 2.0 * float out.Count * float (args[0].Dim(args[0].Rank - 1))
        | OpKind.Compute, "solve" -> 2.0 * float (args[0].Dim 0) ** 3.0
        | OpKind.Compute, _ -> 2.0 * (float out.Count + (args |> Array.sumBy (fun s -> float s.Count)))
        | _ -> 0.0
    work + NodeOverhead

/// The bytes one value of node p occupies in a message: 8 per element.
let bytes (plan: Plan) (p: int) = 8L * int64 (plan.Shape p).Count

/// The bytes that cross parts per evaluation with gradients: every edge α → i whose ends lie in
/// different parts carries z_α forward and a term of λ_α's size back.
let cutBytes (plan: Plan) (parts: int[]) =
    let mutable total = 0L
    for i in 0 .. plan.Count - 1 do
        for a in plan.Ancestors i do
            if parts[a] <> parts[i] then total <- total + 2L * bytes plan a
    total

/// The estimated cost each of the k parts carries.
let loads (plan: Plan) (k: int) (parts: int[]) =
    let load = Array.zeroCreate k
    for p in 0 .. plan.Count - 1 do
        load[parts[p]] <- load[parts[p]] + cost plan p
    load

/// Plan order cut into k consecutive runs of about equal cost: each node goes to the part in which
/// the midpoint of its cost falls. Consecutive runs of a topological order make pipeline stages.
let contiguous (plan: Plan) (k: int) =
    if k < 1 then invalidArg "k" $"the number of parts must be at least 1, got {k}"
    let costs = Array.init plan.Count (cost plan)
    let total = Array.sum costs
    let parts = Array.zeroCreate plan.Count
    let mutable before = 0.0
    for p in 0 .. plan.Count - 1 do
        parts[p] <- min (k - 1) (int ((before + costs[p] / 2.0) / total * float k))
        before <- before + costs[p]
    parts

/// The slack a part may carry above total/k during refinement, as a fraction of total/k.
[<Literal>]
let Imbalance = 0.05

/// Assigns every node (by plan position) to one of k parts: the contiguous split, then passes of
/// greedy moves in plan order, each moving a node to the neighbouring part that most reduces the
/// bytes cut, while no part's cost exceeds (1 + Imbalance)·total/k + the largest node cost. Ties go
/// to the lower part, so the result depends on the plan and k alone.
let assign (plan: Plan) (k: int) =
    let parts = contiguous plan k
    if k > 1 then
        let n = plan.Count
        let costs = Array.init n (cost plan)
        let limit = (1.0 + Imbalance) * Array.sum costs / float k + Array.max costs
        let load = loads plan k parts
        // Undirected neighbours with the bytes on each edge (the ancestor's value size).
        let neighbours = Array.init n (fun _ -> ResizeArray<struct (int * int64)>())
        for i in 0 .. n - 1 do
            for a in plan.Ancestors i do
                let b = bytes plan a
                neighbours[i].Add(struct (a, b))
                neighbours[a].Add(struct (i, b))
        let gainTo = Array.zeroCreate<int64> k
        let mutable moved = true
        let mutable pass = 0
        while moved && pass < 20 do
            moved <- false
            pass <- pass + 1
            for p in 0 .. n - 1 do
                let here = parts[p]
                Array.fill gainTo 0 k 0L
                for struct (q, b) in neighbours[p] do
                    gainTo[parts[q]] <- gainTo[parts[q]] + b
                let mutable best = here
                let mutable bestGain = 0L
                for t in 0 .. k - 1 do
                    let gain = gainTo[t] - gainTo[here]
                    if t <> here && gain > bestGain && load[t] + costs[p] <= limit then
                        best <- t
                        bestGain <- gain
                if best <> here then
                    load[here] <- load[here] - costs[p]
                    load[best] <- load[best] + costs[p]
                    parts[p] <- best
                    moved <- true
    parts
