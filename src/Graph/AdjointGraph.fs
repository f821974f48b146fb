/// The adjoint graph: the backward pass written as a graph of catalogue ops (each op's VJP graph), so
/// that a gradient is itself a graph to evaluate, differentiate, partition and deploy — Hessian-vector
/// products by reverse over reverse, Jacobian-vector products by transposing the adjoint graph.
namespace Adjoint

open System
open System.Collections.Generic

/// A graph whose nodes compute every z_i of a source graph (same ids, ops and values) and the adjoint
/// λ_j of every node on a path from a chosen leaf to z_n, λ_j = Σ_{i∈β(j)} λ_i ∂f_i/∂z_j summed over
/// successors in the plan's order (last to first, a successor's slots in order) as the engine sums.
/// Its output is z_n: graphs have one output, and the adjoints are read by id from an evaluation that
/// keeps every value.
type AdjointGraph =
    { Graph: Graph
      /// The id of the node holding λ_j, by the id of j; a node absent here has a zero adjoint.
      Adjoints: IReadOnlyDictionary<string, string>
      /// The id of the seed λ_n (a constant of ones).
      Seed: string }

/// The construction of adjoint graphs.
module AdjointGraph =

    /// A builder holding a copy of a graph's nodes, with a source of ids no node of the graph has.
    type internal Copy =
        { Builder: GraphBuilder
          /// The copied node of each declaration index.
          Refs: NodeRef[]
          Fresh: unit -> string
          Constants: Dictionary<int64, NodeRef> }

    /// A builder with every node of g, in g's topological order, with their ids, ops and values.
    let internal copy (g: Graph) : Copy =
        let b = GraphBuilder()
        let refs = Array.zeroCreate g.Count
        for i in g.Order do
            let node = g.NodeArray[i]
            refs[i] <- b.AddNode(node.Id, node.Op, g.AncestorIndices[i] |> Array.map (fun a -> refs[a]), node.Value)
        // "∂", or as many as it takes to be a prefix of no id of the graph.
        let mutable prefix = "∂"
        while g.Nodes |> Seq.exists (fun n -> n.Id.StartsWith prefix) do
            prefix <- prefix + "∂"
        let mutable count = 0
        let fresh () =
            count <- count + 1
            prefix + string count
        { Builder = b; Refs = refs; Fresh = fresh; Constants = Dictionary() }

    /// Adds the adjoint nodes of g to a copy: λ_y = seed, and for every node on a path from a target to
    /// y, in reverse plan order, its VJP graph's terms added to its arguments' adjoints. The adjoint of
    /// each declaration index, None where it is zero (off every such path, or every term zero).
    let internal addAdjoints (c: Copy) (g: Graph) (y: int) (seed: NodeRef) (targets: bool[]) : NodeRef option[] =
        let n = g.Count
        let order = g.Order
        let args = g.AncestorIndices
        let isFloat i = g.Types[i] = ElementType.Float64
        let reaches = Array.zeroCreate n
        reaches[y] <- true
        for p in n - 1 .. -1 .. 0 do
            let i = order[p]
            if reaches[i] then
                for a in args[i] do
                    reaches[a] <- true
        let reached = Array.zeroCreate n
        for i in order do
            reached[i] <- targets[i] || args[i] |> Array.exists (fun a -> reached[a])
        let needs = Array.init n (fun i -> reaches[i] && reached[i] && isFloat i)
        let lambda: NodeRef option[] = Array.zeroCreate n
        lambda[y] <- Some seed
        for p in n - 1 .. -1 .. 0 do
            let q = order[p]
            match lambda[q] with
            | Some l when needs[q] && args[q].Length > 0 ->
                let wanted = args[q] |> Array.map (fun a -> needs[a])
                if Array.contains true wanted then
                    let node = g.NodeArray[q]
                    let nodes = VjpGraphs.VjpNodes(c.Builder, c.Fresh, c.Constants, node.Op, args[q] |> Array.map (fun a -> c.Refs[a]), c.Refs[q], l)
                    let terms =
                        try
                            (VjpGraphs.find node.Op node.Id) nodes wanted
                        with :? InvalidOperationException as e ->
                            raise (ArgumentException($"node '{node.Id}': {e.Message}", e))
                    for j in 0 .. wanted.Length - 1 do
                        match terms[j] with
                        | Some t when wanted[j] ->
                            let a = args[q][j]
                            if t.Shape <> g.Shapes[a] || t.Shape.Rank <> g.Shapes[a].Rank then
                                invalidOp $"node '{node.Id}': the VJP graph of op '{node.Op.Name}' gave a term of shape {t.Shape} for argument {j} of shape {g.Shapes[a]}"
                            lambda[a] <-
                                match lambda[a] with
                                | None -> Some t
                                | Some s -> Some(c.Builder.Add(s, t, c.Fresh()))
                        | _ -> ()
            | _ -> ()
        lambda

    /// Whether each declaration index is one of the named nodes, which must be leaves.
    let internal targetMask (g: Graph) (ids: string seq) =
        let mask = Array.zeroCreate g.Count
        for id in ids do
            if not (g.Contains id) then raise (ArgumentException $"no node '{id}' in the graph")
            let i = g.IndexOf id
            if g.NodeArray[i].Op.Kind = OpKind.Compute then
                raise (ArgumentException $"node '{id}' is computed by op '{g.NodeArray[i].Op.Name}'; derivatives are taken with respect to inputs, parameters and constants")
            mask[i] <- true
        mask

    /// The float64 inputs and parameters of a graph, in declaration order.
    let variables (g: Graph) =
        [| for i in 0 .. g.Count - 1 do
               let k = g.NodeArray[i].Op.Kind
               if (k = OpKind.Input || k = OpKind.Parameter) && g.Types[i] = ElementType.Float64 then g.NodeArray[i].Id |]

    /// The adjoint graph of g (output z_n, one element) with λ of every node on a path from one of
    /// `targets` (leaf ids) to z_n. Raises ArgumentException naming a node whose op has no VJP graph.
    let build (g: Graph) (targets: string seq) : AdjointGraph =
        let y = g.IndexOf g.Output
        if not g.Shapes[y].IsScalar then raise (GraphException(NonScalarOutput(g.Output, g.Shapes[y])))
        let c = copy g
        let seed = c.Builder.Constant(c.Fresh(), Tensor(g.Shapes[y], Array.create g.Shapes[y].Count 1.0))
        let lambda = addAdjoints c g y seed (targetMask g targets)
        let adjoints = Dictionary<string, string>()
        for i in 0 .. g.Count - 1 do
            match lambda[i] with
            | Some l -> adjoints[g.NodeArray[i].Id] <- l.Id
            | None -> ()
        { Graph = c.Builder.Build c.Refs[y]; Adjoints = adjoints; Seed = seed.Id }

    /// Adds ⟨λ_x, v_x⟩ summed over the targets x, each v_x a new input; the scalar and the inputs' ids.
    let internal addPairing (c: Copy) (g: Graph) (lambda: NodeRef option[]) (targets: string[]) =
        let vectors = Dictionary<string, string>()
        let mutable total: NodeRef option = None
        for x in targets do
            let i = g.IndexOf x
            let v = c.Builder.Input(c.Fresh(), g.Shapes[i])
            vectors[x] <- v.Id
            match lambda[i] with
            | Some l ->
                let term = c.Builder.Sum(c.Builder.Mul(l, v, c.Fresh()), c.Fresh())
                total <- Some(match total with
                              | None -> term
                              | Some s -> c.Builder.Add(s, term, c.Fresh()))
            | None -> ()
        let output = match total with
                     | Some s -> s
                     | None -> c.Builder.Constant(c.Fresh(), Tensor.Scalar 0.0)
        output, vectors :> IReadOnlyDictionary<_, _>

    let internal checkTargets (g: Graph) (targets: string[]) =
        let ok = HashSet(variables g)
        for x in targets do
            if not (ok.Contains x) then
                raise (ArgumentException $"node '{x}' is not a float64 input or parameter of the graph; vectors are given for those only")

    /// g with every parameter an input of the same id, shape and element type and no stored value. A
    /// derived graph (Hessian-vector, Jacobian-vector) deployed apart from g is built from this one, and
    /// each evaluation gives it g's current parameter values as inputs: it stays the same graph while g
    /// trains (deployed once), and it cannot silently compute with values g no longer holds.
    let parametersAsInputs (g: Graph) : Graph =
        let b = GraphBuilder()
        let refs = Array.zeroCreate g.Count
        for i in g.Order do
            let node = g.NodeArray[i]
            refs[i] <-
                if node.Op.Kind = OpKind.Parameter then b.TypedInput(node.Id, g.Shapes[i], g.Types[i])
                else b.AddNode(node.Id, node.Op, g.AncestorIndices[i] |> Array.map (fun a -> refs[a]), node.Value)
        b.Build refs[g.IndexOf g.Output]

    /// The inputs of a derived graph: the given ones, and each target's vector (`what`: "vector" or
    /// "tangent") under its input id, checked to name a target and to have the target's shape.
    let internal bindVectors (g: Graph) (what: string) (vectorIds: IReadOnlyDictionary<string, string>) (targets: string[])
                             (inputs: IReadOnlyDictionary<string, Tensor>) (v: IReadOnlyDictionary<string, Tensor>) =
        if isNull v then nullArg "v"
        let all = Dictionary<string, Tensor>()
        if not (isNull inputs) then
            for KeyValue(k, t) in inputs do all[k] <- t
        for x in targets do
            match v.TryGetValue x with
            | true, t ->
                let shape = g.ShapeOf x
                if t.Shape <> shape || t.Shape.Rank <> shape.Rank then
                    raise (ArgumentException $"node '{x}': {what} of shape {t.Shape} does not match the node's shape {shape}")
                all[vectorIds[x]] <- t
            | _ -> raise (ArgumentException $"node '{x}': no {what} given (shape {g.ShapeOf x})")
        for KeyValue(k, _) in v do
            if not (vectorIds.ContainsKey k) then
                raise (ArgumentException $"""node '{k}' is not a target; {what}s are given for {String.Join(", ", targets)}""")
        all :> IReadOnlyDictionary<_, _>

    /// The value of a node after a gradient, zeros where the pass left none.
    let internal adjointOrZero (e: Evaluation) (g: Graph) (id: string) =
        match e.Adjoint id with
        | null -> Tensor.Zeros(g.ShapeOf id)
        | t -> t.Clone()

/// Hessian-vector products Hv = ∇_x ⟨∇_S f(x), v_S⟩ of a graph's scalar output f, by reverse over
/// reverse: the adjoint graph with the node ⟨λ_S, v_S⟩ added (v_S new inputs) is differentiated by the
/// ordinary engine. S, the targets, are inputs or parameters; the product is given for every float64
/// input and parameter x (the rows H[x, S] v_S). The graph is built and compiled once; `Apply` runs it.
[<Sealed>]
type HessianVector(graph: Graph, targets: string[]) =
    do AdjointGraph.checkTargets graph targets
    let y = graph.IndexOf graph.Output
    do if not graph.Shapes[y].IsScalar then raise (GraphException(NonScalarOutput(graph.Output, graph.Shapes[y])))
    let c = AdjointGraph.copy graph
    let seed = c.Builder.Constant(c.Fresh(), Tensor(graph.Shapes[y], Array.create graph.Shapes[y].Count 1.0))
    let lambda = AdjointGraph.addAdjoints c graph y seed (AdjointGraph.targetMask graph targets)
    let output, vectors = AdjointGraph.addPairing c graph lambda targets
    let hvpGraph = c.Builder.Build output
    let plan = Plan.Compile hvpGraph
    let variables = AdjointGraph.variables graph

    /// The graph differentiated: z, λ and ⟨λ_S, v_S⟩.
    member _.Graph = hvpGraph
    member _.Plan = plan
    /// The id of the input holding v_x, by target x.
    member _.Vectors = vectors
    /// The targets S.
    member _.Targets = targets

    /// The inputs of `Graph` for one product: the given inputs and each target's vector, which must be
    /// given, of the target's shape (ArgumentException naming the node and both shapes otherwise).
    member _.Bind(inputs: IReadOnlyDictionary<string, Tensor>, v: IReadOnlyDictionary<string, Tensor>) =
        AdjointGraph.bindVectors graph "vector" vectors targets inputs v

    /// Hv from the input and parameter adjoints of a gradient of `Graph` (computed anywhere): the
    /// adjoint of every float64 input and parameter of the source graph, zeros where there is none.
    member _.Collect(adjoints: IReadOnlyDictionary<string, Tensor>) : IReadOnlyDictionary<string, Tensor> =
        let result = Dictionary<string, Tensor>()
        for x in variables do
            result[x] <-
                match adjoints.TryGetValue x with
                | true, t when not (isNull t) -> t
                | _ -> Tensor.Zeros(graph.ShapeOf x)
        result :> IReadOnlyDictionary<_, _>

    /// Hv for every float64 input and parameter of the source graph, at the given inputs (stored
    /// values for the rest), with a vector for every target.
    member h.Apply(inputs: IReadOnlyDictionary<string, Tensor>, v: IReadOnlyDictionary<string, Tensor>) : IReadOnlyDictionary<string, Tensor> =
        let e = Engine.gradient Adjoints.InputsAndParameters plan (h.Bind(inputs, v))
        let result = Dictionary<string, Tensor>()
        for x in variables do
            result[x] <- AdjointGraph.adjointOrZero e hvpGraph x
        result :> IReadOnlyDictionary<_, _>

/// Jacobian-vector products J v = ∂y/∂S · v_S of any float64 node y, by transposing the adjoint graph:
/// with the seed λ_y = u a new input, ⟨λ_S, v_S⟩ = ⟨u, J v⟩ is linear in u, so its gradient with respect
/// to u, which the ordinary engine computes, is J v. Built and compiled once; `Apply` runs it.
[<Sealed>]
type JacobianVector(graph: Graph, output: string, targets: string[]) =
    do AdjointGraph.checkTargets graph targets
    let y = graph.IndexOf output
    do if graph.Types[y] <> ElementType.Float64 then raise (ArgumentException $"node '{output}' is not float64, so it has no Jacobian")
    let c = AdjointGraph.copy graph
    let seed = c.Builder.Input(c.Fresh(), graph.Shapes[y])
    let lambda = AdjointGraph.addAdjoints c graph y seed (AdjointGraph.targetMask graph targets)
    let pairing, vectors = AdjointGraph.addPairing c graph lambda targets
    let jvpGraph = c.Builder.Build pairing
    let plan = Plan.Compile jvpGraph
    let zeros = Tensor.Zeros graph.Shapes[y]

    member _.Graph = jvpGraph
    member _.Plan = plan
    /// The id of the input holding the tangent v_x, by target x.
    member _.Tangents = vectors
    /// The id of the seed input u (any value; the result does not depend on it).
    member _.Seed = seed.Id

    /// The targets S.
    member _.Targets = targets
    /// The node J v is of.
    member _.Output = output

    /// The inputs of `Graph` for one product: the given inputs, each target's tangent (which must be
    /// given, of the target's shape) and the seed u.
    member _.Bind(inputs: IReadOnlyDictionary<string, Tensor>, v: IReadOnlyDictionary<string, Tensor>) =
        let all = Dictionary<string, Tensor>(AdjointGraph.bindVectors graph "tangent" vectors targets inputs v)
        all[seed.Id] <- zeros
        all :> IReadOnlyDictionary<_, _>

    /// J v from the input adjoints of a gradient of `Graph` (computed anywhere): the seed's adjoint.
    member _.Collect(adjoints: IReadOnlyDictionary<string, Tensor>) : Tensor =
        match adjoints.TryGetValue seed.Id with
        | true, t when not (isNull t) -> t
        | _ -> Tensor.Zeros graph.Shapes[y]

    /// J v at the given inputs, of the shape of the output node, with a tangent for every target.
    member j.Apply(inputs: IReadOnlyDictionary<string, Tensor>, v: IReadOnlyDictionary<string, Tensor>) : Tensor =
        let e = Engine.gradient Adjoints.InputsAndParameters plan (j.Bind(inputs, v))
        AdjointGraph.adjointOrZero e jvpGraph seed.Id

/// Higher-order derivatives in one call each (a plan is compiled per call; keep a HessianVector or
/// JacobianVector to reuse one).
module Higher =
    let private keys (d: IReadOnlyDictionary<string, Tensor>) = d.Keys |> Seq.sort |> Array.ofSeq

    /// Hv for every float64 input and parameter, v given for some of them (the targets).
    let hvp (graph: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) (vectors: IReadOnlyDictionary<string, Tensor>) =
        HessianVector(graph, keys vectors).Apply(inputs, vectors)

    /// J v of the graph's output (or of any float64 node with `jvpOf`), tangents given for some inputs
    /// and parameters.
    let jvpOf (graph: Graph) (output: string) (inputs: IReadOnlyDictionary<string, Tensor>) (tangents: IReadOnlyDictionary<string, Tensor>) =
        JacobianVector(graph, output, keys tangents).Apply(inputs, tangents)

    let jvp (graph: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) (tangents: IReadOnlyDictionary<string, Tensor>) =
        jvpOf graph graph.Output inputs tangents
