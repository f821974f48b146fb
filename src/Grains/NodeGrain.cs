// The node grain: one node i of a graph version carrying out the seed's two passes with its neighbours.
using System.Diagnostics;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace Adjoint.Grains;

/// <summary>A parameter's durable value and its Adam moments.</summary>
[GenerateSerializer, Alias("adjoint.parameter-state.v1")]
public sealed class ParameterState
{
    /// <summary>θ.</summary>
    [Id(0)] public TensorData? Value { get; set; }
    /// <summary>Adam's step count.</summary>
    [Id(1)] public int AdamStep { get; set; }
    /// <summary>Adam's first moment.</summary>
    [Id(2)] public TensorData? M { get; set; }
    /// <summary>Adam's second moment.</summary>
    [Id(3)] public TensorData? V { get; set; }
    /// <summary>The id of the last optimizer step applied, so that a step retried after a failure (or
    /// delivered twice) is applied once.</summary>
    [Id(4)] public Guid LastStep { get; set; }
}

/// <summary>
/// Node i: waits for z of every ancestor slot, computes z_i with the core op and sends it along each
/// successor edge; when every successor edge that needs it has sent its term, sums λ_i in the plan's
/// order, sends each ancestor that needs an adjoint its VJP term and forgets the evaluation. A null
/// value or term means "failed upstream/downstream" and is passed on so that every node frees its state.
/// All mathematics is the core's (Op.Forward, Op.Vjp, Accumulate.adjoint, Reporting, Optimizer.step).
/// </summary>
[PartitionPlacement]
public sealed partial class NodeGrain(DeployedGraphCache cache, AdjointStorage storage, AdjointSiloOptions options, ILocalSiloDetails silo, MessageSize messages, PartitionSilos partitionSilos) : Grain, INodeGrain
{
    private sealed class State(int arity, int edges)
    {
        public readonly Tensor?[] Args = new Tensor?[arity];
        public int ArgsReceived;
        public bool Failed;
        public Tensor? Out;
        public readonly Tensor?[] Terms = new Tensor?[edges];
        public int TermsReceived;
        /// <summary>When a message of this evaluation last came (see Reclaim).</summary>
        public long Heard = Stopwatch.GetTimestamp();
    }

    private readonly Dictionary<EvalKey, State> _live = [];
    // Evaluations of cancelled batches: (coordinator, first, count), the most recent 256.
    private readonly Queue<(Guid Coordinator, int First, int Count)> _abandoned = new();
    // What this turn sends, by destination; flushed as one message per destination at the end of the turn.
    private readonly Dictionary<int, List<ValueItem>> _outValues = [];
    private readonly Dictionary<int, List<AdjointItem>> _outTerms = [];
    private readonly Dictionary<Guid, List<Report>> _outReports = [];
    private DeployedGraph _graph = null!;
    private Plan _plan = null!;
    private int _p;
    private Op _op = null!;
    private int[] _args = [];
    private (int Node, int Slot)[] _successors = [];
    // For each argument slot: the index of this node's edge in that ancestor's successor list.
    private int[] _edgeInAncestor = [];
    private bool _isOutput;
    // Per core Adjoints mode: how many successor edges send a term (Accumulate.terms).
    private int[] _neededTerms = [];
    private bool _reachesOutput;
    private bool _successorsDoneWithZ;
    // Why z_i cannot be sent (it would not fit in a message), or null. Shapes are fixed, so this one check
    // covers what a node sends: a VJP term has the shape of an ancestor's z, which that ancestor had to
    // send, and λ_i has the shape of z_i.
    private string? _valueTooLarge;
    private Tensor? _stored;
    private DurableState<ParameterState>? _parameter;
    // This silo's address as text: the silo tag of metrics and step timings.
    private readonly string _siloName = silo.SiloAddress.ToString();

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (graphId, version, layout, _, nodeId) = NodeKey.Parse(this.GetPrimaryKeyString());
        _graph = await cache.Get(graphId, version, layout);
        _plan = _graph.Plan;
        _p = _plan.IndexOf(nodeId);
        _op = _plan.Op(_p);
        _args = [.. _plan.Ancestors(_p)];
        _successors = [.. _plan.Successors(_p).Select(e => (e.Item1, e.Item2))];
        _edgeInAncestor = new int[_args.Length];
        for (var slot = 0; slot < _args.Length; slot++)
        {
            var edges = _plan.Successors(_args[slot]);
            for (var e = 0; e < edges.Count; e++)
                if (edges[e].Item1 == _p && edges[e].Item2 == slot) _edgeInAncestor[slot] = e;
        }
        _isOutput = _p == _plan.Output;
        _neededTerms = [.. Enum.GetValues<Adjoints>().OrderBy(m => (int)m).Select(m => Accumulate.terms(_plan, m, _p))];
        _reachesOutput = _graph.ReachesOutput(_p);
        // z_i may go back to the pool after the backward step when every successor reads it only
        // before it sends its term: one argument slot, or a VJP that does not read the arguments (a
        // successor with several slots may send one term at once and read z_i for the next).
        _successorsDoneWithZ = _op.Kind == OpKind.Compute && !_isOutput && _successors.Length > 0
            && _successors.All(e => _plan.Op(e.Node) is var op && (op.Arity == 1 || !op.VjpReadsArgs));
        var shape = _plan.Shape(_p);
        _valueTooLarge = messages.Fits(shape) ? null : messages.TooLarge("its value", shape);
        _stored = _graph.Graph.Node(nodeId).Value?.Value;
        if (_op.Kind == OpKind.Parameter)
        {
            // Stored by graph, version and node, not under this grain's key: every layout of the version
            // reads the same θ and moments (and this activation, of one layout, is the only writer).
            _parameter = storage.For<ParameterState>(ServiceProvider, "parameter", NodeKey.Parameter(graphId, version, nodeId));
            await Storage("read", _parameter.Read);
            if (_parameter.State.Value is { } v) _stored = v.ToTensor();
        }
        Telemetry.Activation(_siloName, "node", +1);
    }

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Telemetry.Activation(_siloName, "node", -1);
        return Task.CompletedTask;
    }

    private static void Add<TKey, TItem>(Dictionary<TKey, List<TItem>> outbox, TKey key, TItem item) where TKey : notnull
    {
        if (!outbox.TryGetValue(key, out var list)) outbox[key] = list = [];
        list.Add(item);
    }

    // Each outbox goes as one message, or as several when one would be over the message size limit.
    private void Flush()
    {
        var counting = Telemetry.CountsMessages;
        foreach (var (node, items) in _outValues)
            foreach (var message in messages.Split(items, item => MessageSize.ItemBytes(item.Value)))
            {
                _ = _graph.Node(node).Values(message);
                if (counting) Sent(node, message.Sum(item => MessageSize.ItemBytes(item.Value)));
            }
        foreach (var (node, items) in _outTerms)
            foreach (var message in messages.Split(items, item => MessageSize.ItemBytes(item.Term)))
            {
                _ = _graph.Node(node).Adjoints(message);
                if (counting) Sent(node, message.Sum(item => MessageSize.ItemBytes(item.Term)));
            }
        foreach (var (coordinator, items) in _outReports)
            foreach (var message in messages.Split(items, ReportBytes)) _ = GrainFactory.GetGrain<ICoordinatorGrain>(coordinator).Report(message);
        _outValues.Clear();
        _outTerms.Clear();
        _outReports.Clear();
    }

    // A work message to node p, for the message metrics: to the silo p's partition is placed on.
    private void Sent(int p, long bytes) => Telemetry.Sent(_siloName, partitionSilos.Of(_graph.Parts[p]), bytes);

    private static long ReportBytes(Report report) =>
        MessageSize.ItemBytes(report.Tensor) + (report.Failure is { } f ? 2L * (f.Node.Length + f.Op.Length + f.Message.Length) : 0);

    private void Report(EvalContext context, ReportKind kind, TensorData? tensor = null, EvaluationFailure? failure = null, StepTiming? timing = null) =>
        Add(_outReports, context.Coordinator, new Report(context.Index, kind, _p, tensor, failure, timing));

    private bool Abandoned(EvalContext context)
    {
        foreach (var (coordinator, first, count) in _abandoned)
            if (coordinator == context.Coordinator && context.Index >= first && context.Index < first + count) return true;
        return false;
    }

    private State Open(EvalKey key)
    {
        if (!_live.TryGetValue(key, out var state))
        {
            state = new State(_args.Length, _successors.Length);
            _live[key] = state;
            WatchForStaleState();
        }
        else state.Heard = Stopwatch.GetTimestamp();
        return state;
    }

    // A tensor for an op to write: Forward, Vjp and Vec.add overwrite every element (the local engine
    // reuses its buffers on the same contract), so the memory need not be zeroed first.
    // Large buffers come from the silo's pool (TensorPool), where Backward gives back the ones nothing
    // references any more.
    private static Tensor Buffer(Shape shape) => new(shape, TensorPool.Rent(shape.Count));

    private static string Reason(Exception e) => e is Ops.Linear.OpFailure f ? f.Data0 : e.Message;

    private void Fail(EvalContext context, string message)
    {
        Telemetry.Failed(_op.Name);
        Report(context, ReportKind.Failure, failure: new EvaluationFailure(_plan.Ids[_p], _op.Name, message));
    }

    /// <inheritdoc/>
    public async Task Start(StartItem[] items)
    {
        // A parameter whose last write failed may hold another θ in storage than here (the write may
        // have landed): it reads storage again before serving θ, and fails these evaluations while
        // storage cannot say.
        string? unknown = null;
        if (_parameter is { Stale: true })
        {
            try
            {
                await Current();
            }
            catch (StorageFailedException e)
            {
                unknown = e.Message;
            }
        }
        foreach (var (context, value) in items)
        {
            if (_abandoned.Count > 0 && Abandoned(context)) continue;
            var began = StepClock.Begin(context);
            // A one-element value binds any one-element node, taking the node's shape, as in the local engine.
            var z = value?.ToTensor().Reshape(_plan.Shape(_p)) ?? (unknown is null ? _stored : null);
            if (z is null) Fail(context, unknown ?? "no value bound to this input");
            var output = Forwarded(context, null, z);
            if (began != 0) StepEnded(context, backward: false, began, value is null ? 0 : 8L * value.Data.LongLength);
            if (output is not null) OutputBackward(context, output);
        }
        Flush();
    }

    /// <inheritdoc/>
    public Task Values(ValueItem[] items)
    {
        foreach (var (context, slot, value) in items)
        {
            if (_abandoned.Count > 0 && Abandoned(context)) continue;
            var state = Open(context.Key);
            state.Args[slot] = value?.ToTensor();
            if (value is null) state.Failed = true;
            if (++state.ArgsReceived < _args.Length) continue;
            var began = StepClock.Begin(context);
            Tensor? z = null;
            if (!state.Failed)
            {
                z = Buffer(_plan.Shape(_p));
                try
                {
                    _op.Forward(state.Args!, z);
                }
                catch (Exception e)
                {
                    Fail(context, Reason(e));
                    z = null;
                }
            }
            var output = Forwarded(context, state, z);
            if (began != 0) StepEnded(context, backward: false, began, ArgumentBytes());
            if (output is not null) OutputBackward(context, output);
        }
        Flush();
        return Task.CompletedTask;
    }

    // z_i is known (null: failed): send it on, report what the coordinator waits for, and either keep
    // the state for the backward pass or drop it. Returns the state when this is the output and its
    // backward step follows (a step of its own: the caller ends the forward step's clock first).
    private State? Forwarded(EvalContext context, State? state, Tensor? z)
    {
        var reporting = context.Reporting;
        var reportsValue = reporting.ReportsValue(_plan, _p);
        if (z is not null && _valueTooLarge is not null && (_successors.Length > 0 || reportsValue))
        {
            // Sent anyway, it would be dropped by Orleans with the connection; this fails only this evaluation.
            Fail(context, _valueTooLarge);
            z = null;
        }
        var payload = z is null ? null : TensorData.From(z);
        foreach (var (node, slot) in _successors)
            Add(_outValues, node, new ValueItem(context, slot, payload));
        if (payload is not null && reportsValue) Report(context, ReportKind.Value, payload);
        if (!_reachesOutput) Report(context, ReportKind.Done);
        if (!reporting.ComputesAdjoint(_plan, _p))
        {
            _live.Remove(context.Key);
            return null;
        }
        state ??= Open(context.Key);
        state.Out = z;
        if (z is null) state.Failed = true;
        return _isOutput ? state : null;
    }

    // The output has no term to wait for: its λ is the core's seed, λ_n = 1.
    private void OutputBackward(EvalContext context, State state)
    {
        var began = StepClock.Begin(context);
        Backward(context, state, state.Failed ? null : Lambda(context.Reporting, state));
        if (began != 0) StepEnded(context, backward: true, began, 0);
    }

    // λ_i from the terms of its successor edges, in the core's order (λ_n = 1 at the output). Received
    // terms are shared: a sum of several goes into a buffer of our own.
    private Tensor Lambda(Reporting reporting, State state) =>
        Accumulate.adjoint(_plan, reporting.Adjoints, _p, e => state.Terms[e], Buffer);

    /// <inheritdoc/>
    public Task Adjoints(AdjointItem[] items)
    {
        foreach (var (context, edge, term) in items)
        {
            if (!_live.TryGetValue(context.Key, out var state)) continue;
            state.Heard = Stopwatch.GetTimestamp();
            state.Terms[edge] = term?.ToTensor();
            if (term is null) state.Failed = true;
            var reporting = context.Reporting;
            if (++state.TermsReceived < _neededTerms[(int)reporting.Adjoints]) continue;
            var began = StepClock.Begin(context);
            Backward(context, state, state.Failed ? null : Lambda(reporting, state));
            if (began != 0) StepEnded(context, backward: true, began, _neededTerms[(int)reporting.Adjoints] * ValueBytes(_p));
        }
        Flush();
        return Task.CompletedTask;
    }

    // λ_i is known (null: failed): report it if asked, send each ancestor that needs an adjoint its VJP
    // term, and forget the evaluation.
    private void Backward(EvalContext context, State state, Tensor? lambda)
    {
        _live.Remove(context.Key);
        var reporting = context.Reporting;
        if (lambda is not null && reporting.ReportsAdjoint(_plan, _p)) Report(context, ReportKind.Adjoint, TensorData.From(lambda));
        for (var slot = 0; slot < _args.Length; slot++)
        {
            var a = _args[slot];
            if (!reporting.ComputesAdjoint(_plan, a)) continue;
            TensorData? term = null;
            if (lambda is not null && state.Out is not null)
            {
                var dest = Buffer(_plan.Shape(a));
                try
                {
                    _op.Vjp(state.Args!, state.Out, lambda, slot, dest);
                    term = TensorData.From(dest);
                }
                catch (Exception e)
                {
                    Fail(context, Reason(e));
                    lambda = null;
                }
            }
            var item = new AdjointItem(context, _edgeInAncestor[slot], term);
            // A large term leaves at once, so that its transfer overlaps the VJPs of the later slots.
            if (term is not null && term.Data.Length >= LargeTensor)
            {
                _ = _graph.Node(a).Adjoints([item]);
                if (Telemetry.CountsMessages) Sent(a, MessageSize.ItemBytes(term));
            }
            else Add(_outTerms, a, item);
        }
        if (lambda is not null) Recycle(context, state, lambda);
    }

    // After a backward step that succeeded, gives back to the pool what nothing references any more:
    // z_i when every successor edge has sent its term (each successor read z_i before sending, see
    // _successorsDoneWithZ) and z_i was not reported; the received terms (their senders keep no
    // reference) and λ_i, unless λ_i was reported.
    private void Recycle(EvalContext context, State state, Tensor lambda)
    {
        var reporting = context.Reporting;
        if (_successorsDoneWithZ && !reporting.ReportsValue(_plan, _p) && _neededTerms[(int)reporting.Adjoints] == _successors.Length && state.Out is { } z)
            TensorPool.Return(z.Data);
        var reported = reporting.ReportsAdjoint(_plan, _p);
        var lambdaIsTerm = false;
        foreach (var t in state.Terms)
        {
            if (t is null) continue;
            if (ReferenceEquals(t.Data, lambda.Data)) lambdaIsTerm = true;
            if (!reported || !ReferenceEquals(t.Data, lambda.Data)) TensorPool.Return(t.Data);
        }
        // λ_i summed into a buffer of our own.
        if (!reported && !lambdaIsTerm && !_isOutput) TensorPool.Return(lambda.Data);
    }

    /// <summary>Elements from which a tensor is sent on its own rather than with the turn's other items.</summary>
    private const int LargeTensor = 1 << 14;

    /// <inheritdoc/>
    public Task Abandon(Guid coordinator, int first, int count)
    {
        foreach (var key in _live.Keys.Where(k => k.Coordinator == coordinator && k.Index >= first && k.Index < first + count).ToList())
            _live.Remove(key);
        Ignore(coordinator, first, count);
        return Task.CompletedTask;
    }

    // Messages of these evaluations still on their way must not open new state.
    private void Ignore(Guid coordinator, int first, int count)
    {
        _abandoned.Enqueue((coordinator, first, count));
        if (_abandoned.Count > 256) _abandoned.Dequeue();
    }

    /// <inheritdoc/>
    public Task<int> LiveStates() => Task.FromResult(_live.Count);

    /// <inheritdoc/>
    public Task<string> Where() => Task.FromResult(silo.SiloAddress.ToString());

    private DurableState<ParameterState> Parameter =>
        _parameter ?? throw new InvalidOperationException($"node '{_plan.Ids[_p]}' is a {_op.Name}, not a parameter");

    private string ParameterName => $"parameter '{_plan.Ids[_p]}' of graph '{_graph.GraphId}' v{_graph.Version}";

    // Orleans would drop an oversized write to the in-memory storage with its connection (see MessageSize).
    private void CheckStored(ParameterState next)
    {
        if (!options.UseMemoryStorage) return;
        var what = $"parameter '{_plan.Ids[_p]}' of shape {next.Value!.ShapeOf()}: its stored state ({(next.M is null ? "value" : "value and Adam moments")})";
        if (messages.TooLargeToStore(what, MessageSize.ParameterStateBytes(next.Value, next.M, next.V)) is { } why)
            throw new LimitExceededException("MaxMessageBodySize", messages.Limit, why);
    }

    // The parameter's state as storage holds it: read again after a failed write, which may have landed.
    private async Task<ParameterState> Current()
    {
        var parameter = Parameter;
        if (parameter.Stale)
        {
            await Storage("read", parameter.Refresh);
            if (parameter.State.Value is { } v) _stored = v.ToTensor();
        }
        return parameter.State;
    }

    // θ and the moments change together, and only once storage has them: a failed write leaves the
    // grain serving the state it had, so the step can be retried without being counted twice.
    private async Task Store(ParameterState next)
    {
        CheckStored(next);
        await Storage("write", () => Parameter.Write(next));
        _stored = next.Value!.ToTensor();
    }

    private async Task Storage(string operation, Func<Task> io)
    {
        try
        {
            await io();
        }
        catch (Exception e) when (e is not (StorageFailedException or LimitExceededException))
        {
            throw new StorageFailedException(ParameterName, operation, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <inheritdoc/>
    public async Task<TensorData> GetParameter()
    {
        await Current();
        return TensorData.From(_stored!);
    }

    /// <inheritdoc/>
    public async Task SetParameter(TensorData value)
    {
        _ = Parameter;
        var shape = _plan.Shape(_p);
        if (value.ShapeOf() != shape)
            throw new ArgumentException($"node '{_plan.Ids[_p]}': value of shape {value.ShapeOf()} does not match the declared shape {shape}");
        await Current();
        await Store(new ParameterState { Value = value });
    }

    /// <inheritdoc/>
    public async Task<ParameterMoments> GetMoments()
    {
        var state = await Current();
        return new ParameterMoments(state.AdamStep, state.M, state.V);
    }

    /// <inheritdoc/>
    public async Task SetMoments(ParameterMoments moments)
    {
        _ = Parameter;
        var shape = _plan.Shape(_p);
        if (moments.AdamStep < 0) throw new ArgumentException($"node '{_plan.Ids[_p]}': Adam's step count must not be negative, got {moments.AdamStep}");
        if ((moments.M is null) != (moments.V is null) || (moments.M is null && moments.AdamStep > 0))
            throw new ArgumentException($"node '{_plan.Ids[_p]}': moments come as both m and v, and with a step count above 0");
        foreach (var (name, t) in new[] { ("m", moments.M), ("v", moments.V) })
            if (t is not null && t.ShapeOf() != shape)
                throw new ArgumentException($"node '{_plan.Ids[_p]}': moment {name} of shape {t.ShapeOf()} does not match the declared shape {shape}");
        var state = await Current();
        await Store(new ParameterState { Value = state.Value ?? TensorData.From(_stored!), AdamStep = moments.AdamStep, M = moments.M, V = moments.V, LastStep = state.LastStep });
    }

    /// <inheritdoc/>
    public async Task ApplyStep(OptimizerSettings settings, TensorData gradient, Guid step)
    {
        var state = await Current();
        // Applied already: this is a retry of a step whose answer was lost, or that failed elsewhere.
        if (step != Guid.Empty && state.LastStep == step) return;
        var before = new OptimizerState(_stored!, state.AdamStep, state.M?.ToTensor(), state.V?.ToTensor());
        var after = Optimizer.step(settings.ToRule(), before, gradient.ToTensor());
        await Store(new ParameterState
        {
            Value = TensorData.From(after.Value),
            AdamStep = after.AdamStep,
            M = after.M is { } m ? TensorData.From(m) : null,
            V = after.V is { } v ? TensorData.From(v) : null,
            LastStep = step,
        });
    }

    /// <inheritdoc/>
    public async Task ClearParameter()
    {
        await Storage("clear", Parameter.Clear);
        DeactivateOnIdle();
    }
}
