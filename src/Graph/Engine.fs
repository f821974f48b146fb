/// The local engine: the seed's forward pass (∇_λ L = 0) and backward pass (∇_z L = 0) over a plan.
namespace Adjoint

open System
open System.Collections.Generic

/// An op failed while a node was evaluated; names the node and the op.
type EvaluationException(node: string, op: string, message: string, inner: exn) =
    inherit Exception($"node '{node}': op '{op}' failed: {message}", inner)
    member _.Node = node
    member _.Op = op
    member _.Reason = message

/// The buffers of one evaluation of a plan: a value z_i for every node and, after a backward pass, the
/// adjoints λ_i it computed. Running the engine again on the same Evaluation reuses every buffer, so
/// a steady stream of evaluations allocates nothing per node; values read from it are overwritten by
/// the next run on it.
[<Sealed>]
type Evaluation(plan: Plan) =
    let n = plan.Count
    let values = Array.init n (fun p -> Tensor.Zeros(plan.Shapes[p]))
    let bound = Array.zeroCreate<bool> n
    let args = Array.init n (fun p -> plan.Args[p] |> Array.map (fun a -> values[a]))
    let adjoints: Tensor[] = Array.zeroCreate n
    let mutable adjointMode: Adjoints voption = ValueNone
    // One scratch buffer per shape: a fan-out node's second and later VJP terms land here before
    // being added to its adjoint. The backward pass is sequential, so one per shape suffices.
    let scratch = Dictionary<Shape, Tensor>()

    do
        for p in 0 .. n - 1 do
            match plan.StoredValues[p] with
            | Some v when plan.Ops[p].Kind <> OpKind.Compute ->
                Array.Copy(v.Data, values[p].Data, v.Count)
                bound[p] <- true
            | _ -> ()

    member _.Plan = plan
    member internal _.Values = values
    member internal _.Args = args
    member internal _.AdjointBuffers = adjoints
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

    /// Binds the value of an input (or overrides a parameter's or constant's stored value) by copying it
    /// into this evaluation's buffer.
    member _.Set(id: string, value: Tensor) =
        let p = plan.IndexOf id
        let op = plan.Ops[p]
        if op.Kind = OpKind.Compute then
            invalidArg "id" $"node '{id}' is computed by op '{op.Name}'; only inputs, parameters and constants can be set"
        if value.Shape <> plan.Shapes[p] then
            invalidArg "value" $"node '{id}': value of shape {value.Shape} does not match the declared shape {plan.Shapes[p]}"
        Array.Copy(value.Data, values[p].Data, value.Count)
        bound[p] <- true

    /// Binds every entry of a map from input id to value.
    member e.SetAll(inputs: IReadOnlyDictionary<string, Tensor>) =
        for KeyValue(id, v) in inputs do e.Set(id, v)

    /// z of a node after the forward pass.
    member _.Value(id: string) = values[plan.IndexOf id]
    /// z_n.
    member _.Output = values[plan.Output]
    /// z of the node at plan position p.
    member _.ValueAt(p: int) = values[p]

    /// λ of a node after the backward pass, or null where none was computed (the node does not reach
    /// z_n, or the pass was pruned to inputs and parameters).
    member e.Adjoint(id: string) = e.AdjointAt(plan.IndexOf id)
    member _.AdjointAt(p: int) : Tensor =
        match adjointMode with
        | ValueSome mode when plan.NeedsAdjoint(mode, p) -> adjoints[p]
        | _ -> null

    /// Whether the last run computed adjoints.
    member _.HasAdjoints = adjointMode.IsSome

/// The passes themselves.
module Engine =

    let private fail (plan: Plan) (p: int) (e: exn) =
        let reason =
            match e with
            | Ops.Linear.OpFailure m -> m
            | e -> e.Message
        raise (EvaluationException(plan.Ids[p], plan.Ops[p].Name, reason, e))

    /// Forward pass: z_i = f_i(z_α(i)) for every node in plan order.
    let forward (e: Evaluation) =
        let plan = e.Plan
        let ops, values, args = plan.Ops, e.Values, e.Args
        e.AdjointMode <- ValueNone
        for p in 0 .. plan.Count - 1 do
            let op = ops[p]
            if op.Kind = OpKind.Compute then
                try
                    op.Forward(args[p], values[p])
                with
                | :? EvaluationException -> reraise ()
                | ex -> fail plan p ex
            elif not e.Bound[p] then
                raise (EvaluationException(plan.Ids[p], op.Name, "no value bound to this input", null))

    /// Backward pass after `forward`: λ_n = 1, then in reverse plan order
    /// λ_j = Σ_{i∈β(j)} λ_i ∂f_i/∂z_j, each term the VJP of successor i, summed in the plan's fixed
    /// successor order. Only nodes with NeedsAdjoint(mode) are visited.
    let backward (mode: Adjoints) (e: Evaluation) =
        let plan = e.Plan
        let out = plan.Output
        if not plan.Shapes[out].IsScalar then
            raise (GraphException(NonScalarOutput(plan.Ids[out], plan.Shapes[out])))
        let ops, values, args, adjoints = plan.Ops, e.Values, e.Args, e.AdjointBuffers
        let start, succ, slot = plan.SuccessorStart, plan.SuccessorNode, plan.SuccessorSlot
        for q in plan.Count - 1 .. -1 .. 0 do
            if plan.NeedsAdjoint(mode, q) then
                if isNull adjoints[q] then adjoints[q] <- Tensor.Zeros plan.Shapes[q]
                let lambda = adjoints[q]
                if q = out then
                    lambda.Data[0] <- 1.0
                else
                    let mutable first = true
                    for edge in start[q] .. start[q + 1] - 1 do
                        let i = succ[edge]
                        if plan.NeedsAdjoint(mode, i) then
                            let dest = if first then lambda else e.Scratch plan.Shapes[q]
                            try
                                ops[i].Vjp(args[i], values[i], adjoints[i], slot[edge], dest)
                            with ex ->
                                fail plan i ex
                            if first then first <- false
                            else Kernels.Vec.add lambda.Data dest.Data lambda.Data
                    if first then Array.Clear lambda.Data
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

    /// Forward and backward: every z_i and the adjoints the mode asks for.
    let gradient (mode: Adjoints) (plan: Plan) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let e = bind plan inputs
        forward e
        backward mode e
        e

    /// One compiled plan evaluated for many input sets, each into its own Evaluation.
    let gradientMany (mode: Adjoints) (plan: Plan) (inputSets: IReadOnlyDictionary<string, Tensor> seq) =
        inputSets |> Seq.map (gradient mode plan)
