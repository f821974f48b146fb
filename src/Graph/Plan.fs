/// A graph compiled once for evaluation: topological order, ancestor and successor index arrays.
namespace Adjoint

open System.Collections.Generic

/// Which adjoints a backward pass computes.
type Adjoints =
    /// λ_j for every node that z_n depends on (Theorem 16.1).
    | All = 0
    /// λ_j only where needed to reach the inputs and parameters; the rest of the backward pass is pruned.
    | InputsAndParameters = 1

/// The compiled form of a graph. Position p in plan order is the p-th node of the graph's
/// topological order; all arrays are indexed by p.
///
/// Successors of each node are kept as edges (successor, argument slot) sorted by the successor's
/// plan position and then by slot. That is the fixed order in which every adjoint is summed,
/// λ_j = ((t₁ + t₂) + t₃) + …, here and in the distributed engine, so that both give the same bits.
[<Sealed>]
type Plan private (graph: Graph, ids: string[], ops: Op[], shapes: Shape[], values: Tensor option[], args: int[][],
                   successorStart: int[], successorNode: int[], successorSlot: int[], output: int,
                   reachesOutput: bool[], reachedFromLeaves: bool[]) =
    let index =
        let d = Dictionary<string, int>(ids.Length)
        ids |> Array.iteri (fun p id -> d[id] <- p)
        d

    member _.Graph = graph
    member _.Count = ids.Length
    member _.Ids: IReadOnlyList<string> = ids
    member internal _.Ops = ops
    member internal _.Shapes = shapes
    member internal _.StoredValues = values
    /// Plan positions of each node's ancestors, in argument order.
    member internal _.Args = args
    member internal _.SuccessorStart = successorStart
    member internal _.SuccessorNode = successorNode
    member internal _.SuccessorSlot = successorSlot
    /// Plan position of the output z_n.
    member _.Output = output

    member _.Op(p: int) = ops[p]
    member _.Shape(p: int) = shapes[p]
    member _.Ancestors(p: int): IReadOnlyList<int> = args[p]

    /// The successor edges (successor position, argument slot) of node p, in summation order.
    member _.Successors(p: int): IReadOnlyList<struct (int * int)> =
        [| for e in successorStart[p] .. successorStart[p + 1] - 1 -> struct (successorNode[e], successorSlot[e]) |]

    /// The plan position of a node id.
    member _.IndexOf(id: string) =
        match index.TryGetValue id with
        | true, p -> p
        | _ -> raise (KeyNotFoundException $"no node '{id}' in the graph")

    member _.TryIndexOf(id: string, [<System.Runtime.InteropServices.Out>] p: byref<int>) = index.TryGetValue(id, &p)

    /// Whether the backward pass computes λ_p in this mode: p must reach z_n, and in
    /// InputsAndParameters mode it must also be reached from an input or parameter.
    member _.NeedsAdjoint(mode: Adjoints, p: int) =
        reachesOutput[p] && (mode = Adjoints.All || reachedFromLeaves[p])

    /// Compiles a validated graph.
    static member Compile(graph: Graph) =
        let order = graph.Order
        let n = order.Length
        let position = Array.zeroCreate n
        order |> Array.iteri (fun p i -> position[i] <- p)
        let nodes = graph.Nodes
        let ids = order |> Array.map (fun i -> nodes[i].Id)
        let ops = order |> Array.map (fun i -> nodes[i].Op)
        let shapes = order |> Array.map (fun i -> graph.Shapes[i])
        let values = order |> Array.map (fun i -> nodes[i].Value)
        let args = order |> Array.map (fun i -> nodes[i].Ancestors |> Array.map (fun a -> position[graph.IndexOf a]))
        // Successor edges in CSR form, filled by visiting successors in plan order, slots in order.
        let successorStart = Array.zeroCreate (n + 1)
        for p in 0 .. n - 1 do
            for a in args[p] do
                successorStart[a + 1] <- successorStart[a + 1] + 1
        for p in 0 .. n - 1 do
            successorStart[p + 1] <- successorStart[p + 1] + successorStart[p]
        let fill = Array.copy successorStart
        let successorNode = Array.zeroCreate successorStart[n]
        let successorSlot = Array.zeroCreate successorStart[n]
        for p in 0 .. n - 1 do
            args[p] |> Array.iteri (fun slot a ->
                successorNode[fill[a]] <- p
                successorSlot[fill[a]] <- slot
                fill[a] <- fill[a] + 1)
        let output = position[graph.IndexOf graph.Output]
        let reachesOutput = Array.zeroCreate n
        reachesOutput[output] <- true
        for p in n - 1 .. -1 .. 0 do
            if reachesOutput[p] then
                for a in args[p] do reachesOutput[a] <- true
        let reachedFromLeaves = Array.zeroCreate n
        for p in 0 .. n - 1 do
            reachedFromLeaves[p] <-
                ops[p].Kind = OpKind.Input || ops[p].Kind = OpKind.Parameter
                || args[p] |> Array.exists (fun a -> reachedFromLeaves[a])
        Plan(graph, ids, ops, shapes, values, args, successorStart, successorNode, successorSlot, output,
             reachesOutput, reachedFromLeaves)
