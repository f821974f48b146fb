/// The local engine: the seed's forward pass (∇_λ L = 0) and backward pass (∇_z L = 0) over a plan.
namespace Adjoint

// Prefetch takes the address of an array element.
#nowarn "9"

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics.X86
open Microsoft.FSharp.NativeInterop

/// An op failed while a node was evaluated; names the node and the op.
type EvaluationException(node: string, op: string, message: string, inner: exn) =
    inherit Exception($"node '{node}': op '{op}' failed: {message}", inner)
    member _.Node = node
    member _.Op = op
    member _.Reason = message

/// The buffers of one evaluation of a plan: a value z_i for every node and, after a backward pass, the
/// adjoints λ_i it computed. Running the engine again on the same Evaluation reuses every buffer, so
/// a steady stream of evaluations allocates nothing; values read from it are overwritten by the next
/// run on it.
///
/// One-element values and adjoints are kept unboxed in two arrays (8 bytes a node each; 16 more for the
/// partials of element-wise nodes), so `Value`, `ValueAt`, `Adjoint` and `AdjointAt` of a one-element
/// node return a fresh tensor holding a copy; bind new values with `Set`.
///
/// An evaluation made for `Adjoints.InputsAndParameters` (as `Engine.gradient` makes for that mode)
/// keeps only the values some VJP reads: the buffers of the other non-1×1 intermediate values are
/// shared, and asking for such a value raises InvalidOperationException (see `HasValue`).
[<Sealed>]
type Evaluation private (plan: Plan, lean: bool, forBackward: bool) =
    let n = plan.Count
    let shapes = plan.Nodes.Shapes
    let kinds = plan.Fast.Kinds
    let shared = if lean then plan.Shared else Unchecked.defaultof<_>
    let pool = if lean then shared.Sizes |> Array.map (fun c -> Array.zeroCreate<double> c) else null
    // Spare entries past the last node: the second argument of every unary node (see FastPath.Arg1).
    let scalarValues = Array.zeroCreate<double> (n + FastPath.Spares)
    let scalarAdjoints = Array.zeroCreate<double> (n + FastPath.Spares)
    // ∂f_p/∂z_a and ∂f_p/∂z_b at 2p and 2p + 1 for every NodeKind.Scalar node, stored by the forward pass.
    let partials = Array.zeroCreate<double> (if plan.Fast.AnyScalar then 2 * n else 0)
    // Read only at larger nodes and nodes computed through Op.Forward: a plan of scalar nodes needs none
    // of the three arrays below, which on a large graph are large-object allocations.
    let perNode () = if plan.Fast.AllScalar then Array.Empty() else Array.zeroCreate n
    // Tensor values: every larger node, and a one-element mirror of the nodes that tensor ops read or write.
    let values: Tensor[] = perNode ()
    // The argument tensors of nodes computed through Op.Forward, made once.
    let args: Tensor[][] = perNode ()
    // Tensor adjoints (one-element mirrors for the tensor-op nodes among them), made on the first backward pass.
    let adjoints: Tensor[] = perNode ()
    // Whether a larger node's adjoint has had its first term in this backward pass.
    let started: bool[] = perNode ()
    let bound = Array.zeroCreate<bool> n
    let mutable adjointMode: Adjoints voption = ValueNone
    // Whether the forward pass stores the partials: from the start for an evaluation made for a backward
    // pass, else from its first backward pass on, so that forward-only use pays nothing for them.
    let mutable recordsPartials = forBackward
    // Whether `partials` holds the partials of the last forward pass.
    let mutable partialsValid = false
    // One scratch buffer per shape: a fan-out node's second and later VJP terms land here before
    // being added to its adjoint. The backward pass is sequential, so one per shape suffices.
    let scratch = Dictionary<Shape, Tensor>()
    // One scratch buffer per one-element shape, for the VJP terms a tensor op hands a one-element argument.
    let scratch1 = Dictionary<Shape, Tensor>()

    do
        for p in 0 .. n - 1 do
            let s = shapes[p]
            if not s.IsScalar then
                values[p] <-
                    if lean && shared.ValueBuffer[p] >= 0 then Tensor(s, pool[shared.ValueBuffer[p]])
                    else Tensor.Zeros s
            if kinds[p] = NodeKind.Tensor then
                if s.IsScalar then values[p] <- Tensor.Zeros s
                let a = plan.Nodes.Args[p]
                let t = Array.zeroCreate a.Length
                for j in 0 .. a.Length - 1 do
                    if isNull values[a[j]] then values[a[j]] <- Tensor.Zeros shapes[a[j]]
                    t[j] <- values[a[j]]
                args[p] <- t
            match plan.Nodes.Values[p] with
            | Some v when plan.Nodes.Ops[p].Kind <> OpKind.Compute ->
                if s.IsScalar then scalarValues[p] <- v.Data[0]
                else Array.Copy(v.Data, values[p].Data, v.Count)
                bound[p] <- true
            | _ -> ()

    let dropped p =
        lean && not shapes[p].IsScalar && shared.ValueBuffer[p] >= 0

    /// An evaluation that keeps every value.
    new(plan: Plan) = Evaluation(plan, false, false)

    /// An evaluation for backward passes in the given mode: with InputsAndParameters it keeps only the
    /// values that some VJP reads (and the output), sharing the buffers of the rest.
    new(plan: Plan, adjoints: Adjoints) = Evaluation(plan, (adjoints = Adjoints.InputsAndParameters), true)

    member _.Plan = plan
    /// Whether every value is kept (false for an InputsAndParameters evaluation).
    member _.KeepsAllValues = not lean
    member internal _.ScalarValues = scalarValues
    member internal _.ScalarAdjoints = scalarAdjoints
    member internal _.Partials = partials
    member internal _.RecordsPartials
        with get () = recordsPartials
        and set v = recordsPartials <- v
    member internal _.PartialsValid
        with get () = partialsValid
        and set v = partialsValid <- v
    member internal _.Started = started
    member internal _.Bound = bound
    member internal _.Scratch(shape: Shape) =
        match scratch.TryGetValue shape with
        | true, t -> t
        | _ ->
            let t = Tensor.Zeros shape
            scratch[shape] <- t
            t
    member internal _.AdjointMode
        with get () = adjointMode
        and set m = adjointMode <- m

    /// z_p = f_p(z_α(p)) through Op.Forward, one-element arguments copied into their mirrors first.
    member internal _.ForwardTensor(p: int) =
        let a = plan.Nodes.Args[p]
        let t = args[p]
        for j in 0 .. a.Length - 1 do
            if shapes[a[j]].IsScalar then t[j].Data[0] <- scalarValues[a[j]]
        plan.Nodes.Ops[p].Forward(t, values[p])
        if shapes[p].IsScalar then scalarValues[p] <- values[p].Data[0]

    /// λ_p as a tensor, for Op.Vjp of a node computed through Op.Forward.
    member internal _.AdjointTensor(p: int) =
        if shapes[p].IsScalar then
            if isNull adjoints[p] then adjoints[p] <- Tensor.Zeros shapes[p]
            adjoints[p].Data[0] <- scalarAdjoints[p]
        elif isNull adjoints[p] then
            let s = shapes[p]
            adjoints[p] <-
                if lean && shared.AdjointBuffer[p] >= 0 then Tensor(s, pool[shared.AdjointBuffer[p]])
                else Tensor.Zeros s
        adjoints[p]

    /// dest = λ_i ∂f_i/∂z_(argument slot) through Op.Vjp.
    member internal e.VjpTensor(i: int, slot: int, dest: Tensor) =
        plan.Nodes.Ops[i].Vjp(args[i], values[i], e.AdjointTensor i, slot, dest)

    /// λ_a += λ_i ∂f_i/∂z_a for the larger argument a in `slot` of node i, through Op.Vjp: the first
    /// term written straight into λ_a, each later one computed apart and then added.
    member internal e.AccumulateTensor(i: int, slot: int, a: int) =
        let total = e.AdjointTensor a
        if not started[a] then
            e.VjpTensor(i, slot, total)
            started[a] <- true
        else
            let term = e.Scratch shapes[a]
            e.VjpTensor(i, slot, term)
            Kernels.Vec.add total.Data term.Data total.Data

    /// The one-element term λ_i ∂f_i/∂z_(argument slot) through Op.Vjp.
    member internal e.VjpTensorScalar(i: int, slot: int) =
        let shape = shapes[plan.Nodes.Args[i][slot]]
        let dest =
            match scratch1.TryGetValue shape with
            | true, t -> t
            | _ ->
                let t = Tensor.Zeros shape
                scratch1[shape] <- t
                t
        e.VjpTensor(i, slot, dest)
        dest.Data[0]

    /// Binds the value of an input (or overrides a parameter's or constant's stored value) by copying it
    /// into this evaluation's buffer.
    member _.Set(id: string, value: Tensor) =
        let p = plan.IndexOf id
        let op = plan.Nodes.Ops[p]
        if op.Kind = OpKind.Compute then
            invalidArg "id" $"node '{id}' is computed by op '{op.Name}'; only inputs, parameters and constants can be set"
        // One element binds any one-element node (a rank-0 scalar to a 1×1 input), as in version 1.
        if value.Shape <> shapes[p] && not (value.IsScalar && shapes[p].IsScalar) then
            invalidArg "value" $"node '{id}': value of shape {value.Shape} does not match the declared shape {shapes[p]}"
        match op with
        | :? Ops.Leaf.LeafOp as leaf when leaf.DeclaredType <> ElementType.Float64 ->
            match ElementType.firstInvalid leaf.DeclaredType value.Data with
            | -1 -> ()
            | k -> invalidArg "value" (GraphError.ValueType(id, leaf.DeclaredType, k, value.Data[k])).Message
        | _ -> ()
        if shapes[p].IsScalar then scalarValues[p] <- value.Data[0]
        else Array.Copy(value.Data, values[p].Data, value.Count)
        bound[p] <- true

    /// Binds every entry of a map from input id to value.
    member e.SetAll(inputs: IReadOnlyDictionary<string, Tensor>) =
        for KeyValue(id, v) in inputs do e.Set(id, v)

    /// Whether the value of the node at plan position p is kept (false only for intermediate values an
    /// InputsAndParameters evaluation does not keep).
    member _.HasValueAt(p: int) = not (dropped p)
    member e.HasValue(id: string) = e.HasValueAt(plan.IndexOf id)

    /// z of a node after the forward pass. Raises InvalidOperationException for a value this
    /// evaluation does not keep (see `HasValue`).
    member e.Value(id: string) = e.ValueAt(plan.IndexOf id)
    /// z_n.
    member e.Output = e.ValueAt plan.Output
    /// z of the node at plan position p.
    member _.ValueAt(p: int) : Tensor =
        if shapes[p].IsScalar then Tensor(shapes[p], [| scalarValues[p] |])
        elif dropped p then
            invalidOp (
                $"node '{plan.Ids[p]}': its value was not kept — this evaluation computes the adjoints of inputs "
                + "and parameters only and reuses the buffers of values no VJP reads; evaluate with Adjoints.All "
                + "(or new Evaluation(plan)) to keep every value"
            )
        else values[p]

    /// λ of a node after the backward pass, or null where none was computed (the node does not reach
    /// z_n, or the pass was pruned to inputs and parameters).
    member e.Adjoint(id: string) = e.AdjointAt(plan.IndexOf id)
    member _.AdjointAt(p: int) : Tensor =
        match adjointMode with
        | ValueSome mode when plan.NeedsAdjoint(mode, p) ->
            if shapes[p].IsScalar then Tensor(shapes[p], [| scalarAdjoints[p] |]) else adjoints[p]
        | _ -> null

    /// Whether the last run computed adjoints.
    member _.HasAdjoints = adjointMode.IsSome

/// Software prefetch: on a graph of 10⁶ scalar nodes the values an edge reads are scattered over
/// megabytes, and fetching them a few nodes ahead hides most of the memory latency.
module internal Prefetch =
    /// How many nodes ahead the passes fetch.
    [<Literal>]
    let Distance = 16

    let inline at (p: nativeptr<double>) (i: int) =
        if Sse.IsSupported then Sse.Prefetch0(NativePtr.toVoidPtr (NativePtr.add p i))

/// The passes themselves.
module Engine =

    let private fail (plan: Plan) (p: int) (e: exn) =
        let reason =
            match e with
            | Ops.Linear.OpFailure m -> m
            | e -> e.Message
        raise (EvaluationException(plan.Ids[p], plan.Op(p).Name, reason, e))

    /// Which GEMM kernel the engine runs on: "openblas" or "managed".
    let gemmBackend = Kernels.Gemm.backend

    /// Forward pass: z_i = f_i(z_α(i)) for every node in plan order. A one-element node of an
    /// element-wise op costs one virtual call to its rule (and stores its partials when a backward pass
    /// will follow); the rest go through Op.Forward.
    let forward (e: Evaluation) =
        let plan = e.Plan
        // One binding each: a tuple pattern allocates its tuple in an unoptimised (Debug) build.
        let fast = plan.Fast
        let kinds = fast.Kinds
        let kernels = fast.Kernels
        let arg0 = fast.Arg0
        let arg1 = fast.Arg1
        let z = e.ScalarValues
        let partials = e.Partials
        let record = e.RecordsPartials && fast.AnyScalar
        let bound = e.Bound
        let n = plan.Count
        e.AdjointMode <- ValueNone
        e.PartialsValid <- false
        let mutable p = 0
        use zp = fixed z
        let ahead = n - Prefetch.Distance
        try
            while p < n do
                if p < ahead then
                    let f = p + Prefetch.Distance
                    if kinds[f] = NodeKind.Scalar then
                        Prefetch.at zp arg0[f]
                        Prefetch.at zp arg1[f]
                match kinds[p] with
                | NodeKind.Scalar ->
                    // The loop-invariant test is always predicted; the call is the one dispatch on the op.
                    z[p] <-
                        if record then kernels[p].ForwardWithPartials(z[arg0[p]], z[arg1[p]], partials, 2 * p)
                        else kernels[p].Forward(z[arg0[p]], z[arg1[p]])
                | NodeKind.Tensor -> e.ForwardTensor p
                | _ ->
                    if not bound[p] then
                        raise (EvaluationException(plan.Ids[p], plan.Op(p).Name, "no value bound to this input", null))
                p <- p + 1
            e.PartialsValid <- record
        with
        | :? EvaluationException -> reraise ()
        | ex -> fail plan p ex

    /// The partials of every element-wise one-element node, from the values of the last forward pass, for
    /// an evaluation whose forward pass did not store them (one made for forward passes only); its later
    /// forward passes store them. The same calls on the same values as the forward pass makes.
    let private fillPartials (e: Evaluation) =
        let fast = e.Plan.Fast
        let z = e.ScalarValues
        for p in 0 .. e.Plan.Count - 1 do
            if fast.Kinds[p] = NodeKind.Scalar then
                fast.Kernels[p].ForwardWithPartials(z[fast.Arg0[p]], z[fast.Arg1[p]], e.Partials, 2 * p) |> ignore
        e.PartialsValid <- true
        e.RecordsPartials <- true

    /// Backward pass after `forward`: λ_n = 1, then in reverse plan order each node q that needs an
    /// adjoint adds its VJP terms λ_q ∂f_q/∂z_a to its arguments' adjoints, so that
    /// λ_j = Σ_{i∈β(j)} λ_i ∂f_i/∂z_j is summed in the plan's fixed order — successors from last to
    /// first, a successor's slots in order, from −0.0 (the exact identity of +) — the order the
    /// distributed engine uses too (Accumulate). Only nodes with NeedsAdjoint(mode) hand terms on.
    /// `Reference.backward` is the same pass written plainly, and gives the same bits.
    ///
    /// A one-element node of an element-wise op hands its terms on as two products of λ_q with the
    /// partials the forward pass stored: no dispatch on the op, and no branch (a unary op's second term
    /// lands in a spare entry past the last node).
    let backward (mode: Adjoints) (e: Evaluation) =
        let plan = e.Plan
        let out = plan.Output
        let shapes = plan.Nodes.Shapes
        if not shapes[out].IsScalar then
            raise (GraphException(NonScalarOutput(plan.Ids[out], shapes[out])))
        if mode = Adjoints.All && not e.KeepsAllValues then
            invalidOp "this evaluation keeps only the values that the adjoints of inputs and parameters need; make it with new Evaluation(plan) for Adjoints.All"
        if plan.Fast.AnyScalar && not e.PartialsValid then fillPartials e
        // One binding each, as in forward.
        let fast = plan.Fast
        let kinds = fast.Kinds
        let isScalar = fast.IsScalar
        let arg0 = fast.Arg0
        let arg1 = fast.Arg1
        let args = plan.Nodes.Args
        let needs = plan.NeedsMask mode
        let partials = e.Partials
        let lambda = e.ScalarAdjoints
        Array.Fill(lambda, -0.0)
        lambda[out] <- 1.0
        if not fast.AllScalar then Array.Clear e.Started
        // The node whose VJP is running, named if it fails.
        let mutable current = out
        use lp = fixed lambda
        try
            for q in plan.Count - 1 .. -1 .. 0 do
                if q >= Prefetch.Distance then
                    // The adjoints the node processed Distance steps from now adds to lie anywhere.
                    let f = q - Prefetch.Distance
                    if kinds[f] = NodeKind.Scalar then
                        Prefetch.at lp arg0[f]
                        Prefetch.at lp arg1[f]
                if needs[q] then
                    match kinds[q] with
                    | NodeKind.Scalar ->
                        let l = lambda[q]
                        lambda[arg0[q]] <- lambda[arg0[q]] + partials[2 * q] * l
                        lambda[arg1[q]] <- lambda[arg1[q]] + partials[2 * q + 1] * l
                    | NodeKind.Tensor ->
                        current <- q
                        if not isScalar[q] && not e.Started[q] then
                            // Only the output has no successor to start it, and the output holds one element.
                            Array.Clear (e.AdjointTensor q).Data
                            e.Started[q] <- true
                        let a = args[q]
                        for j in 0 .. a.Length - 1 do
                            let aj = a[j]
                            if needs[aj] then
                                if isScalar[aj] then lambda[aj] <- lambda[aj] + e.VjpTensorScalar(q, j)
                                else e.AccumulateTensor(q, j, aj)
                    | _ -> ()
        with ex ->
            fail plan current ex
        e.AdjointMode <- ValueSome mode

    /// A fresh evaluation of the plan with the given inputs bound (stored values for the rest).
    let bind (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = Evaluation plan
        if not (isNull inputs) then e.SetAll inputs
        e

    /// Forward only: every z_i; no adjoint state is kept.
    let evaluate (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = bind plan inputs
        forward e
        e

    /// Forward and backward: z_i and the adjoints the mode asks for. With InputsAndParameters the
    /// evaluation keeps only the values that some VJP reads (see Evaluation).
    let gradient (mode: Adjoints) (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = Evaluation(plan, mode)
        if not (isNull inputs) then e.SetAll inputs
        forward e
        backward mode e
        e

    /// One compiled plan evaluated for many input sets, each into its own Evaluation.
    let gradientMany (mode: Adjoints) (plan: Plan) (inputSets: IReadOnlyDictionary<string, Tensor> seq) =
        inputSets |> Seq.map (gradient mode plan)
