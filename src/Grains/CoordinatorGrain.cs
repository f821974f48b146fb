// The batch coordinator: starts evaluations under a bounded window, collects what nodes report,
// completes each evaluation when every expected report is in, returns results in submission order.
using System.Diagnostics;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Diagnostics;

namespace Adjoint.Grains;

/// <summary>
/// Coordinates the batches of one client graph handle (reused, so that a batch costs no activation).
/// It starts an evaluation by sending every leaf its Start; from then on only nodes talk, and they
/// report to it: z_n (every z if asked), the λ the mode returns, a "done" from each node that does not
/// reach z_n, or a failure. The counts it expects come from the core's plan. Reentrant: reports and
/// other batches interleave with an awaiting Run. Its batches together have at most
/// <see cref="AdjointSiloOptions.MaxEvaluationsInFlightPerClient"/> evaluations in flight
/// (<see cref="Admission"/>), and what it sends and returns fits in a message (<see cref="MessageSize"/>).
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class CoordinatorGrain(
    DeployedGraphCache cache, IClusterMembershipService membership, ILocalSiloDetails silo, AdjointSiloOptions options, MessageSize messages,
    PartitionSilos partitionSilos, BatchBoard board)
    : Grain, ICoordinatorGrain
{
    private sealed class Batch(BatchRequest request, DeployedGraph graph, int first, int expected, int[] leaves, int traceEvery, ActivityContext traceParent, BatchProgress progress)
    {
        /// <summary>Trace every n-th evaluation (0: none).</summary>
        public int TraceEvery { get; } = traceEvery;
        /// <summary>The span the batch was submitted under (the client's, propagated), or none.</summary>
        public ActivityContext TraceParent { get; } = traceParent;
        public BatchRequest Request { get; } = request;
        public DeployedGraph Graph { get; } = graph;
        /// <summary>The number of this batch's evaluation 0 here; evaluation i is First + i.</summary>
        public int First { get; } = first;
        public int Expected { get; } = expected;
        public int[] Leaves { get; } = leaves;
        /// <summary>The batch on this silo's board (the live web view).</summary>
        public BatchProgress Progress { get; } = progress;
        public EvaluationResult?[] Results { get; } = new EvaluationResult?[request.Inputs.Count];
        public int Next;
        public int InFlight;
        public int Completed;
        /// <summary>Numbers given to re-runs (outside [First, First + count)), for abandoning the batch.</summary>
        public readonly List<int> RerunNumbers = [];
        public int Reruns;
        /// <summary>The room this batch holds under the cap on evaluations in flight.</summary>
        public Admission.Ticket? Room;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Evaluation(Batch batch, int local, int pending, int number, int attempt, int timeouts)
    {
        public Batch Batch { get; } = batch;
        public int Local { get; } = local;
        /// <summary>The evaluation's number in this attempt: the key nodes know it by.</summary>
        public int Number { get; } = number;
        public int Attempt { get; } = attempt;
        /// <summary>Earlier attempts that timed out: each doubles the wait (a silo loss does not).</summary>
        public int Timeouts { get; } = timeouts;
        public long Started = Stopwatch.GetTimestamp();
        public int Pending = pending;
        /// <summary>The evaluation's span when it is traced (kept across re-runs).</summary>
        public Activity? Span;
        /// <summary>The node steps' timings of a timed evaluation (this attempt's).</summary>
        public List<StepTiming>? Timings;
        public TensorData? Output;
        public readonly Dictionary<string, TensorData> Values = [];
        public readonly Dictionary<string, TensorData> Adjoints = [];
    }

    private readonly Dictionary<Guid, Batch> _batches = [];
    private readonly Dictionary<int, Evaluation> _inFlight = [];
    // Start items of this turn, by batch and leaf; flushed as one message per leaf.
    private readonly Dictionary<(Batch, int), List<StartItem>> _outStarts = [];
    // Evaluation numbers start at a random point per activation: a coordinator collected while idle and
    // activated again under the same key must not reuse the numbers that nodes may still hold (as state
    // or in their lists of abandoned evaluations) from its earlier activation.
    private int _nextNumber = Random.Shared.Next(0, 1 << 30);
    private readonly HashSet<Guid> _cancelledEarly = [];
    private readonly Admission _admission = new(options.MaxEvaluationsInFlightPerClient, options.MaxQueuedBatchesPerClient);
    /// <summary>The most evaluations this coordinator has had in flight at once.</summary>
    private int _peakInFlight;
    private ILogger? _log;
    private ILogger Log => _log ??= ServiceProvider.GetRequiredService<ILogger<CoordinatorGrain>>();

    /// <inheritdoc/>
    public async Task<List<EvaluationResult>> Run(BatchRequest request)
    {
        // First of all, so that the client's watchdog finds the batch known while the graph loads.
        Remember(request.Id);
        // The version's current layout, held for the whole batch (re-runs included): a re-partition while
        // it runs moves later batches, not this one.
        var graph = await cache.Current(request.GraphId, request.Version);
        Validate(graph, request);
        if (_batches.ContainsKey(request.Id)) throw new ArgumentException($"batch {request.Id} is already running");
        var window = Math.Max(1, request.Window);
        if (window > _admission.Cap)
            throw new ArgumentException($"a window of {window} evaluations in flight is more than the cap of {_admission.Cap} per client (MaxEvaluationsInFlightPerClient); use a window of at most {_admission.Cap}");
        var plan = graph.Plan;
        // Room for the batch and its re-runs below int.MaxValue, or wrap (after a billion evaluations).
        if (_nextNumber > int.MaxValue - request.Inputs.Count - (1 << 24)) _nextNumber = 0;
        // Traced only while something listens: an unsampled evaluation carries no trace context.
        var traceEvery = Telemetry.Source.HasListeners() ? (request.TraceEvery > 0 ? request.TraceEvery : options.TraceEvery) : 0;
        var batch = new Batch(request, graph, _nextNumber, Expected(graph, request),
            [.. Enumerable.Range(0, plan.Count).Where(p => plan.Op(p).Kind != OpKind.Compute)],
            traceEvery, Activity.Current?.Context ?? default,
            board.Add(request.Id, request.GraphId, request.Version, request.Inputs.Count, window, this.GetPrimaryKey()));
        _nextNumber += request.Inputs.Count;
        _batches[request.Id] = batch;
        try
        {
            if (_cancelledEarly.Remove(request.Id)) throw new OperationCanceledException($"batch {request.Id} was cancelled");
            // The batch's timeout counts from its arrival, time waiting for room included.
            var deadline = request.Timeout is { } timeout ? Task.Delay(timeout) : null;
            batch.Room = _admission.Enter(Math.Min(window, batch.Results.Length));
            if (!batch.Room.Ready.IsCompleted)
            {
                // Waits for room; a Cancel ends the wait through Done.
                var first = await Task.WhenAny(batch.Room.Ready, batch.Done.Task, deadline ?? Task.Delay(Timeout.Infinite));
                if (first == batch.Done.Task) await batch.Done.Task;
                if (first == deadline) throw TimedOut(batch);
            }
            Refill(batch);
            Flush();
            if (batch.Results.Length == 0) batch.Done.TrySetResult();
            if (deadline is not null)
            {
                var finished = await Task.WhenAny(batch.Done.Task, deadline);
                if (finished != batch.Done.Task)
                {
                    Abandon(batch);
                    throw TimedOut(batch);
                }
            }
            await batch.Done.Task;
            CheckResults(batch);
            return [.. batch.Results.Select(r => r!)];
        }
        finally
        {
            _batches.Remove(request.Id);
            board.Remove(request.Id);
            if (batch.Room is { } room) _admission.Leave(room);
        }
    }

    private static TimeoutException TimedOut(Batch batch) =>
        new($"batch of {batch.Results.Length} evaluations of graph '{batch.Request.GraphId}' v{batch.Request.Version} timed out after {batch.Request.Timeout}; {batch.Completed} completed");

    private void Validate(DeployedGraph graph, BatchRequest request)
    {
        var plan = graph.Plan;
        if (request.Mode != AdjointMode.None && !plan.Shape(plan.Output).IsScalar)
            throw new GraphRejectedException(GraphError.NewNonScalarOutput(plan.Ids[plan.Output], plan.Shape(plan.Output)).Message, null);
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            foreach (var (id, value) in request.Inputs[i])
            {
                if (!plan.TryIndexOf(id, out var p))
                    throw new ArgumentException($"evaluation {i}: no node '{id}' in the graph");
                var op = plan.Op(p);
                if (op.Kind == OpKind.Compute)
                    throw new ArgumentException($"evaluation {i}: node '{id}' is computed by op '{op.Name}'; only inputs, parameters and constants can be set");
                var shape = plan.Shape(p);
                if (value.Dims is null || value.Data is null || value.Dims.Any(d => d < 0) || value.Data.LongLength != value.Dims.Aggregate(1L, (n, d) => n * d))
                    throw new ArgumentException($"evaluation {i}: node '{id}': a value of dimensions [{string.Join(", ", value.Dims ?? [])}] needs {(value.Dims ?? []).Aggregate(1L, (n, d) => n * d)} numbers, got {value.Data?.Length ?? 0}");
                // One element binds any one-element node, as in the local engine.
                if (value.ShapeOf() != shape && !(value.ShapeOf().IsScalar && shape.IsScalar))
                    throw new ArgumentException($"evaluation {i}: node '{id}': value of shape {value.ShapeOf()} does not match the declared shape {shape}");
                // An int64 or bool input holds whole numbers or 0/1 (exact as doubles), as the local engine checks.
                if (op is Ops.Leaf.LeafOp { DeclaredType: not ElementType.Float64 } leaf
                    && ElementTypeModule.firstInvalid(leaf.DeclaredType, value.Data) is var k and >= 0)
                    throw new ArgumentException($"evaluation {i}: {GraphError.NewValueType(id, leaf.DeclaredType, k, value.Data[k]).Message}");
                if (!messages.Fits(shape))
                    throw new ArgumentException($"evaluation {i}: node '{id}': {messages.TooLarge("a value", shape)}");
            }
        }
        CheckResultSize(graph, request);
    }

    // The results return in one message: refuse up front a batch whose results could not, rather than
    // run it and lose the answer (Orleans drops an oversized response and the caller waits for its timeout).
    private void CheckResultSize(DeployedGraph graph, BatchRequest request)
    {
        var plan = graph.Plan;
        var reporting = DeployedGraph.Reporting(request.Mode, request.ReportValues);
        long perEvaluation = 0;
        (string What, long Bytes) largest = ("", 0);
        void Count(string what, int p)
        {
            var shape = plan.Shape(p);
            var bytes = MessageSize.TensorBytes(shape.LongCount) + 2L * plan.Ids[p].Length + 16;
            perEvaluation += bytes;
            if (bytes > largest.Bytes) largest = ($"{what} of node '{plan.Ids[p]}' ({shape})", bytes);
        }
        for (var p = 0; p < plan.Count; p++)
        {
            if (reporting.ReportsValue(plan, p)) Count("the value", p);
            if (reporting.ReportsAdjoint(plan, p)) Count("the adjoint", p);
            if (request.Timing) perEvaluation += (reporting.ComputesAdjoint(plan, p) ? 2 : 1) * StepTimingBytes(plan.Ids[p]);
        }
        if (perEvaluation > messages.Budget)
            throw new ResultsTooLargeException(
                $"the results of one evaluation take {perEvaluation} bytes (the largest, {largest.What}, {largest.Bytes}), more than the message size limit of {messages.Limit} bytes (MaxMessageBodySize)",
                "ask for fewer results (mode InputsAndParameters or None, no ReportValues) or raise the limit",
                perEvaluation, 0, messages.Limit);
        if (perEvaluation * request.Inputs.Count > messages.Budget)
            throw new ResultsTooLargeException(
                $"the results of {request.Inputs.Count} evaluations take about {perEvaluation * request.Inputs.Count} bytes, more than the message size limit of {messages.Limit} bytes (MaxMessageBodySize)",
                $"split the batch into batches of at most {messages.Budget / perEvaluation} evaluations",
                perEvaluation, (int)Math.Min(int.MaxValue, messages.Budget / perEvaluation), messages.Limit);
    }

    // A step timing in a result: the node id, the silo's address (some 30 characters) and five numbers.
    private static long StepTimingBytes(string node) => 2L * node.Length + 64 + 48;

    // Failures carry text rather than tensors: the estimate made before the run bounds results, except a
    // batch of many failures with long messages. Checked so that the caller gets this error, not silence.
    private void CheckResults(Batch batch)
    {
        long bytes = 0;
        foreach (var r in batch.Results)
        {
            bytes += 64 + MessageSize.TensorBytes(r!.Output?.Data.LongLength ?? 0);
            foreach (var (id, t) in r.Values) bytes += 2L * id.Length + MessageSize.TensorBytes(t.Data.LongLength);
            foreach (var (id, t) in r.Adjoints) bytes += 2L * id.Length + MessageSize.TensorBytes(t.Data.LongLength);
            if (r.Failure is { } f) bytes += 2L * (f.Node.Length + f.Op.Length + f.Message.Length);
            foreach (var t in r.Timings) bytes += StepTimingBytes(t.Node);
        }
        if (bytes > messages.Budget)
            throw new ArgumentException(
                $"the results of this batch of {batch.Results.Length} evaluations take about {bytes} bytes, more than the message size limit of {messages.Limit} bytes (MaxMessageBodySize); split the batch");
    }

    // Reports one evaluation ends with: z_n (or every z), the λ its mode returns, a done per node not
    // reaching z_n, and in a timed batch a timing per node step (every node's forward step, and the
    // backward step of each node whose λ is computed).
    private static int Expected(DeployedGraph graph, BatchRequest request)
    {
        var plan = graph.Plan;
        var reporting = DeployedGraph.Reporting(request.Mode, request.ReportValues);
        var count = 0;
        for (var p = 0; p < plan.Count; p++)
        {
            if (reporting.ReportsValue(plan, p)) count++;
            if (!graph.ReachesOutput(p)) count++;
            if (reporting.ReportsAdjoint(plan, p)) count++;
            if (request.Timing) count += reporting.ComputesAdjoint(plan, p) ? 2 : 1;
        }
        return count;
    }

    // Starts evaluations of the batch while its window has room.
    private void Refill(Batch batch)
    {
        var request = batch.Request;
        var window = Math.Max(1, request.Window);
        var me = this.GetPrimaryKey();
        while (batch.Next < batch.Results.Length && batch.InFlight < window)
        {
            var local = batch.Next++;
            batch.InFlight++;
            StartEvaluation(batch, local, batch.First + local, 0, 0, me);
            // A wide window starts its evaluations in waves of StartWave: the first wave moves on
            // through the graph while the next ones follow, so that the nodes of different silos
            // (and cores) work at the same time rather than one after the other on a single wave.
            if (++_startsQueued >= StartWave) Flush();
        }
        batch.Progress.InFlight(batch.InFlight);
    }

    private void StartEvaluation(Batch batch, int local, int number, int attempt, int timeouts, Guid me, Activity? span = null)
    {
        var request = batch.Request;
        var evaluation = new Evaluation(batch, local, batch.Expected, number, attempt, timeouts);
        _inFlight[number] = evaluation;
        _peakInFlight = Math.Max(_peakInFlight, _inFlight.Count);
        if (attempt == 0)
        {
            Telemetry.Started(request.GraphId);
            if (batch.TraceEvery > 0 && local % batch.TraceEvery == 0) span = EvaluationSpan(batch, local);
        }
        evaluation.Span = span;
        if (request.Timing) evaluation.Timings = [];
        var observe = request.Timing || span is not null ? new Observation(request.Timing, span?.Id) : null;
        var context = new EvalContext(me, number, request.Mode, request.ReportValues, observe);
        var inputs = request.Inputs[local];
        foreach (var p in batch.Leaves)
        {
            if (!_outStarts.TryGetValue((batch, p), out var items)) _outStarts[(batch, p)] = items = [];
            items.Add(new StartItem(context, inputs.TryGetValue(batch.Graph.Plan.Ids[p], out var v) ? v : null));
        }
    }

    /// <summary>Evaluations whose starts travel in one message per leaf.</summary>
    private const int StartWave = 128;
    private int _startsQueued;

    private void Flush()
    {
        foreach (var ((batch, p), items) in _outStarts)
            foreach (var message in messages.Split(items, item => MessageSize.ItemBytes(item.Value)))
            {
                _ = batch.Graph.Node(p).Start(message);
                if (Telemetry.CountsMessages)
                    Telemetry.Sent(silo.SiloAddress.ToString(), partitionSilos.Of(batch.Graph.Parts[p]), message.Sum(item => MessageSize.ItemBytes(item.Value)));
            }
        _outStarts.Clear();
        _startsQueued = 0;
    }

    // The span a traced evaluation's node steps are children of; Activity.Current stays as it was.
    private static Activity? EvaluationSpan(Batch batch, int local)
    {
        var previous = Activity.Current;
        var span = Telemetry.Source.StartActivity("evaluation", ActivityKind.Internal, batch.TraceParent);
        Activity.Current = previous;
        if (span is null) return null;
        span.DisplayName = $"evaluation {local} of {batch.Request.GraphId} v{batch.Request.Version}";
        span.SetTag("adjoint.graph", batch.Request.GraphId);
        span.SetTag("adjoint.version", batch.Request.Version);
        span.SetTag("adjoint.batch", batch.Request.Id.ToString());
        span.SetTag("adjoint.evaluation", local);
        return span;
    }

    private static void EndSpan(Evaluation evaluation, string outcome)
    {
        if (evaluation.Span is not { } span) return;
        span.SetTag("adjoint.outcome", outcome);
        if (outcome != "ok") span.SetStatus(ActivityStatusCode.Error, outcome);
        span.Stop();
    }

    private void Complete(int number, Evaluation evaluation, EvaluationResult result)
    {
        _inFlight.Remove(number);
        Telemetry.Completed(evaluation.Batch.Request.GraphId, result.Failure is null);
        EndSpan(evaluation, result.Failure is null ? "ok" : "failed");
        _deadlines.Completed(evaluation.Started, Stopwatch.GetTimestamp());
        var batch = evaluation.Batch;
        batch.Results[evaluation.Local] = result;
        batch.InFlight--;
        batch.Completed++;
        board.Completed(batch.Progress, result.Failure is not null);
        batch.Progress.InFlight(batch.InFlight);
        if (batch.Completed == batch.Results.Length) batch.Done.TrySetResult();
        else Refill(batch);
        // Room beyond the evaluations still to complete goes to the batches waiting for it.
        if (batch.Room is { } room) _admission.Shrink(room, Math.Min(Math.Max(1, batch.Request.Window), batch.Results.Length - batch.Completed));
    }

    /// <inheritdoc/>
    public Task Report(Report[] reports)
    {
        foreach (var report in reports)
        {
            // Reports of finished (failed, abandoned) evaluations find nothing and are dropped.
            if (!_inFlight.TryGetValue(report.Index, out var evaluation)) continue;
            var plan = evaluation.Batch.Graph.Plan;
            switch (report.Kind)
            {
                case ReportKind.Failure:
                    // The first failure decides.
                    Complete(report.Index, evaluation, new EvaluationResult { Failure = report.Failure });
                    continue;
                case ReportKind.Value:
                    if (report.Position == plan.Output) evaluation.Output = report.Tensor;
                    if (evaluation.Batch.Request.ReportValues) evaluation.Values[plan.Ids[report.Position]] = report.Tensor!;
                    break;
                case ReportKind.Adjoint:
                    evaluation.Adjoints[plan.Ids[report.Position]] = report.Tensor!;
                    break;
                case ReportKind.Done:
                    break;
                case ReportKind.Timing:
                    evaluation.Timings?.Add(report.Timing!);
                    break;
            }
            if (--evaluation.Pending == 0)
                Complete(report.Index, evaluation, new EvaluationResult
                {
                    Output = evaluation.Output, Values = evaluation.Values, Adjoints = evaluation.Adjoints, Timings = evaluation.Timings ?? [],
                });
        }
        Flush();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task Cancel(Guid batch)
    {
        if (!_batches.TryGetValue(batch, out var running))
        {
            // The cancellation overtook its Run: remember it, so that the Run ends at once.
            if (_cancelledEarly.Add(batch) && _cancelledEarly.Count > 1024) _cancelledEarly.Clear();
            return Task.CompletedTask;
        }
        if (running.Done.Task.IsCompleted) return Task.CompletedTask;
        Abandon(running);
        running.Done.TrySetCanceled();
        return Task.CompletedTask;
    }

    // Tells every node to drop the state of the batch's evaluations, and starts no more of them.
    private void Abandon(Batch batch)
    {
        batch.Next = batch.Results.Length;
        foreach (var (number, evaluation) in _inFlight.Where(e => e.Value.Batch == batch).ToList())
        {
            _inFlight.Remove(number);
            Telemetry.Dropped(batch.Request.GraphId);
            EndSpan(evaluation, "abandoned");
        }
        foreach (var key in _outStarts.Keys.Where(k => k.Item1 == batch).ToList()) _outStarts.Remove(key);
        AbandonNumbers(batch.Graph, [(batch.First, batch.Results.Length), .. Ranges(batch.RerunNumbers)]);
    }

    private void AbandonNumbers(DeployedGraph graph, List<(int First, int Count)> ranges)
    {
        var me = this.GetPrimaryKey();
        for (var p = 0; p < graph.Plan.Count; p++)
            foreach (var (first, count) in ranges) _ = graph.Node(p).Abandon(me, first, count);
    }

    // Sorted numbers as contiguous ranges.
    private static List<(int First, int Count)> Ranges(IEnumerable<int> numbers)
    {
        var ranges = new List<(int First, int Count)>();
        foreach (var n in numbers.Order())
        {
            if (ranges.Count > 0 && ranges[^1].First + ranges[^1].Count == n) ranges[^1] = (ranges[^1].First, ranges[^1].Count + 1);
            else ranges.Add((n, 1));
        }
        return ranges;
    }

    // ---- Faults: a silo lost (membership) or an evaluation overdue (timeout) re-runs evaluations. ----

    private HashSet<SiloAddress> _active = [];
    // Silos shutting down or stopping: still holding grains, and messages sent to them may be lost.
    private HashSet<SiloAddress> _leaving = [];
    private MembershipVersion _seen = MembershipVersion.MinValue;
    private readonly EvaluationDeadlines _deadlines = new();
    /// <summary>Re-runs since activation (all batches), for tests and diagnostics.</summary>
    private int _reruns;

    /// <inheritdoc/>
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Telemetry.Activation(silo.SiloAddress.ToString(), "coordinator", +1);
        ObserveMembership();
        this.RegisterGrainTimer(Watch, new GrainTimerCreationOptions(WatchPeriod, WatchPeriod) { Interleave = true });
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Telemetry.Activation(silo.SiloAddress.ToString(), "coordinator", -1);
        return Task.CompletedTask;
    }

    private static readonly TimeSpan WatchPeriod = TimeSpan.FromMilliseconds(100);

    // Whether a silo that was active is active no more (shutting down, stopping, dead), or one that was
    // leaving is gone. A silo stopped gracefully leaves in steps (ShuttingDown, Stopping, Dead) and keeps its
    // grains until its last: the re-runs sent when it began to leave may reach grains that are deactivating
    // and be dropped with them, so what is in flight when it is gone is re-run once more.
    private bool ObserveMembership()
    {
        var snapshot = membership.CurrentSnapshot;
        if (snapshot.Version == _seen) return false;
        _seen = snapshot.Version;
        var members = snapshot.Members.Values;
        var active = members.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
        var leaving = members.Where(m => m.Status is SiloStatus.ShuttingDown or SiloStatus.Stopping).Select(m => m.SiloAddress).ToHashSet();
        var lost = _active.Any(s => !active.Contains(s)) || _leaving.Any(s => !leaving.Contains(s));
        _active = active;
        _leaving = leaving;
        return lost;
    }

    private Task Watch(CancellationToken cancellationToken)
    {
        if (_batches.Count > 0 && membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) is not (SiloStatus.Active or SiloStatus.Joining or SiloStatus.Created))
        {
            // This silo is shutting down: its nodes may be gone before the batches end, and a graceful
            // stop would hold each Run until the deactivation timeout. Hand them back to their clients
            // now, which resubmit them to a coordinator on a silo that stays.
            HandBack($"its silo {silo.SiloAddress} is shutting down");
            return Task.CompletedTask;
        }
        if (_inFlight.Count == 0)
        {
            ObserveMembership();
            return Task.CompletedTask;
        }
        if (ObserveMembership())
        {
            // Any evaluation in flight may have had state or messages on the lost silo.
            Rerun([.. _inFlight.Values], timedOut: false);
            return Task.CompletedTask;
        }
        var now = Stopwatch.GetTimestamp();
        List<Evaluation> overdue = [.. _inFlight.Values.Where(e => _deadlines.For(e.Batch.Request) is { } t
            && Stopwatch.GetElapsedTime(e.Started, now) > t * (1 << Math.Min(e.Timeouts, 10)))];
        if (overdue.Count > 0) Rerun(overdue, timedOut: true);
        return Task.CompletedTask;
    }

    // Re-runs evaluations under new numbers: the old numbers' state is abandoned in every node and their
    // late reports find nothing, so each result slot is filled exactly once, from the current attempt.
    private void Rerun(List<Evaluation> evaluations, bool timedOut)
    {
        var me = this.GetPrimaryKey();
        foreach (var batch in evaluations.GroupBy(e => e.Batch))
        {
            var old = new List<int>();
            foreach (var e in batch)
            {
                _inFlight.Remove(e.Number);
                old.Add(e.Number);
                var number = _nextNumber++;
                batch.Key.RerunNumbers.Add(number);
                batch.Key.Reruns++;
                _reruns++;
                StartEvaluation(batch.Key, e.Local, number, e.Attempt + 1, e.Timeouts + (timedOut ? 1 : 0), me, e.Span);
            }
            AbandonNumbers(batch.Key.Graph, Ranges(old));
            batch.Key.Progress.Rerun(old.Count);
            var request = batch.Key.Request;
            Telemetry.Reruns(request.GraphId, old.Count);
            Events.Rerun(Log, old.Count, request.Id, request.GraphId, request.Version, timedOut ? Events.TimedOut : Events.SiloLost, batch.Key.Reruns);
        }
        Flush();
    }

    // Batches this activation has run, the last RememberedBatches of them: a watchdog asking about a
    // batch that has just finished (its results on their way) must not take it for lost.
    private readonly HashSet<Guid> _known = [];
    private readonly Queue<Guid> _knownOrder = new();
    private const int RememberedBatches = 4096;

    private void Remember(Guid batch)
    {
        if (!_known.Add(batch)) return;
        _knownOrder.Enqueue(batch);
        if (_knownOrder.Count > RememberedBatches) _known.Remove(_knownOrder.Dequeue());
    }

    // ---- Deactivation: Orleans deactivates a coordinator whose grain-directory entry was on a silo that
    // died, and first waits for its running requests to end. A Run ends only when reports arrive, and they
    // queue behind the deactivation: the two would wait for each other for MaxRequestProcessingTime (two
    // hours). So a deactivating coordinator ends its batches at once, and the client resubmits them. ----

    // Deactivating is announced only on Orleans' diagnostic listener (a public API that "may change between
    // minor versions"; the version is pinned in Directory.Packages.props). Every silo of the process shares
    // the one subscription.
    static CoordinatorGrain() => GrainLifecycleEvents.AllEvents.Subscribe(new DeactivationObserver());

    private sealed class DeactivationObserver : IObserver<GrainLifecycleEvents.LifecycleEvent>
    {
        public void OnNext(GrainLifecycleEvents.LifecycleEvent e)
        {
            // Raised under the activation's lock on any thread: the work goes to the grain's own scheduler,
            // which still runs while the activation is deactivating.
            if (e is GrainLifecycleEvents.Deactivating deactivating && e.GrainContext.GrainInstance is CoordinatorGrain coordinator)
                e.GrainContext.Scheduler.QueueAction(() => coordinator.Deactivating(deactivating.Reason));
        }

        public void OnError(Exception error) { }

        public void OnCompleted() { }
    }

    // Ends every unfinished batch with CoordinatorLostException (its nodes told to drop it): the client
    // resubmits it to a fresh coordinator, so nothing is counted twice.
    private void HandBack(string why)
    {
        foreach (var batch in _batches.Values.Where(b => !b.Done.Task.IsCompleted).ToList())
        {
            Abandon(batch);
            Events.HandBack(Log, batch.Request.Id, batch.Request.GraphId, batch.Request.Version, why, batch.Completed, batch.Results.Length);
            batch.Done.TrySetException(new CoordinatorLostException(batch.Request.Id,
                $"{why} with {batch.Completed} of {batch.Results.Length} evaluations complete"));
        }
        Flush();
    }

    private void Deactivating(DeactivationReason reason)
    {
        HandBack($"it was deactivated ({reason})");
    }

    /// <inheritdoc/>
    public Task<int[]> InFlight(int[] numbers) => Task.FromResult(numbers.Where(_inFlight.ContainsKey).ToArray());

    /// <inheritdoc/>
    public Task<bool> Knows(Guid batch) => Task.FromResult(_known.Contains(batch));

    /// <inheritdoc/>
    public Task<CoordinatorStatus> Status() => Task.FromResult(new CoordinatorStatus(silo.SiloAddress.ToString(), _reruns)
    {
        InFlight = _inFlight.Count,
        PeakInFlight = _peakInFlight,
        Waiting = _admission.Waiting,
    });
}
