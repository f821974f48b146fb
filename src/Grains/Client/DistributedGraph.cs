// The client side of the distributed engine: deploy a graph, run batches, train, in the core's types.
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
}

/// <summary>A graph in a cluster, seen from a client (or a grain): deploy, evaluate in batches, train.</summary>
public sealed class DistributedGraph(IGrainFactory grains, string graphId)
{
    // One coordinator per handle, reused by every batch (concurrent ones too): no activation per batch.
    private readonly ICoordinatorGrain _coordinator = grains.GetGrain<ICoordinatorGrain>(Guid.NewGuid());

    /// <summary>The graph id.</summary>
    public string GraphId { get; } = graphId;

    /// <summary>The graph grain.</summary>
    public IGraphGrain Grain => grains.GetGrain<IGraphGrain>(GraphId);

    /// <summary>Deploys a graph built or loaded with the core (0 partitions: one per active silo).</summary>
    public Task<DeployResult> Deploy(Graph graph, int partitions = 0) => Grain.Deploy(GraphFile.toJson(graph), partitions);

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
        };
        cancellationToken.ThrowIfCancellationRequested();
        await using var registration = cancellationToken.Register(() => _ = _coordinator.Cancel(request.Id));
        return await _coordinator.Run(request);
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
