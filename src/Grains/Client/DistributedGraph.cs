// The client side of the distributed engine: deploy a graph, run batches, train, in the core's types.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adjoint.Grains;

/// <summary>How a batch runs.</summary>
public sealed class BatchOptions
{
    /// <summary>Which passes and which adjoints (default: All).</summary>
    public AdjointMode Mode { get; init; } = AdjointMode.All;
    /// <summary>Return every node's value, not only z_n.</summary>
    public bool ReportValues { get; init; }
    /// <summary>Evaluations in flight at once.</summary>
    public int Window { get; init; } = 64;
    /// <summary>Fail the batch after this long.</summary>
    public TimeSpan? Timeout { get; init; }
    /// <summary>Re-run an evaluation not complete after this long (each further attempt waits twice as
    /// long); null: evaluations are re-run only when a silo leaves.</summary>
    public TimeSpan? EvaluationTimeout { get; init; }
    /// <summary>Without <see cref="EvaluationTimeout"/>: re-run an evaluation not complete after a timeout adapted
    /// to the evaluation latency the coordinator observes (10 ×, at least 2 s; 10 s before the first completes),
    /// doubling per attempt. The facade's default.</summary>
    public bool AdaptiveEvaluationTimeout { get; init; }
    /// <summary>How often the client asks the coordinator whether it still runs the batch; two answers
    /// "unknown" in a row (its silo was lost and a fresh activation answers) resubmit the batch.
    /// Null: no watchdog (a batch whose coordinator is lost then fails only when Orleans reports it).</summary>
    public TimeSpan? CoordinatorCheck { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Every evaluation reports its node steps' timings (<see cref="EvaluationResult.Timings"/>).</summary>
    public bool Timing { get; init; }
    /// <summary>Trace every n-th evaluation (1: all) through the activity source "Adjoint"; 0: as the silo says.</summary>
    public int TraceEvery { get; init; }
}

/// <summary>A graph in a cluster, seen from a client (or a grain): deploy, evaluate in batches, train.</summary>
public sealed class DistributedGraph(IGrainFactory grains, string graphId)
{
    // One coordinator per handle, reused by every batch (concurrent ones too): no activation per batch.
    private ICoordinatorGrain _coordinator = grains.GetGrain<ICoordinatorGrain>(Guid.NewGuid());

    /// <summary>The coordinator the next batch goes to (a fresh one after the last was lost with its silo).</summary>
    public ICoordinatorGrain Coordinator => _coordinator;

    /// <summary>Batches resubmitted to a fresh coordinator because the last one was lost: the call failed with its
    /// silo, or it was deactivated mid-batch (<see cref="CoordinatorLostException"/>).</summary>
    public int Resubmits => _resubmits;
    private int _resubmits;

    /// <summary>How often one batch is resubmitted after silo losses before the failure is passed on.</summary>
    public const int MaxResubmits = 3;

    /// <summary>The graph id.</summary>
    public string GraphId { get; } = graphId;

    /// <summary>The message size limit a batch's inputs are checked against before it is sent
    /// (default: the client's Orleans MaxMessageBodySize).</summary>
    public MessageSize MessageSize { get; init; } = MessageSize.Of(grains);

    /// <summary>Where resubmits are logged (default: nowhere; AdjointClient passes its own logger).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>The graph grain.</summary>
    public IGraphGrain Grain => grains.GetGrain<IGraphGrain>(GraphId);

    /// <summary>Deploys a graph built or loaded with the core (0 partitions: one per active silo). The same
    /// graph gives its version back with its parameters, re-partitioned if the count differs
    /// (<see cref="IGraphGrain.Deploy"/>).</summary>
    /// <exception cref="GraphRejectedException">The graph does not fit in one message (checked before it
    /// is sent), or the cluster rejected it.</exception>
    public Task<DeployResult> Deploy(Graph graph, int partitions = 0)
    {
        var json = GraphFile.toCompactJson(graph);
        MessageSize.CheckGraph(graph, json);
        return Grain.Deploy(json, partitions);
    }

    /// <summary>
    /// The current value of every parameter of a version, by node id, read by pages that fit in this
    /// client's message size limit (a model's parameters together may be far larger than one message).
    /// </summary>
    public Task<Dictionary<string, TensorData>> ReadParameters(int version, CancellationToken cancellationToken = default) =>
        ReadPages(async from =>
        {
            var page = await Grain.ReadParameterPage(version, from, MessageSize.Budget);
            return (page.Values, page.Next);
        }, cancellationToken);

    /// <summary>The optimizer moments of every parameter of a version, by node id, read by pages.</summary>
    public Task<Dictionary<string, ParameterMoments>> ReadMoments(int version, CancellationToken cancellationToken = default) =>
        ReadPages(async from =>
        {
            var page = await Grain.ReadMomentsPage(version, from, MessageSize.Budget);
            return (page.Moments, page.Next);
        }, cancellationToken);

    // Pages from 0 until one says none is left (−1).
    private static async Task<Dictionary<string, T>> ReadPages<T>(Func<int, Task<(Dictionary<string, T> Items, int Next)>> page, CancellationToken cancellationToken)
    {
        var all = new Dictionary<string, T>();
        for (var from = 0; from >= 0;)
        {
            var (items, next) = await page(from).WaitAsync(cancellationToken);
            foreach (var (id, item) in items) all[id] = item;
            from = next;
        }
        return all;
    }

    /// <summary>
    /// One optimizer step in every parameter named, with the gradient given for it, under a fresh step id
    /// (see the overload that takes one).
    /// </summary>
    public Task Step(int version, OptimizerSettings settings, IReadOnlyDictionary<string, TensorData> gradients, CancellationToken cancellationToken = default) =>
        Step(version, settings, gradients, Guid.NewGuid(), cancellationToken);

    /// <summary>
    /// One optimizer step in every parameter named, with the gradient given for it. The gradients go in
    /// as many messages as they need (each parameter's step is its own, so splitting changes nothing).
    /// Each parameter applies step <paramref name="step"/> at most once: after a failure
    /// (<see cref="StorageFailedException"/>, a lost silo) the same call with the same id finishes the
    /// step without counting it twice where it had already been applied.
    /// </summary>
    /// <exception cref="ArgumentException">One gradient alone is over the message size limit (checked before
    /// anything is sent; no parameter is stepped).</exception>
    public async Task Step(int version, OptimizerSettings settings, IReadOnlyDictionary<string, TensorData> gradients, Guid step, CancellationToken cancellationToken = default)
    {
        var items = gradients.ToList();
        static long Bytes(KeyValuePair<string, TensorData> g) => MessageSize.ParameterBytes(g.Key, g.Value.Data.LongLength);
        foreach (var g in items)
            if (Bytes(g) > MessageSize.Budget)
                throw new ArgumentException($"parameter '{g.Key}': {MessageSize.TooLarge("a gradient", g.Value.ShapeOf())}", nameof(gradients));
        foreach (var part in MessageSize.Split(items, Bytes))
            await Grain.Step(version, settings, part.ToDictionary(g => g.Key, g => g.Value), step).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Evaluates a version once per input set (null or empty: stored values only); results in the order
    /// of the input sets. Cancelling the token cancels the batch in the cluster.
    /// </summary>
    public async Task<List<EvaluationResult>> Evaluate(
        int version, IEnumerable<IReadOnlyDictionary<string, Tensor>?> inputs, BatchOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new BatchOptions();
        var request = new BatchRequest
        {
            GraphId = GraphId,
            Version = version,
            Inputs = [.. inputs.Select(set => (IReadOnlyDictionary<string, TensorData>)(set ?? new Dictionary<string, Tensor>())
                .ToDictionary(kv => kv.Key, kv => TensorData.From(kv.Value)))],
            Mode = options.Mode,
            ReportValues = options.ReportValues,
            Window = options.Window,
            Timeout = options.Timeout,
            EvaluationTimeout = options.EvaluationTimeout,
            AdaptiveEvaluationTimeout = options.AdaptiveEvaluationTimeout,
            Timing = options.Timing,
            TraceEvery = options.TraceEvery,
        };
        // Orleans neither sends an oversized request nor says so to the caller: refuse it here, by name.
        MessageSize.CheckInputs(request.Inputs);
        for (var attempt = 0; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var coordinator = _coordinator;
            await using var registration = cancellationToken.Register(() => _ = coordinator.Cancel(request.Id));
            try
            {
                return await CoordinatorWatchdog.Run(coordinator, request, options.CoordinatorCheck, cancellationToken);
            }
            catch (Exception e) when (attempt < MaxResubmits && (SiloLoss.Is(e) || e is CoordinatorLostException) && !cancellationToken.IsCancellationRequested)
            {
                // The coordinator (or the gateway to it) went with its silo, or was deactivated because the
                // silo holding its directory entry died: the whole batch goes to a fresh coordinator under a
                // new id. Results are the same because parameters change only between
                // batches; nodes drop what they still hold of the lost coordinator's evaluations.
                Interlocked.Increment(ref _resubmits);
                Interlocked.CompareExchange(ref _coordinator, grains.GetGrain<ICoordinatorGrain>(Guid.NewGuid()), coordinator);
                // If the old batch still runs somewhere after all (a false alarm), it stops; if its Run has not
                // arrived yet, it ends at once when it does: results come from the new batch only.
                _ = coordinator.Cancel(request.Id).ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                _ = AbandonAll(coordinator.GetPrimaryKey(), version);
                var resubmitted = request with { Id = Guid.NewGuid() };
                Events.Resubmit(Logger, request.Id, GraphId, version, resubmitted.Id, attempt + 1, MaxResubmits, $"{e.GetType().Name}: {e.Message}");
                request = resubmitted;
            }
        }
    }

    // Every node of the version drops the state of a lost coordinator's evaluations. In the background,
    // so that the resubmitted batch need not wait: its new coordinator's evaluations are apart. Retried
    // while the cluster settles (the graph grain may have gone with the same silo); whatever is still
    // missed, the nodes reclaim themselves (AdjointSiloOptions.ReclaimAfter).
    private async Task AbandonAll(Guid coordinator, int version)
    {
        for (var attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                var description = await Grain.Describe(version);
                await Task.WhenAll(description.Assignment.Select(kv =>
                    grains.GetGrain<INodeGrain>(NodeKey.Format(GraphId, description.Version, description.Layout, kv.Value, kv.Key)).Abandon(coordinator, 0, int.MaxValue)));
                return;
            }
            catch (Exception e) when (SiloLoss.Is(e) || e is TimeoutException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 << Math.Min(attempt, 4)));
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    /// <summary>The gradient summed over the batch's successful evaluations, parameter by parameter,
    /// in submission order.</summary>
    public static Dictionary<string, TensorData> SumParameterAdjoints(IEnumerable<EvaluationResult> results, IEnumerable<string> parameters)
    {
        var succeeded = results.Where(r => r.Succeeded).ToList();
        return parameters
            .Select(id => (Id: id, Terms: succeeded.Where(r => r.Adjoints.ContainsKey(id)).Select(r => r.Adjoints[id].ToTensor()).ToList()))
            .Where(p => p.Terms.Count > 0)
            .ToDictionary(p => p.Id, p => TensorData.From(Optimizer.sumInOrder(p.Terms)));
    }
}
