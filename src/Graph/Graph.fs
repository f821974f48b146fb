/// The computation graph G = (V, E): nodes z_i = f_i(z_α(i)), validated once on construction.
namespace Adjoint

open System
open System.Collections.Generic

/// One node: its id, op, ancestors α(i) in argument order, and — for leaves — a stored value
/// (required for parameters and constants, a default for inputs).
[<CustomEquality; NoComparison>]
type Node =
    { Id: string
      Op: Op
      Ancestors: string[]
      Value: Tensor option }

    override n.Equals(o: obj) =
        match o with
        | :? Node as m ->
            n.Id = m.Id
            && n.Op.Name = m.Op.Name
            && n.Op.Kind = m.Op.Kind
            && (n.Op.Kind = OpKind.Compute || n.Op.Shape [||] = m.Op.Shape [||])
            // A leaf's declared element type (a computed node's follows from its op and ancestors).
            && (n.Op.Kind = OpKind.Compute || n.Op.ElementType [||] = m.Op.ElementType [||])
            && n.Op.Attributes.Count = m.Op.Attributes.Count
            && Seq.forall2 (fun (a: KeyValuePair<string, OpAttribute>) (b: KeyValuePair<string, OpAttribute>) -> a.Key = b.Key && a.Value.Equals b.Value)
                (n.Op.Attributes |> Seq.sortBy _.Key) (m.Op.Attributes |> Seq.sortBy _.Key)
            && n.Ancestors = m.Ancestors
            && (match n.Value, m.Value with
                | Some a, Some b -> Tensor.BitwiseEqual(a, b)
                | None, None -> true
                | _ -> false)
        | _ -> false

    override n.GetHashCode() = HashCode.Combine(n.Id, n.Op.Name)

/// Caps that keep one bad graph from exhausting a process: a huge declared dimension must be a clear
/// error at validation, not an out-of-memory failure at evaluation.
type Limits =
    { /// Most nodes in one graph.
      MaxNodes: int
      /// Most elements (the product of the dimensions) in any one node's value.
      MaxTensorElements: int64 }

    /// 10⁷ nodes; 2²⁷ elements (1 GiB of doubles) per tensor.
    static member Default = { MaxNodes = 10_000_000; MaxTensorElements = 1L <<< 27 }

/// Everything that can be wrong with a graph, each naming the node at fault.
type GraphError =
    | DuplicateId of node: string
    | UnknownAncestor of node: string * ancestor: string
    | WrongArity of node: string * op: string * expected: string * actual: int
    | Cycle of nodes: string list
    | ShapeMismatch of node: string * op: string * detail: string
    | MissingValue of node: string * op: string
    | ValueShape of node: string * declared: Shape * actual: Shape
    | UnknownOp of node: string * detail: string
    | MissingOutput of output: string
    | NonScalarOutput of output: string * shape: Shape
    | EmptyGraph
    | TooManyNodes of count: int * limit: int
    | TensorTooLarge of node: string * shape: Shape * limit: int64
    | BadShape of node: string * shape: Shape
    | TypeMismatch of node: string * op: string * detail: string
    | ValueType of node: string * elementType: ElementType * index: int * value: double

    member e.Message =
        match e with
        | DuplicateId n -> $"duplicate node id '{n}'"
        | UnknownAncestor(n, a) -> $"node '{n}': unknown ancestor '{a}'"
        | WrongArity(n, op, expected, actual) -> $"node '{n}': op '{op}' takes {expected} ancestors, got {actual}"
        | Cycle nodes -> $"""cycle: {String.Join(" -> ", nodes)}"""
        | ShapeMismatch(n, op, detail) -> $"node '{n}': shape mismatch in op '{op}': {detail}"
        | MissingValue(n, op) -> $"node '{n}': a {op} needs a value"
        | ValueShape(n, declared, actual) -> $"node '{n}': value of shape {actual} does not match the declared shape {declared}"
        | UnknownOp(n, detail) -> $"node '{n}': {detail}"
        | MissingOutput o -> $"output '{o}' is not a node of the graph"
        | NonScalarOutput(o, s) -> $"gradient asked of output '{o}' of shape {s}; it must hold one element (a scalar)"
        | EmptyGraph -> "the graph has no nodes"
        | TooManyNodes(count, limit) -> $"the graph has {count} nodes, more than the limit of {limit}"
        | TensorTooLarge(n, s, limit) -> $"node '{n}': a value of shape {s} has more than the limit of {limit} elements"
        | BadShape(n, s) -> $"node '{n}': dimensions must be positive, got shape {s}"
        | TypeMismatch(n, op, detail) -> $"node '{n}': element type mismatch in op '{op}': {detail}"
        | ValueType(n, t, k, v) ->
            let article = if t = ElementType.Int64 then "an" else "a"
            $"node '{n}': {article} {ElementType.name t} value must hold {ElementType.expectation t} in every element, got {v:R} at flat index {k}"

/// Raised when a graph or a request on it is invalid; `Error` says what and where.
exception GraphException of GraphError with
    override e.Message = e.Data0.Message

/// A validated, immutable DAG with one chosen output z_n.
[<Sealed>]
type Graph private (nodes: Node[], output: string, index: Dictionary<string, int>, order: int[], shapes: Shape[],
                    types: ElementType[], ancestors: int[][]) =

    /// The nodes in the order they were declared.
    member _.Nodes: IReadOnlyList<Node> = nodes
    /// The same nodes as an array: Plan.Compile reads every one, and a call through the interface per node
    /// is a fair part of its cost on a large graph.
    member internal _.NodeArray = nodes
    /// The id of the output node z_n.
    member _.Output = output
    member _.Count = nodes.Length
    /// Declaration indices in a topological order: declaration order itself when it already is one.
    member internal _.Order = order
    /// The shape of every node, by declaration index.
    member internal _.Shapes = shapes
    /// The element type of every node, by declaration index.
    member internal _.Types = types
    /// The declaration indices of every node's ancestors, in argument order.
    member internal _.AncestorIndices = ancestors

    member _.Contains(id: string) = index.ContainsKey id
    member _.IndexOf(id: string) =
        match index.TryGetValue id with
        | true, i -> i
        | _ -> raise (KeyNotFoundException $"no node '{id}' in the graph")
    member g.Node(id: string) = nodes[g.IndexOf id]
    member g.ShapeOf(id: string) = shapes[g.IndexOf id]
    /// The element type of a node's value: declared for leaves, inferred for the others.
    member g.ElementTypeOf(id: string) = types[g.IndexOf id]

    /// The same nodes with another output.
    member _.WithOutput(newOutput: string) =
        if not (index.ContainsKey newOutput) then raise (GraphException(MissingOutput newOutput))
        Graph(nodes, newOutput, index, order, shapes, types, ancestors)

    /// Same nodes (id, op, attributes, ancestors, values bit for bit) in the same order, same output.
    override _.Equals(o: obj) =
        match o with
        | :? Graph as g -> output = g.Output && nodes.Length = g.Count && Seq.forall2 (=) nodes g.Nodes
        | _ -> false

    override _.GetHashCode() = HashCode.Combine(output, nodes.Length)

    /// Validates the nodes and builds the graph, or says what is wrong.
    static member TryCreate(nodes: Node seq, output: string, limits: Limits) : Result<Graph, GraphError> =
        let nodes = Array.ofSeq nodes
        let index = Dictionary<string, int>(nodes.Length)
        let fail e = raise (GraphException e)
        try
            if nodes.Length = 0 then fail EmptyGraph
            if nodes.Length > limits.MaxNodes then fail (TooManyNodes(nodes.Length, limits.MaxNodes))
            for i in 0 .. nodes.Length - 1 do
                if not (index.TryAdd(nodes[i].Id, i)) then fail (DuplicateId nodes[i].Id)
            // Ancestor ids resolved once; arity checked against the op.
            let ancestorsOf =
                nodes
                |> Array.map (fun n ->
                    if not (n.Op.AcceptsArity n.Ancestors.Length) then
                        fail (WrongArity(n.Id, n.Op.Name, n.Op.ArityText, n.Ancestors.Length))
                    n.Ancestors
                    |> Array.map (fun a ->
                        match index.TryGetValue a with
                        | true, j -> j
                        | _ -> fail (UnknownAncestor(n.Id, a))))
            let order = Graph.TopologicalOrder(nodes, ancestorsOf) |> Result.defaultWith (Cycle >> fail)
            let shapes = Array.zeroCreate nodes.Length
            let types = Array.zeroCreate nodes.Length
            for i in order do
                let n = nodes[i]
                match n.Op.Shape(ancestorsOf[i] |> Array.map (fun j -> shapes[j])) with
                | Ok s when Shape.HasEmptyDimension s -> fail (BadShape(n.Id, s))
                | Ok s when s.LongCount > limits.MaxTensorElements ->
                    fail (TensorTooLarge(n.Id, s, limits.MaxTensorElements))
                | Ok s -> shapes[i] <- s
                | Error detail -> fail (ShapeMismatch(n.Id, n.Op.Name, detail))
                match n.Op.ElementType(ancestorsOf[i] |> Array.map (fun j -> types[j])) with
                | Ok t -> types[i] <- t
                | Error detail -> fail (TypeMismatch(n.Id, n.Op.Name, detail))
                match n.Op.Kind, n.Value with
                | (OpKind.Parameter | OpKind.Constant), None -> fail (MissingValue(n.Id, n.Op.Name))
                | _, Some v when v.Shape <> shapes[i] -> fail (ValueShape(n.Id, shapes[i], v.Shape))
                | _, Some v ->
                    match ElementType.firstInvalid types[i] v.Data with
                    | -1 -> ()
                    | k -> fail (ValueType(n.Id, types[i], k, v.Data[k]))
                | _ -> ()
            if not (index.ContainsKey output) then fail (MissingOutput output)
            Ok(Graph(nodes, output, index, order, shapes, types, ancestorsOf))
        with GraphException e ->
            Error e

    /// Validates the nodes within the default limits and builds the graph, or says what is wrong.
    static member TryCreate(nodes: Node seq, output: string) = Graph.TryCreate(nodes, output, Limits.Default)

    /// A graph from a builder that has already checked every node as it was added (ids, arities, shapes,
    /// values) and resolved its ancestors; declaration order is topological by construction.
    static member internal OfChecked(nodes: Node[], output: string, index: Dictionary<string, int>, ancestors: int[][],
                                     shapes: Shape[], types: ElementType[]) =
        if not (index.ContainsKey output) then raise (GraphException(MissingOutput output))
        Graph(nodes, output, index, Array.init nodes.Length id, shapes, types, ancestors)

    /// Validates the nodes and builds the graph; raises GraphException naming the node at fault.
    static member Create(nodes: Node seq, output: string, limits: Limits) =
        match Graph.TryCreate(nodes, output, limits) with
        | Ok g -> g
        | Error e -> raise (GraphException e)

    /// Validates the nodes within the default limits and builds the graph; raises GraphException.
    static member Create(nodes: Node seq, output: string) =
        match Graph.TryCreate(nodes, output) with
        | Ok g -> g
        | Error e -> raise (GraphException e)

    /// Depth-first post-order over ancestors, roots taken in declaration order, so that a graph declared
    /// in a topological order keeps it. Iterative: graphs of 10⁶ nodes must not overflow the stack.
    /// On a cycle, returns the ids on it in edge order.
    static member private TopologicalOrder(nodes: Node[], ancestorsOf: int[][]) : Result<int[], string list> =
        let n = nodes.Length
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let state = Array.zeroCreate<byte> n
        let order = ResizeArray<int>(n)
        let stack = Stack<struct (int * int)>()
        let mutable cycle = None
        let mutable root = 0
        while cycle.IsNone && root < n do
            if state[root] = 0uy then
                state[root] <- 1uy
                stack.Push(struct (root, 0))
                while cycle.IsNone && stack.Count > 0 do
                    let struct (i, next) = stack.Pop()
                    if next < ancestorsOf[i].Length then
                        stack.Push(struct (i, next + 1))
                        let j = ancestorsOf[i][next]
                        match state[j] with
                        | 0uy ->
                            state[j] <- 1uy
                            stack.Push(struct (j, 0))
                        | 1uy ->
                            // The path from j down to i, then back to j: in edge (ancestor → successor) order.
                            let path = stack |> Seq.map (fun struct (k, _) -> k) |> Seq.takeWhile (fun k -> k <> j) |> List.ofSeq
                            cycle <- Some(j :: path |> List.map (fun k -> nodes[k].Id) |> fun ids -> ids @ [ nodes[j].Id ])
                        | _ -> ()
                    else
                        state[i] <- 2uy
                        order.Add i
            root <- root + 1
        match cycle with
        | Some ids -> Error ids
        | None -> Ok(order.ToArray())
