/// Building graphs in code, from F# or C#: every public signature here takes and returns plain .NET
/// types (no F# lists, options or tuples), so a C# user never meets an F# type.
namespace Adjoint

open System.Collections.Generic
open System.Runtime.InteropServices

/// A node already added to a builder: its id, the shape of its value, and the builder that holds it,
/// so that `x * w + b` and `-x` add nodes to that builder.
[<Struct>]
type NodeRef =
    { Id: string
      Shape: Shape
      /// The builder the node was added to (null for a reference made by hand).
      Builder: GraphBuilder }

    override r.ToString() = $"{r.Id} ({r.Shape})"

    member private r.Owner =
        if isNull (box r.Builder) then invalidOp $"node '{r.Id}' was not made by a GraphBuilder, so operators cannot add to one"
        r.Builder

    /// a + b (broadcasting).
    static member (+)(a: NodeRef, b: NodeRef) = a.Owner.Add(a, b)
    /// a − b (broadcasting).
    static member (-)(a: NodeRef, b: NodeRef) = a.Owner.Sub(a, b)
    /// a ⊙ b (element-wise, broadcasting).
    static member (*)(a: NodeRef, b: NodeRef) = a.Owner.Mul(a, b)
    /// a ⊘ b (element-wise, broadcasting).
    static member (/)(a: NodeRef, b: NodeRef) = a.Owner.Div(a, b)
    /// −x.
    static member (~-)(x: NodeRef) = x.Owner.Neg x
    /// c·x.
    static member (*)(x: NodeRef, c: double) = x.Owner.Scale(x, c)
    /// c·x.
    static member (*)(c: double, x: NodeRef) = x.Owner.Scale(x, c)
    /// x + c, c a rank-0 constant.
    static member (+)(x: NodeRef, c: double) = x.Owner.Add(x, x.Owner.Constant c)
    /// c + x, c a rank-0 constant.
    static member (+)(c: double, x: NodeRef) = x.Owner.Add(x.Owner.Constant c, x)
    /// x − c, c a rank-0 constant.
    static member (-)(x: NodeRef, c: double) = x.Owner.Sub(x, x.Owner.Constant c)
    /// c − x, c a rank-0 constant.
    static member (-)(c: double, x: NodeRef) = x.Owner.Sub(x.Owner.Constant c, x)
    /// x ⊘ c, c a rank-0 constant.
    static member (/)(x: NodeRef, c: double) = x.Owner.Div(x, x.Owner.Constant c)
    /// c ⊘ x, c a rank-0 constant.
    static member (/)(c: double, x: NodeRef) = x.Owner.Div(x.Owner.Constant c, x)

/// Adds nodes one at a time, checking each op's arity and shape rule as it is added (so the error
/// points at the line that made it), then builds the validated graph.
///
/// Ids are optional: an unnamed node gets its op name and a counter ("matmul3"). The limits (default:
/// Limits.Default) are checked as nodes are added, like every other rule.
and [<Sealed; AllowNullLiteral>] GraphBuilder(limits: Limits) as this =
    let nodes = ResizeArray<Node>()
    // Declaration index of every id, and by index: shape and resolved ancestors, handed to the graph so
    // that it need not check or resolve them again (graphs of 10⁶ nodes are built this way).
    let mutable index = Dictionary<string, int>()
    // Build hands `index` to the graph instead of copying it (a 10⁶-entry copy is a large-object
    // allocation that costs a full collection); the builder copies it only if it is used again.
    let mutable indexShared = false
    let shapes = ResizeArray<Shape>()
    let types = ResizeArray<ElementType>()
    let ancestors = ResizeArray<int[]>()
    // Argument shapes handed to Op.Shape, one array per arity, reused (no op keeps them).
    let shapeScratch = Array.init 4 (fun k -> Array.zeroCreate<Shape> k)
    let typeScratch = Array.init 4 (fun k -> Array.zeroCreate<ElementType> k)

    /// An unnamed node's id: its op name and its declaration index ("sin123"), made as one string
    /// (concatenating the name with the index's own string would make two).
    static let writeAutoId =
        System.Buffers.SpanAction<char, struct (string * int)>(fun span (struct (name, count)) ->
            System.MemoryExtensions.AsSpan(name).CopyTo span
            // The digits by hand, last first: invariant by construction, without a culture lookup.
            let mutable rest = count
            for i in span.Length - 1 .. -1 .. name.Length do
                span[i] <- char (int '0' + rest % 10)
                rest <- rest / 10)

    static let autoId (name: string) (count: int) =
        let mutable digits = 1
        let mutable rest = count / 10
        while rest > 0 do
            digits <- digits + 1
            rest <- rest / 10
        System.String.Create(name.Length + digits, struct (name, count), writeAutoId)

    /// The rules a node must meet to be added, in the order their errors take precedence; its shape and
    /// its ancestors as declaration indices and as ids.
    let check (id: string) (op: Op) (args: NodeRef[]) (value: Tensor option) =
        if not (op.AcceptsArity args.Length) then
            raise (GraphException(WrongArity(id, op.Name, op.ArityText, args.Length)))
        let resolved = Array.zeroCreate args.Length
        let argShapes = if args.Length < shapeScratch.Length then shapeScratch[args.Length] else Array.zeroCreate args.Length
        let argTypes = if args.Length < typeScratch.Length then typeScratch[args.Length] else Array.zeroCreate args.Length
        let argIds = Array.zeroCreate args.Length
        let last = nodes.Count - 1
        for j in 0 .. args.Length - 1 do
            let a = args[j]
            let mutable k = -1
            // The node just added is the commonest argument (a chain): its own id string, found without
            // hashing it. Any other string, even an equal one, is looked up; the node's own id is in the
            // index already, as −1.
            if last >= 0 && not (isNull a.Id) && obj.ReferenceEquals(a.Id, nodes[last].Id) then k <- last
            elif isNull a.Id || not (index.TryGetValue(a.Id, &k)) || k < 0 then
                raise (GraphException(UnknownAncestor(id, a.Id)))
            resolved[j] <- k
            argShapes[j] <- shapes[k]
            argTypes[j] <- types[k]
            argIds[j] <- a.Id
        if nodes.Count >= limits.MaxNodes then raise (GraphException(TooManyNodes(nodes.Count + 1, limits.MaxNodes)))
        let shape =
            match op.Shape argShapes with
            // Only a leaf's declared shape can be one (ops make positive shapes of positive ones).
            | Ok s when Shape.HasEmptyDimension s -> raise (GraphException(BadShape(id, s)))
            | Ok s when s.LongCount > limits.MaxTensorElements ->
                raise (GraphException(TensorTooLarge(id, s, limits.MaxTensorElements)))
            | Ok s -> s
            | Error detail -> raise (GraphException(ShapeMismatch(id, op.Name, detail)))
        let elementType =
            match op.ElementType argTypes with
            | Ok t -> t
            | Error detail -> raise (GraphException(TypeMismatch(id, op.Name, detail)))
        match value with
        | Some v when v.Shape <> shape -> raise (GraphException(ValueShape(id, shape, v.Shape)))
        | Some v ->
            match ElementType.firstInvalid elementType v.Data with
            | -1 -> ()
            | k -> raise (GraphException(ValueType(id, elementType, k, v.Data[k])))
        | None -> ()
        struct (shape, elementType, resolved, argIds)

    let add (id: string) (op: Op) (args: NodeRef[]) (value: Tensor option) =
        if indexShared then
            index <- Dictionary(index)
            indexShared <- false
        let id = if isNull id then autoId op.Name nodes.Count else id
        // The id is hashed once: its entry is made here (−1 until the node is in) and removed again if
        // the node breaks a rule. Hashing it twice cost a tenth of building a chain of scalar nodes.
        let mutable exists = false
        let entry = &CollectionsMarshal.GetValueRefOrAddDefault(index, id, &exists)
        if exists then raise (GraphException(DuplicateId id))
        entry <- -1
        let struct (shape, elementType, resolved, argIds) =
            try
                check id op args value
            with _ ->
                index.Remove id |> ignore
                reraise ()
        entry <- nodes.Count
        shapes.Add shape
        types.Add elementType
        ancestors.Add resolved
        nodes.Add { Id = id; Op = op; Ancestors = argIds; Value = value }
        { Id = id; Shape = shape; Builder = this }

    let apply id (op: Op) args = add id op args None

    // The argument arrays of unary and binary ops, reused: `add` reads its arguments only while it runs,
    // and a fresh array per node is a fair part of what building a large graph allocates.
    let unary = Array.zeroCreate<NodeRef> 1
    let binary = Array.zeroCreate<NodeRef> 2

    let apply1 id (op: Op) (x: NodeRef) =
        unary[0] <- x
        add id op unary None

    let apply2 id (op: Op) (a: NodeRef) (b: NodeRef) =
        binary[0] <- a
        binary[1] <- b
        add id op binary None

    /// A leaf holding a value; a null value is the error Graph.Create gives for a missing one.
    let stored id (make: Shape -> Op) (value: Tensor) =
        if isNull value then
            let name = (make Shape.Scalar).Name
            raise (GraphException(MissingValue((if isNull id then $"{name}{nodes.Count}" else id), name)))
        add id (make value.Shape) [||] (Some value)

    /// A builder within the default limits.
    new() = GraphBuilder(Limits.Default)

    /// The number of nodes added so far.
    member _.Count = nodes.Count

    /// A rows × cols input, bound per evaluation.
    member _.Input(id: string, rows: int, cols: int) = add id (Ops.Leaf.input (Shape.Of(rows, cols))) [||] None

    /// An input of the given shape (Shape.Scalar for a scalar), bound per evaluation.
    member _.Input(id: string, shape: Shape) = add id (Ops.Leaf.input shape) [||] None

    /// An input of the given shape and element type (Int64 for class labels and indices, Bool for
    /// masks), bound per evaluation.
    member _.TypedInput(id: string, shape: Shape, elementType: ElementType) =
        add id (Ops.Leaf.inputOf shape elementType) [||] None

    /// An input with a default value, used when an evaluation does not bind it.
    member _.Input(id: string, defaultValue: Tensor) = add id (Ops.Leaf.input defaultValue.Shape) [||] (Some defaultValue)

    /// A trainable parameter with its initial value.
    member _.Parameter(id: string, value: Tensor) = stored id Ops.Leaf.parameter value

    /// A constant tensor.
    member _.Constant(id: string, value: Tensor) = stored id Ops.Leaf.constant value

    /// A constant tensor of the given element type (integer indices, a boolean mask), checked to hold
    /// values of that type.
    member _.Constant(id: string, value: Tensor, elementType: ElementType) =
        stored id (fun shape -> Ops.Leaf.constantOf shape elementType) value

    /// A constant scalar.
    member b.Constant(value: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Constant(id, Tensor.Scalar value)

    /// Any catalogue op by name, with its attributes (null when it has none):
    /// `Apply("sum", [| x |], readOnlyDict [ "axes", OpAttribute.Of(0, 1) ])`.
    member _.Apply(op: string, args: NodeRef[], [<Optional; DefaultParameterValue(null: IReadOnlyDictionary<string, OpAttribute>)>] attributes: IReadOnlyDictionary<string, OpAttribute>, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        let attributes = if isNull attributes then Dictionary() :> IReadOnlyDictionary<_, _> else attributes
        match Catalogue.compute op attributes with
        | Ok o -> apply id o args
        | Error message -> raise (GraphException(UnknownOp((if isNull id then $"{op}{nodes.Count}" else id), message)))

    /// Any catalogue op without attributes by name: `Apply("softplus", x)`, `Apply("pow", a, b)`.
    member b.Apply(op: string, [<System.ParamArray>] args: NodeRef[]) = b.Apply(op, args, null, null)

    /// The element type of a node already added.
    member _.ElementTypeOf(node: NodeRef) =
        match index.TryGetValue node.Id with
        | true, k when k >= 0 -> types[k]
        | _ -> raise (GraphException(UnknownAncestor("(query)", node.Id)))

    /// a + b.
    member _.Add(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.add a b
    /// a − b.
    member _.Sub(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.sub a b
    /// a ⊙ b (element-wise).
    member _.Mul(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.mul a b
    /// a ⊘ b (element-wise).
    member _.Div(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.div a b
    /// −x.
    member _.Neg(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.neg x
    /// c·x.
    member _.Scale(x: NodeRef, factor: double, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id (Ops.Elementwise.scale factor) x
    /// x ⊙ x.
    member _.Square(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.square x
    /// σ(x) element-wise.
    member _.Sigmoid(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.sigmoid x
    /// tanh x element-wise.
    member _.Tanh(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.tanh x
    /// max(x, 0) element-wise.
    member _.Relu(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.relu x
    /// eˣ element-wise.
    member _.Exp(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.exp x
    /// ln x element-wise.
    member _.Log(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.log x
    /// sin x element-wise.
    member _.Sin(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.sin x
    /// cos x element-wise.
    member _.Cos(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.cos x
    /// A B.
    member _.MatMul(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Linear.matmul a b
    /// Xᵀ (the last two axes swapped).
    member _.Transpose(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Shape.transpose x
    /// X + 1 bᵀ: the row b added to every row of X (a bias).
    member _.AddRow(x: NodeRef, row: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Linear.addRow x row
    /// A⁻¹ B.
    member _.Solve(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Linear.solve a b
    /// Σ of all elements.
    member _.Sum(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Reduce.sum x
    /// Mean of all elements.
    member _.Mean(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Reduce.mean x
    /// ‖x‖².
    member _.SquaredNorm(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Reduce.sqnorm x
    /// Mean over rows of the cross-entropy between softmax(logits) and the target distributions.
    member _.SoftmaxCrossEntropy(logits: NodeRef, targets: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        apply2 id Ops.Loss.softmaxCrossEntropy logits targets

    // Typed methods of the op families (each family's ops also reach here by name through Apply).
    // --- shape ops ---
    /// x under another shape, the same elements in row-major order (one dimension may be -1: inferred).
    member b.Reshape(x: NodeRef, shape: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("reshape", [| x |], readOnlyDict [ "shape", OpAttribute.Ints shape ], id)
    /// Dimensions startDim … endDim merged into one (torch.flatten).
    member b.Flatten(x: NodeRef, [<Optional; DefaultParameterValue(0)>] startDim: int, [<Optional; DefaultParameterValue(-1)>] endDim: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("flatten", [| x |], readOnlyDict [ "start_dim", OpAttribute.Int startDim; "end_dim", OpAttribute.Int endDim ], id)
    /// The listed dimensions of size 1 removed (null: every dimension of size 1).
    member b.Squeeze(x: NodeRef, [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("squeeze", [| x |], (if isNull axes then readOnlyDict [] else readOnlyDict [ "axes", OpAttribute.Ints axes ]), id)
    /// Dimensions of size 1 inserted at the listed positions of the output (numpy.expand_dims).
    member b.Unsqueeze(x: NodeRef, axes: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("unsqueeze", [| x |], readOnlyDict [ "axes", OpAttribute.Ints axes ], id)
    /// The axes reordered: output axis d is input axis axes[d].
    member b.Permute(x: NodeRef, axes: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("permute", [| x |], readOnlyDict [ "axes", OpAttribute.Ints axes ], id)
    /// Axes dim0 and dim1 swapped (torch.transpose).
    member b.Transpose(x: NodeRef, dim0: int, dim1: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("transpose", [| x |], readOnlyDict [ "dim0", OpAttribute.Int dim0; "dim1", OpAttribute.Int dim1 ], id)
    /// x repeated to the shape (numpy.broadcast_to).
    member b.BroadcastTo(x: NodeRef, shape: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("broadcast_to", [| x |], readOnlyDict [ "shape", OpAttribute.Ints shape ], id)
    /// x[starts_k : stops_k : steps_k] along axes_k (null axes: 0, 1, …; null steps: 1s).
    member b.Slice(x: NodeRef, starts: int[], stops: int[], [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(null: int[])>] steps: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        let attributes = Dictionary<string, OpAttribute>()
        attributes["starts"] <- OpAttribute.Ints starts
        attributes["stops"] <- OpAttribute.Ints stops
        if not (isNull axes) then attributes["axes"] <- OpAttribute.Ints axes
        if not (isNull steps) then attributes["steps"] <- OpAttribute.Ints steps
        b.Apply("slice", [| x |], attributes, id)
    /// The arguments joined along an axis.
    member b.Concat(args: NodeRef[], [<Optional; DefaultParameterValue(0)>] axis: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("concat", args, readOnlyDict [ "axis", OpAttribute.Int axis ], id)
    /// x cut along an axis into pieces of the given sizes: one split node per piece, in order (ids
    /// id_0, id_1, … when an id is given).
    member b.Split(x: NodeRef, axis: int, sizes: int[], [<Optional; DefaultParameterValue(null: string)>] id: string) =
        Array.init sizes.Length (fun k ->
            let attributes = readOnlyDict [ "axis", OpAttribute.Int axis; "sizes", OpAttribute.Ints sizes; "index", OpAttribute.Int k ]
            b.Apply("split", [| x |], attributes, (if isNull id then null else $"{id}_{k}")))
    /// x surrounded by a constant: pads = [before_0, after_0, before_1, after_1, …], 2 per axis.
    member b.Pad(x: NodeRef, pads: int[], [<Optional; DefaultParameterValue(0.0)>] value: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("pad", [| x |], readOnlyDict [ "pads", OpAttribute.Ints pads; "value", OpAttribute.Float value ], id)
    // --- indexing ops ---
    /// x's slices at the int64 indices along an axis (torch.index_select, numpy.take).
    member b.Gather(data: NodeRef, indices: NodeRef, [<Optional; DefaultParameterValue(0)>] axis: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("gather", [| data; indices |], readOnlyDict [ "axis", OpAttribute.Int axis ], id)
    /// a where the bool mask is true, b where it is false (all three broadcast).
    member _.Where(mask: NodeRef, a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        apply id Ops.Index.where [| mask; a; b |]
    // --- reductions over axes ---
    /// Σ over the given axes (negative ones count from the end; null: all), each kept as a dimension of
    /// length 1 with keepdims.
    member b.Sum(x: NodeRef, axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("sum", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, []), id)
    /// The mean over the given axes (null: all).
    member b.Mean(x: NodeRef, axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("mean", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, []), id)
    /// The largest element over the given axes (null: all); its adjoint goes to the first maximal one.
    member b.Max(x: NodeRef, [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("max", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, []), id)
    /// The smallest element over the given axes (null: all); its adjoint goes to the first minimal one.
    member b.Min(x: NodeRef, [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("min", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, []), id)
    /// ln Σ exp over the given axes (null: all), shifted by the maximum.
    member b.LogSumExp(x: NodeRef, [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("logsumexp", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, []), id)
    /// Σ(x − x̄)²/(n − correction) over the given axes (null: all); correction 1 is torch.var's default.
    member b.Var(x: NodeRef, [<Optional; DefaultParameterValue(null: int[])>] axes: int[], [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(1)>] correction: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("var", [| x |], GraphBuilder.AxesAttributes(axes, keepdims, [ "correction", OpAttribute.Int correction ]), id)
    /// The index (int64) of the first maximal element of the flattened tensor, rank 0.
    member b.ArgMax(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = b.Apply("argmax", [| x |], null, id)
    /// The index (int64) of the first maximal element along an axis (negative counts from the end).
    member b.ArgMax(x: NodeRef, axis: int, [<Optional; DefaultParameterValue(false)>] keepdims: bool, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("argmax", [| x |], Dictionary(dict [ "axis", OpAttribute.Int axis; "keepdims", OpAttribute.Bool keepdims ]), id)

    /// The attributes of a reduction over axes (null axes: all), with the op's others.
    static member private AxesAttributes(axes: int[], keepdims: bool, others: (string * OpAttribute) list) : IReadOnlyDictionary<string, OpAttribute> =
        let d = Dictionary<string, OpAttribute>()
        if not (isNull axes) then d["axes"] <- OpAttribute.Ints(Array.copy axes)
        d["keepdims"] <- OpAttribute.Bool keepdims
        for k, v in others do
            d[k] <- v
        d
    // --- element-wise ops with attributes ---
    /// |x| element-wise.
    member _.Abs(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.abs x
    /// √x element-wise.
    member _.Sqrt(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.sqrt x
    /// 1/√x element-wise.
    member _.Rsqrt(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.rsqrt x
    /// min(max(x, min), max) element-wise; an infinite bound (−∞ for min, +∞ for max) is no bound.
    member b.Clamp(x: NodeRef, min: double, max: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        let d = Dictionary<string, OpAttribute>()
        if min <> System.Double.NegativeInfinity then d["min"] <- OpAttribute.Float min
        if max <> System.Double.PositiveInfinity then d["max"] <- OpAttribute.Float max
        b.Apply("clamp", [| x |], d, id)
    /// x where x > 0, else αx.
    member b.LeakyRelu(x: NodeRef, [<Optional; DefaultParameterValue(0.01)>] alpha: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("leaky_relu", [| x |], Dictionary(dict [ "alpha", OpAttribute.Float alpha ]), id)
    /// x where x > 0, else α(eˣ − 1).
    member b.Elu(x: NodeRef, [<Optional; DefaultParameterValue(1.0)>] alpha: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("elu", [| x |], Dictionary(dict [ "alpha", OpAttribute.Float alpha ]), id)
    /// x Φ(x); approximate "tanh" for PyTorch's tanh approximation.
    member b.Gelu(x: NodeRef, [<Optional; DefaultParameterValue("none")>] approximate: string, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("gelu", [| x |], Dictionary(dict [ "approximate", OpAttribute.Text approximate ]), id)
    /// x/(1 + |x|) element-wise.
    member _.Softsign(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.softsign x
    /// sign x element-wise (zero derivative).
    member _.Sign(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply1 id Ops.Elementwise.sign x
    /// max(a, b) element-wise (broadcasting).
    member _.Maximum(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.maximum a b
    /// min(a, b) element-wise (broadcasting).
    member _.Minimum(a: NodeRef, b: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = apply2 id Ops.Elementwise.minimum a b
    // --- linear algebra ---
    /// x Wᵀ (torch.nn.functional.linear without a bias): x (…, in), W (out, in).
    member b.Linear(x: NodeRef, weight: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = b.Apply("linear", [| x; weight |], null, id)
    /// x Wᵀ + bias (torch.nn.functional.linear): x (…, in), W (out, in), bias (out).
    member b.Linear(x: NodeRef, weight: NodeRef, bias: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("linear", [| x; weight; bias |], null, id)
    // --- neural-network ops ---
    /// softmax(x) along an axis (−1: the last).
    member b.Softmax(x: NodeRef, [<Optional; DefaultParameterValue(-1)>] axis: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("softmax", [| x |], readOnlyDict [ "axis", OpAttribute.Int axis ], id)
    /// log softmax(x) along an axis (−1: the last), stable.
    member b.LogSoftmax(x: NodeRef, [<Optional; DefaultParameterValue(-1)>] axis: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("log_softmax", [| x |], readOnlyDict [ "axis", OpAttribute.Int axis ], id)
    /// torch.nn.functional.cross_entropy: logits (N, C, …) or (C); target int64 labels (N, …) or
    /// probabilities of the logits' shape; reduction "mean", "sum" or "none".
    member b.CrossEntropy(logits: NodeRef, target: NodeRef, [<Optional; DefaultParameterValue("mean")>] reduction: string,
                          [<Optional; DefaultParameterValue(0.0)>] labelSmoothing: double,
                          [<Optional; DefaultParameterValue(-100)>] ignoreIndex: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("cross_entropy", [| logits; target |],
                readOnlyDict [ "reduction", OpAttribute.Text reduction; "label_smoothing", OpAttribute.Float labelSmoothing;
                               "ignore_index", OpAttribute.Int ignoreIndex ], id)
    /// torch.nn.functional.mse_loss of two tensors of one shape; reduction "mean", "sum" or "none".
    member b.Mse(a: NodeRef, target: NodeRef, [<Optional; DefaultParameterValue("mean")>] reduction: string, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("mse", [| a; target |], readOnlyDict [ "reduction", OpAttribute.Text reduction ], id)
    /// dropout(x) with probability p, its mask from the seed alone (the identity when not training).
    member b.Dropout(x: NodeRef, [<Optional; DefaultParameterValue(0.5)>] p: double,
                     [<Optional; DefaultParameterValue(true)>] training: bool,
                     [<Optional; DefaultParameterValue(0)>] seed: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("dropout", [| x |], readOnlyDict [ "p", OpAttribute.Float p; "training", OpAttribute.Bool training; "seed", OpAttribute.Int seed ], id)
    /// dropout(x, key): the mask from the seed and an int64 scalar key bound per step.
    member b.Dropout(x: NodeRef, key: NodeRef, [<Optional; DefaultParameterValue(0.5)>] p: double,
                     [<Optional; DefaultParameterValue(true)>] training: bool,
                     [<Optional; DefaultParameterValue(0)>] seed: int, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("dropout", [| x; key |], readOnlyDict [ "p", OpAttribute.Float p; "training", OpAttribute.Bool training; "seed", OpAttribute.Int seed ], id)
    // --- normalisation ---
    /// layer_norm(x) over the last `dims` dimensions, without weight and bias.
    member b.LayerNorm(x: NodeRef, [<Optional; DefaultParameterValue(1)>] dims: int,
                       [<Optional; DefaultParameterValue(1e-5)>] eps: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("layer_norm", [| x |], readOnlyDict [ "dims", OpAttribute.Int dims; "eps", OpAttribute.Float eps ], id)
    /// layer_norm(x, weight) over the trailing dimensions the weight's shape has.
    member b.LayerNorm(x: NodeRef, weight: NodeRef, [<Optional; DefaultParameterValue(1e-5)>] eps: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("layer_norm", [| x; weight |], readOnlyDict [ "dims", OpAttribute.Int weight.Shape.Rank; "eps", OpAttribute.Float eps ], id)
    /// layer_norm(x, weight, bias) over the trailing dimensions the weight's shape has.
    member b.LayerNorm(x: NodeRef, weight: NodeRef, bias: NodeRef, [<Optional; DefaultParameterValue(1e-5)>] eps: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("layer_norm", [| x; weight; bias |], readOnlyDict [ "dims", OpAttribute.Int weight.Shape.Rank; "eps", OpAttribute.Float eps ], id)
    /// batch_norm(x, weight, bias, running_mean, running_var) for x (N, C, …); in training with the
    /// batch's statistics (Ops.Norm.runningStatistics gives the moved running ones).
    member b.BatchNorm(x: NodeRef, weight: NodeRef, bias: NodeRef, runningMean: NodeRef, runningVar: NodeRef,
                       [<Optional; DefaultParameterValue(true)>] training: bool,
                       [<Optional; DefaultParameterValue(0.1)>] momentum: double,
                       [<Optional; DefaultParameterValue(1e-5)>] eps: double, [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("batch_norm", [| x; weight; bias; runningMean; runningVar |],
                readOnlyDict [ "training", OpAttribute.Bool training; "momentum", OpAttribute.Float momentum; "eps", OpAttribute.Float eps ], id)
    // --- convolution and pooling ---
    /// conv2d(x, w[, b]) on NCHW as torch.nn.functional.conv2d: x (N, C, H, W), w (F, C/groups, kH, kW),
    /// b (F) or left out; stride, padding and dilation as one value for both axes or (h, w), null for the
    /// defaults (1, 0, 1).
    member b.Conv2d(x: NodeRef, w: NodeRef, [<Optional>] bias: NodeRef,
                    [<Optional; DefaultParameterValue(null: int[])>] stride: int[], [<Optional; DefaultParameterValue(null: int[])>] padding: int[],
                    [<Optional; DefaultParameterValue(null: int[])>] dilation: int[], [<Optional; DefaultParameterValue(1)>] groups: int,
                    [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("conv2d", GraphBuilder.ConvArgs(x, w, bias), GraphBuilder.ConvAttributes(stride, padding, dilation, groups), id)
    /// conv1d(x, w[, b]) on (N, C, L) as torch.nn.functional.conv1d: w (F, C/groups, k), b (F) or left out.
    member b.Conv1d(x: NodeRef, w: NodeRef, [<Optional>] bias: NodeRef,
                    [<Optional; DefaultParameterValue(1)>] stride: int, [<Optional; DefaultParameterValue(0)>] padding: int,
                    [<Optional; DefaultParameterValue(1)>] dilation: int, [<Optional; DefaultParameterValue(1)>] groups: int,
                    [<Optional; DefaultParameterValue(null: string)>] id: string) =
        b.Apply("conv1d", GraphBuilder.ConvArgs(x, w, bias), GraphBuilder.ConvAttributes([| stride |], [| padding |], [| dilation |], groups), id)
    /// max_pool2d(x) on NCHW: the maximum of each kernel window (padding −∞); stride null for the kernel.
    member b.MaxPool2d(x: NodeRef, kernel: int[], [<Optional; DefaultParameterValue(null: int[])>] stride: int[],
                       [<Optional; DefaultParameterValue(null: int[])>] padding: int[], [<Optional; DefaultParameterValue(null: int[])>] dilation: int[],
                       [<Optional; DefaultParameterValue(null: string)>] id: string) =
        let a = Dictionary<string, OpAttribute>()
        a["kernel"] <- OpAttribute.Ints kernel
        if not (isNull stride) then a["stride"] <- OpAttribute.Ints stride
        if not (isNull padding) then a["padding"] <- OpAttribute.Ints padding
        if not (isNull dilation) then a["dilation"] <- OpAttribute.Ints dilation
        b.Apply("max_pool2d", [| x |], a, id)
    /// avg_pool2d(x) on NCHW: the mean of each kernel window; stride null for the kernel.
    member b.AvgPool2d(x: NodeRef, kernel: int[], [<Optional; DefaultParameterValue(null: int[])>] stride: int[],
                       [<Optional; DefaultParameterValue(null: int[])>] padding: int[], [<Optional; DefaultParameterValue(true)>] countIncludePad: bool,
                       [<Optional; DefaultParameterValue(null: string)>] id: string) =
        let a = Dictionary<string, OpAttribute>()
        a["kernel"] <- OpAttribute.Ints kernel
        if not (isNull stride) then a["stride"] <- OpAttribute.Ints stride
        if not (isNull padding) then a["padding"] <- OpAttribute.Ints padding
        a["count_include_pad"] <- OpAttribute.Bool countIncludePad
        b.Apply("avg_pool2d", [| x |], a, id)
    /// global_avg_pool(x): (N, C, H, W) → (N, C, 1, 1), the mean of each channel.
    member b.GlobalAvgPool(x: NodeRef, [<Optional; DefaultParameterValue(null: string)>] id: string) = b.Apply("global_avg_pool", [| x |], null, id)

    static member private ConvArgs(x: NodeRef, w: NodeRef, bias: NodeRef) =
        if isNull bias.Id then [| x; w |] else [| x; w; bias |]

    static member private ConvAttributes(stride: int[], padding: int[], dilation: int[], groups: int) : IReadOnlyDictionary<string, OpAttribute> =
        let a = Dictionary<string, OpAttribute>()
        if not (isNull stride) then a["stride"] <- OpAttribute.Ints stride
        if not (isNull padding) then a["padding"] <- OpAttribute.Ints padding
        if not (isNull dilation) then a["dilation"] <- OpAttribute.Ints dilation
        a["groups"] <- OpAttribute.Int groups
        a

    /// A node of an op already made, with a leaf's stored value: an adjoint graph copies its graph's
    /// nodes (op, attributes and values as they are) and adds nodes of the ops it reuses.
    member internal _.AddNode(id: string, op: Op, args: NodeRef[], value: Tensor option) = add id op args value

    /// Whether a node of that id was added.
    member _.Contains(id: string) =
        match index.TryGetValue id with
        | true, k -> k >= 0
        | _ -> false

    /// The validated graph with `output` as z_n.
    member _.Build(output: NodeRef) =
        if isNull output.Id then raise (GraphException(MissingOutput "(null)"))
        indexShared <- true
        Graph.OfChecked(nodes.ToArray(), output.Id, index, ancestors.ToArray(), shapes.ToArray(), types.ToArray())
