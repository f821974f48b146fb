/// A graph compiled once for evaluation, in named stages: topological order and ancestors, successor
/// edges in summation order, which nodes need an adjoint, and how the engine evaluates each node.
namespace Adjoint

open System.Collections.Generic

/// Which adjoints a backward pass computes.
type Adjoints =
    /// λ_j for every node that z_n depends on (Theorem 16.1).
    | All = 0
    /// λ_j only where needed to reach the inputs and parameters; the rest of the backward pass is pruned.
    | InputsAndParameters = 1

/// How the engine evaluates a node.
module internal NodeKind =
    /// An input, parameter or constant: bound, never computed.
    [<Literal>]
    let Leaf = 0uy

    /// A one-element node of an element-wise op (so its arguments hold one element too): computed on
    /// unboxed doubles through the op's ScalarKernel, its partials stored for the backward pass.
    [<Literal>]
    let Scalar = 1uy

    /// Anything else: computed through Op.Forward and Op.Vjp on tensors.
    [<Literal>]
    let Tensor = 2uy

/// Stage 1: the nodes in topological order. Position p is the p-th node of the graph's order; every
/// array of every stage is indexed by p.
[<NoEquality; NoComparison>]
type internal Nodes =
    { Ids: string[]
      Ops: Op[]
      Shapes: Shape[]
      /// Stored values of leaves (parameters, constants, input defaults).
      Values: Tensor option[]
      /// Plan positions of each node's ancestors, in argument order.
      Args: int[][]
      /// Plan position of the output z_n.
      Output: int }

/// Stage 2: successor edges in CSR form. The edges of node j, Start[j] .. Start[j+1]−1, are
/// (successor, argument slot) sorted by the successor's plan position and then by slot.
[<NoEquality; NoComparison>]
type internal Edges =
    { Start: int[]
      Node: int[]
      Slot: int[] }

[<NoEquality; NoComparison>]
type internal Needs =
    { /// Nodes that reach z_n.
      All: bool[]
      /// Nodes that reach z_n and are reached from an input or parameter.
      InputsAndParameters: bool[] }

/// Stage 4: how the passes evaluate each node.
[<NoEquality; NoComparison>]
type internal FastPath =
    { /// NodeKind of each node.
      Kinds: byte[]
      /// The element-wise rule of each NodeKind.Scalar node (null for the others).
      Kernels: ScalarKernel[]
      /// First and second argument of each node: −1 for a leaf, and for a unary op's second one of the
      /// Spares entries past the last node, so the passes treat every element-wise node as binary without
      /// a branch. Sixteen of them, in turn, so that the backward pass's additions into them (of zero) do
      /// not chain every unary node through one memory location.
      Arg0: int[]
      Arg1: int[]
      /// Whether each node holds one element.
      IsScalar: bool[]
      /// Whether every node holds one element and is a leaf or NodeKind.Scalar: then an evaluation needs
      /// no tensor per node.
      AllScalar: bool
      /// Whether any node is NodeKind.Scalar (so an evaluation stores partials).
      AnyScalar: bool }

    /// The spare entries an evaluation keeps past the last node (see Arg1).
    static member Spares = 16

[<Sealed>]
type internal SharedBuffers(valueBuffer: int[], adjointBuffer: int[], sizes: int[]) =
    /// Pool buffer of each node's value, or −1 when the node keeps its own.
    member _.ValueBuffer = valueBuffer
    /// Pool buffer of each node's adjoint, or −1 when it gets its own.
    member _.AdjointBuffer = adjointBuffer
    /// Element count of every pool buffer.
    member _.Sizes = sizes

/// The stages, each a function of the ones before it.
module internal PlanStages =
    /// Stage 1. A graph declared in topological order (every builder's) keeps its ancestor arrays and
    /// shapes as they are. One pass per quantity over plain arrays: on a graph of 10⁴–10⁶ small nodes
    /// compiling costs as much as evaluating, so nothing here goes through an interface, a closure or a
    /// per-node allocation.
    let nodes (graph: Graph) : Nodes =
        let order = graph.Order
        let n = order.Length
        let mutable identity = true
        for p in 0 .. n - 1 do
            if order[p] <> p then identity <- false
        let position =
            if identity then order
            else
                let position = Array.zeroCreate n
                for p in 0 .. n - 1 do
                    position[order[p]] <- p
                position
        let declared = graph.NodeArray
        let ancestors = graph.AncestorIndices
        let ids = Array.zeroCreate n
        let ops = Array.zeroCreate n
        let values = Array.zeroCreate n
        let shapes = if identity then graph.Shapes else Array.zeroCreate n
        let args = if identity then ancestors else Array.zeroCreate n
        for p in 0 .. n - 1 do
            let i = order[p]
            let node = declared[i]
            ids[p] <- node.Id
            ops[p] <- node.Op
            values[p] <- node.Value
            if not identity then
                shapes[p] <- graph.Shapes[i]
                args[p] <- Array.map (fun j -> position[j]) ancestors[i]
        { Ids = ids; Ops = ops; Shapes = shapes; Values = values; Args = args; Output = position[graph.IndexOf graph.Output] }

    /// Stage 2: counted, then filled by visiting successors in plan order, slots in order.
    let edges (nodes: Nodes) : Edges =
        let args = nodes.Args
        let n = args.Length
        let start = Array.zeroCreate (n + 1)
        for p in 0 .. n - 1 do
            let a = args[p]
            for j in 0 .. a.Length - 1 do
                start[a[j] + 1] <- start[a[j] + 1] + 1
        for p in 0 .. n - 1 do
            start[p + 1] <- start[p + 1] + start[p]
        // Where the next edge into each node goes.
        let fill = Array.zeroCreate n
        System.Array.Copy(start, fill, n)
        let node = Array.zeroCreate start[n]
        let slot = Array.zeroCreate start[n]
        for p in 0 .. n - 1 do
            let a = args[p]
            for s in 0 .. a.Length - 1 do
                let e = fill[a[s]]
                node[e] <- p
                slot[e] <- s
                fill[a[s]] <- e + 1
        { Start = start; Node = node; Slot = slot }

    /// Stage 3: reachability of z_n backwards, and from the inputs and parameters forwards.
    let needs (nodes: Nodes) : Needs =
        let args = nodes.Args
        let n = args.Length
        let reachesOutput = Array.zeroCreate n
        reachesOutput[nodes.Output] <- true
        for p in n - 1 .. -1 .. 0 do
            if reachesOutput[p] then
                let a = args[p]
                for j in 0 .. a.Length - 1 do
                    reachesOutput[a[j]] <- true
        let needsInputs = Array.zeroCreate n
        let reached = Array.zeroCreate n
        for p in 0 .. n - 1 do
            let kind = nodes.Ops[p].Kind
            let mutable r = kind = OpKind.Input || kind = OpKind.Parameter
            let a = args[p]
            for j in 0 .. a.Length - 1 do
                if reached[a[j]] then r <- true
            reached[p] <- r
            needsInputs[p] <- r && reachesOutput[p]
        { All = reachesOutput; InputsAndParameters = needsInputs }

    /// Stage 4: what the catalogue says of each op (Op.Kernel) decides how a node is evaluated.
    let fastPath (nodes: Nodes) : FastPath =
        let n = nodes.Ids.Length
        let kinds = Array.zeroCreate n
        let kernels = Array.zeroCreate n
        let arg0 = Array.zeroCreate n
        let arg1 = Array.zeroCreate n
        let scalar = Array.zeroCreate n
        let mutable allScalar = true
        let mutable anyScalar = false
        for p in 0 .. n - 1 do
            let op = nodes.Ops[p]
            let a = nodes.Args[p]
            arg0[p] <- if a.Length > 0 then a[0] else -1
            arg1[p] <- if a.Length > 1 then a[1] elif a.Length = 1 then n + (p &&& (FastPath.Spares - 1)) else -1
            let isScalar = nodes.Shapes[p].IsScalar
            scalar[p] <- isScalar
            let kind =
                if op.Kind <> OpKind.Compute then NodeKind.Leaf
                elif op.IsElementwise && isScalar then NodeKind.Scalar
                else NodeKind.Tensor
            kinds[p] <- kind
            if kind = NodeKind.Scalar then
                kernels[p] <- op.Kernel
                anyScalar <- true
            if not isScalar || kind = NodeKind.Tensor then allScalar <- false
        { Kinds = kinds; Kernels = kernels; Arg0 = arg0; Arg1 = arg1; IsScalar = scalar; AllScalar = allScalar; AnyScalar = anyScalar }

    /// Which buffers an evaluation that only computes the adjoints of inputs and parameters may share.
    /// A computed node of more than one element that is not the output and whose value no VJP reads
    /// ("transient") takes a buffer from a pool when it is computed and gives it back after its last
    /// successor has read it; the adjoints of such nodes then take the transients' buffers, which nothing
    /// reads after the forward pass.
    let sharedBuffers (nodes: Nodes) (edges: Edges) (needs: Needs) (fast: FastPath) =
        let n = nodes.Ids.Length
        let shapes = nodes.Shapes
        let ops = nodes.Ops
        let args = nodes.Args
        let needs = needs.InputsAndParameters
        let count p = shapes[p].Count
        // A value is read after the forward pass by a VJP that reads its arguments, or by its own VJP.
        let transient = Array.zeroCreate<bool> n
        let lastUse = Array.init n id
        for p in 0 .. n - 1 do
            if fast.Kinds[p] = NodeKind.Tensor && not shapes[p].IsScalar && p <> nodes.Output then
                let mutable read = needs[p] && ops[p].VjpReadsOutput
                for e in edges.Start[p] .. edges.Start[p + 1] - 1 do
                    let i = edges.Node[e]
                    if needs[i] && ops[i].VjpReadsArgs then read <- true
                    lastUse[p] <- max lastUse[p] i
                transient[p] <- not read
        let valueBuffer = Array.create n -1
        let sizes = ResizeArray<int>()
        let free = Dictionary<int, Stack<int>>()
        let release b =
            match free.TryGetValue sizes[b] with
            | true, s -> s.Push b
            | _ ->
                let s = Stack<int>()
                s.Push b
                free[sizes[b]] <- s
        for p in 0 .. n - 1 do
            if transient[p] then
                valueBuffer[p] <-
                    match free.TryGetValue(count p) with
                    | true, s when s.Count > 0 -> s.Pop()
                    | _ ->
                        sizes.Add(count p)
                        sizes.Count - 1
            let a = args[p]
            for j in 0 .. a.Length - 1 do
                // An argument repeated (x ⊙ x) is released once.
                if transient[a[j]] && lastUse[a[j]] = p && System.Array.IndexOf(a, a[j]) = j then release valueBuffer[a[j]]
            if transient[p] && lastUse[p] = p then release valueBuffer[p]
        // After the forward pass every pool buffer is free: adjoints take them, one each.
        let bySize = Dictionary<int, Stack<int>>()
        for b in sizes.Count - 1 .. -1 .. 0 do
            match bySize.TryGetValue sizes[b] with
            | true, s -> s.Push b
            | _ ->
                let s = Stack<int>()
                s.Push b
                bySize[sizes[b]] <- s
        let adjointBuffer = Array.create n -1
        for p in n - 1 .. -1 .. 0 do
            if needs[p] && not shapes[p].IsScalar then
                match bySize.TryGetValue(count p) with
                | true, s when s.Count > 0 -> adjointBuffer[p] <- s.Pop()
                | _ -> ()
        SharedBuffers(valueBuffer, adjointBuffer, sizes.ToArray())

/// The compiled form of a graph: its stages, made once by `Plan.Compile` and evaluated many times.
[<ReferenceEquality>]
type Plan =
    internal
        { Source: Graph
          Nodes: Nodes
          Edges: Edges
          NeedsOf: Needs
          Fast: FastPath
          // Built on first use: evaluating a plan by position needs neither.
          Index: System.Lazy<Dictionary<string, int>>
          SharedOf: System.Lazy<SharedBuffers> }

    member p.Graph = p.Source
    member p.Count = p.Nodes.Ids.Length
    member p.Ids: IReadOnlyList<string> = p.Nodes.Ids
    /// Plan position of the output z_n.
    member p.Output = p.Nodes.Output

    member p.Op(i: int) = p.Nodes.Ops[i]
    member p.Shape(i: int) = p.Nodes.Shapes[i]
    /// Plan positions of node i's ancestors, in argument order.
    member p.Ancestors(i: int): IReadOnlyList<int> = p.Nodes.Args[i]

    /// The successor edges (successor position, argument slot) of node i, in summation order.
    member p.Successors(i: int): IReadOnlyList<struct (int * int)> =
        let e = p.Edges
        [| for k in e.Start[i] .. e.Start[i + 1] - 1 -> struct (e.Node[k], e.Slot[k]) |]

    /// The plan position of a node id.
    member p.IndexOf(id: string) =
        match p.Index.Value.TryGetValue id with
        | true, i -> i
        | _ -> raise (KeyNotFoundException $"no node '{id}' in the graph")

    member p.TryIndexOf(id: string, [<System.Runtime.InteropServices.Out>] i: byref<int>) = p.Index.Value.TryGetValue(id, &i)

    /// Whether the backward pass computes λ_i in this mode: i must reach z_n, and in
    /// InputsAndParameters mode it must also be reached from an input or parameter.
    member p.NeedsAdjoint(mode: Adjoints, i: int) =
        if mode = Adjoints.All then p.NeedsOf.All[i] else p.NeedsOf.InputsAndParameters[i]

    /// NeedsAdjoint(mode, i) for every i.
    member internal p.NeedsMask(mode: Adjoints) =
        if mode = Adjoints.All then p.NeedsOf.All else p.NeedsOf.InputsAndParameters

    /// The buffers an InputsAndParameters evaluation shares (computed on first use).
    member internal p.Shared = p.SharedOf.Value

    /// Compiles a validated graph, stage by stage.
    static member Compile(graph: Graph) : Plan =
        let nodes = PlanStages.nodes graph
        let edges = PlanStages.edges nodes
        let needs = PlanStages.needs nodes
        let fast = PlanStages.fastPath nodes
        let index =
            lazy
                (let d = Dictionary<string, int>(nodes.Ids.Length)
                 for i in 0 .. nodes.Ids.Length - 1 do
                     d[nodes.Ids[i]] <- i
                 d)
        let shared =
            lazy
                (if fast.AllScalar then
                     // Nothing is pooled; the evaluation reads these arrays only at larger nodes.
                     SharedBuffers([||], [||], [||])
                 else PlanStages.sharedBuffers nodes edges needs fast)
        { Source = graph; Nodes = nodes; Edges = edges; NeedsOf = needs; Fast = fast; Index = index; SharedOf = shared }
