/// A graph compiled once for evaluation: topological order, ancestor and successor index arrays.
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

    /// A 1×1 node whose op has scalar kernels (so its arguments are 1×1 too): computed unboxed.
    [<Literal>]
    let Scalar = 1uy

    /// Anything else: computed through Op.Forward and Op.Vjp on tensors.
    [<Literal>]
    let Tensor = 2uy

/// A node's NodeKind refined by its op: a NodeKind.Scalar node whose op is one of the element-wise ops
/// gets that op's code, and the passes call its scalar kernels directly. One switch on this byte per node
/// is the only data-dependent branch a scalar node costs: on a large graph with the ops in random order
/// the branch predictor cannot learn the sequence, and each further branch on the op (a virtual call,
/// tests of what the VJP reads, of the argument slot) would mispredict too.
module internal ScalarCode =
    open Adjoint.Ops.Elementwise

    // 0–2 are NodeKind's: a leaf, a 1×1 node with another op's scalar kernels (a virtual call), a tensor node.
    [<Literal>]
    let Add = 3uy

    [<Literal>]
    let Sub = 4uy

    [<Literal>]
    let Mul = 5uy

    [<Literal>]
    let Div = 6uy

    [<Literal>]
    let Neg = 7uy

    [<Literal>]
    let Scale = 8uy

    [<Literal>]
    let Square = 9uy

    [<Literal>]
    let Sigmoid = 10uy

    [<Literal>]
    let Tanh = 11uy

    [<Literal>]
    let Relu = 12uy

    [<Literal>]
    let Exp = 13uy

    [<Literal>]
    let Log = 14uy

    [<Literal>]
    let Sin = 15uy

    [<Literal>]
    let Cos = 16uy

    let ofNode (kind: byte) (op: Op) =
        if kind <> NodeKind.Scalar then kind
        else
            match op with
            | :? Add -> Add
            | :? Sub -> Sub
            | :? Mul -> Mul
            | :? Div -> Div
            | :? Neg -> Neg
            | :? Scale -> Scale
            | :? Square -> Square
            | :? Sigmoid -> Sigmoid
            | :? Tanh -> Tanh
            | :? Relu -> Relu
            | :? Exp -> Exp
            | :? Log -> Log
            | :? Sin -> Sin
            | :? Cos -> Cos
            | _ -> kind

/// Which buffers an evaluation that only computes the adjoints of inputs and parameters may share.
/// A computed, non-1×1 node that is not the output and whose value no VJP reads ("transient") takes a
/// buffer from a pool when it is computed and gives it back after its last successor has read it; the
/// adjoints of non-1×1 nodes then take the transients' buffers, which nothing reads after the forward pass.
[<Sealed>]
type internal SharedBuffers(valueBuffer: int[], adjointBuffer: int[], sizes: int[]) =
    /// Pool buffer of each node's value, or −1 when the node keeps its own.
    member _.ValueBuffer = valueBuffer
    /// Pool buffer of each node's adjoint, or −1 when it gets its own.
    member _.AdjointBuffer = adjointBuffer
    /// Element count of every pool buffer.
    member _.Sizes = sizes

/// The compiled form of a graph. Position p in plan order is the p-th node of the graph's
/// topological order; all arrays are indexed by p.
///
/// Successors of each node are kept as edges (successor, argument slot) sorted by the successor's
/// plan position and then by slot. That is the fixed order in which every adjoint is summed,
/// λ_j = ((t₁ + t₂) + t₃) + …, here and in the distributed engine, so that both give the same bits.
[<Sealed>]
type Plan private (graph: Graph, ids: string[], ops: Op[], shapes: Shape[], values: Tensor option[], args: int[][],
                   successorStart: int[], successorNode: int[], successorSlot: int[], output: int,
                   needsAll: bool[], needsInputs: bool[], kinds: byte[], arg0: int[], arg1: int[],
                   argStart: int[], argEdge: int[], edge0: int[], edge1: int[], codes: byte[], scalar: bool[],
                   vjpFetch: int[], savesOperands: bool, partial: bool[], anyPartial: bool, anyTensor: bool) =
    let mutable index: Dictionary<string, int> = null
    let indexOf () =
        // Built on first use: evaluating a plan by position needs no ids.
        if isNull index then
            let d = Dictionary<string, int>(ids.Length)
            for p in 0 .. ids.Length - 1 do
                d[ids[p]] <- p
            index <- d
        index

    // Which buffers an InputsAndParameters evaluation shares (SharedBuffers), for a plan with non-1×1 nodes.
    let pool () =
            (let n = ids.Length
             let needs = needsInputs
             let count p = shapes[p].Count
             // A value is read after the forward pass by a VJP that reads its arguments, or by its own VJP.
             let transient = Array.zeroCreate<bool> n
             let lastUse = Array.init n id
             for p in 0 .. n - 1 do
                 if kinds[p] = NodeKind.Tensor && not shapes[p].IsScalar && p <> output then
                     let mutable read = needs[p] && ops[p].VjpReadsOutput
                     for e in successorStart[p] .. successorStart[p + 1] - 1 do
                         let i = successorNode[e]
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
                     | true, s when s.Count > 0 ->
                         adjointBuffer[p] <- s.Pop()
                     | _ -> ()
             SharedBuffers(valueBuffer, adjointBuffer, sizes.ToArray()))

    let shared =
        lazy
            (if anyTensor then pool ()
             // Every node is 1×1: nothing is pooled. The evaluation reads these arrays only at non-1×1
             // nodes, so empty ones serve, and a graph of 1×1 nodes makes no n-sized arrays for them.
             else SharedBuffers([||], [||], [||]))

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
    /// How each node is evaluated (NodeKind).
    member internal _.Kinds = kinds
    /// First and second argument of each node (the first again for a unary op; −1 for a leaf).
    member internal _.Arg0 = arg0
    member internal _.Arg1 = arg1
    /// Whether each node is 1×1.
    member internal _.IsScalar = scalar
    /// Whether every node is 1×1 and computed (if at all) by scalar kernels: then an evaluation needs no
    /// tensor per node.
    member internal _.AllScalar = not anyTensor
    /// For each node and argument slot, the successor edge that the slot is in its argument's list: where
    /// the backward pass puts the VJP term of that slot for the argument to sum. Slot j of node p is at
    /// ArgEdge[ArgStart[p] + j]: one flat array rather than one small array per node.
    member internal _.ArgStart = argStart
    member internal _.ArgEdge = argEdge
    /// ArgEdges of slots 0 and 1 of every node (slot 1 of a unary op, and both of a leaf, point at the
    /// spare term past the last edge, which nothing sums).
    member internal _.Edge0 = edge0
    member internal _.Edge1 = edge1
    /// How the passes evaluate each node (ScalarCode).
    member internal _.Codes = codes
    /// For each 1×1 node whose VJP reads its arguments, its first argument (the backward pass reads that
    /// value there and fetches it ahead); the node itself for the others.
    member internal _.VjpFetch = vjpFetch
    /// Whether some node's op is one of the binary element-wise ops, its VJP reads its arguments and it has
    /// no partial: then the forward pass saves each such node's second argument in node order (see
    /// Direct.forward).
    member internal _.SavesOperands = savesOperands
    /// Whether each node is computed through Direct by an op with partials (ElementwiseOp.HasPartial):
    /// the forward pass stores them, and the backward pass only multiplies.
    member internal _.Partial = partial
    /// Whether any node is.
    member internal _.AnyPartial = anyPartial
    /// NeedsAdjoint(mode, p) for every p, as one array per mode.
    member internal _.NeedsMask(mode: Adjoints) = if mode = Adjoints.All then needsAll else needsInputs
    /// The buffers an InputsAndParameters evaluation shares (computed on first use).
    member internal _.Shared = shared.Value
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
        match indexOf().TryGetValue id with
        | true, p -> p
        | _ -> raise (KeyNotFoundException $"no node '{id}' in the graph")

    member _.TryIndexOf(id: string, [<System.Runtime.InteropServices.Out>] p: byref<int>) = indexOf().TryGetValue(id, &p)

    /// Whether the backward pass computes λ_p in this mode: p must reach z_n, and in
    /// InputsAndParameters mode it must also be reached from an input or parameter.
    member _.NeedsAdjoint(mode: Adjoints, p: int) =
        if mode = Adjoints.All then needsAll[p] else needsInputs[p]

    /// Compiles a validated graph.
    ///
    /// One pass per quantity over plain arrays: on a graph of 10⁴–10⁶ small nodes compiling costs as much
    /// as evaluating, so nothing here goes through an interface, a closure or a per-node allocation.
    static member Compile(graph: Graph) =
        let order = graph.Order
        let n = order.Length
        // A graph declared in topological order (every builder's) keeps its ancestor arrays and shapes as
        // they are, and needs no position map.
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
        let nodes = graph.NodeArray
        let ancestors = graph.AncestorIndices
        let graphShapes = graph.Shapes
        let ids = Array.zeroCreate n
        let ops = Array.zeroCreate n
        let shapes = if identity then graphShapes else Array.zeroCreate n
        let values = Array.zeroCreate n
        let args = if identity then ancestors else Array.zeroCreate n
        let kinds = Array.zeroCreate n
        let codes = Array.zeroCreate n
        let scalar = Array.zeroCreate n
        let arg0 = Array.zeroCreate n
        let arg1 = Array.zeroCreate n
        let vjpFetch = Array.zeroCreate n
        let mutable savesOperands = false
        let partial = Array.zeroCreate n
        let mutable anyPartial = false
        let argStart = Array.zeroCreate (n + 1)
        let mutable anyTensor = false
        for p in 0 .. n - 1 do
            let i = order[p]
            let node = nodes[i]
            let op = node.Op
            ids[p] <- node.Id
            ops[p] <- op
            let shape = graphShapes[i]
            if not identity then
                shapes[p] <- shape
                args[p] <- Array.map (fun j -> position[j]) ancestors[i]
            values[p] <- node.Value
            let a = args[p]
            let a0 = if a.Length > 0 then a[0] else -1
            let a1 = if a.Length > 1 then a[1] else a0
            arg0[p] <- a0
            arg1[p] <- a1
            argStart[p + 1] <- argStart[p] + a.Length
            let isScalar = shape.IsScalar
            scalar[p] <- isScalar
            let kind =
                if op.Kind <> OpKind.Compute then NodeKind.Leaf
                elif op.HasScalarKernel && op.Arity <= 2 && isScalar then NodeKind.Scalar
                else NodeKind.Tensor
            if not isScalar || kind = NodeKind.Tensor then anyTensor <- true
            kinds[p] <- kind
            let code = ScalarCode.ofNode kind op
            codes[p] <- code
            let hasPartial =
                code >= ScalarCode.Add
                && (match op with
                    | :? Ops.Elementwise.ElementwiseOp as e -> e.HasPartial
                    | _ -> false)
            partial[p] <- hasPartial
            if hasPartial then anyPartial <- true
            elif code >= ScalarCode.Add && a.Length = 2 && op.VjpReadsArgs then savesOperands <- true
            vjpFetch[p] <- if a.Length > 0 && op.VjpReadsArgs && not hasPartial then a0 else p
        // Successor edges in CSR form, filled by visiting successors in plan order, slots in order.
        let successorStart = Array.zeroCreate (n + 1)
        for p in 0 .. n - 1 do
            let a = args[p]
            for j in 0 .. a.Length - 1 do
                successorStart[a[j] + 1] <- successorStart[a[j] + 1] + 1
        for p in 0 .. n - 1 do
            successorStart[p + 1] <- successorStart[p + 1] + successorStart[p]
        let edges = successorStart[n]
        // Where the next edge into each node goes: successorStart shifted by one, built in place of a copy.
        let fill = Array.zeroCreate n
        System.Array.Copy(successorStart, fill, n)
        let successorNode = Array.zeroCreate edges
        let successorSlot = Array.zeroCreate edges
        // The edge each argument slot lands in (ArgEdge), and the first two of them per node.
        let argEdge = Array.zeroCreate edges
        let edge0 = Array.zeroCreate n
        let edge1 = Array.zeroCreate n
        for p in 0 .. n - 1 do
            let a = args[p]
            let start = argStart[p]
            for slot in 0 .. a.Length - 1 do
                let e = fill[a[slot]]
                successorNode[e] <- p
                successorSlot[e] <- slot
                argEdge[start + slot] <- e
                fill[a[slot]] <- e + 1
            edge0[p] <- if a.Length > 0 then argEdge[start] else edges
            edge1[p] <- if a.Length > 1 then argEdge[start + 1] else edges
        let output = position[graph.IndexOf graph.Output]
        let reachesOutput = Array.zeroCreate n
        reachesOutput[output] <- true
        for p in n - 1 .. -1 .. 0 do
            if reachesOutput[p] then
                let a = args[p]
                for j in 0 .. a.Length - 1 do
                    reachesOutput[a[j]] <- true
        let needsInputs = Array.zeroCreate n
        let reachedFromLeaves = Array.zeroCreate n
        for p in 0 .. n - 1 do
            let kind = ops[p].Kind
            let mutable reached = kind = OpKind.Input || kind = OpKind.Parameter
            let a = args[p]
            for j in 0 .. a.Length - 1 do
                if reachedFromLeaves[a[j]] then reached <- true
            reachedFromLeaves[p] <- reached
            needsInputs[p] <- reached && reachesOutput[p]
        Plan(graph, ids, ops, shapes, values, args, successorStart, successorNode, successorSlot, output,
             reachesOutput, needsInputs, kinds, arg0, arg1, argStart, argEdge, edge0, edge1, codes, scalar,
             vjpFetch, savesOperands, partial, anyPartial, anyTensor)
