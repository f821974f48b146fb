// A graph version as a silo runs it: the core's compiled plan, the partition of each node, node grain
// references; loaded once per silo and shared by the node grains and coordinators there.
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Adjoint.Grains;

/// <summary>One deployed graph version compiled by the core, with the partition of every plan position.</summary>
public sealed class DeployedGraph
{
    private readonly INodeGrain[] _nodes;

    /// <summary>Compiles a version from its spec; node grain references come from <paramref name="grains"/>.</summary>
    public DeployedGraph(string graphId, int version, GraphSpec spec, IGrainFactory grains)
    {
        GraphId = graphId;
        Version = version;
        Graph = GraphFile.parse(spec.Json, null);
        Plan = Plan.Compile(Graph);
        Partitions = spec.Partitions;
        Parts = spec.Parts;
        _nodes = new INodeGrain[Plan.Count];
        for (var p = 0; p < Plan.Count; p++)
            _nodes[p] = grains.GetGrain<INodeGrain>(NodeKey.Format(graphId, version, Parts[p], Plan.Ids[p]));
    }

    /// <summary>The graph id.</summary>
    public string GraphId { get; }
    /// <summary>The version.</summary>
    public int Version { get; }
    /// <summary>The validated graph.</summary>
    public Graph Graph { get; }
    /// <summary>The core's plan: order, ancestors, successors in summation order, NeedsAdjoint.</summary>
    public Plan Plan { get; }
    /// <summary>The number of partitions.</summary>
    public int Partitions { get; }
    /// <summary>The partition of each plan position.</summary>
    public int[] Parts { get; }

    /// <summary>The grain of the node at plan position p.</summary>
    public INodeGrain Node(int p) => _nodes[p];

    /// <summary>The core's pruning mode for a protocol mode.</summary>
    public static Adjoints CoreMode(AdjointMode mode) =>
        mode == AdjointMode.InputsAndParameters ? Adjoints.InputsAndParameters : Adjoints.All;

    /// <summary>Whether λ_p is computed in this mode (never in a forward-only evaluation).</summary>
    public bool NeedsAdjoint(AdjointMode mode, int p) => mode != AdjointMode.None && Plan.NeedsAdjoint(CoreMode(mode), p);

    /// <summary>Whether node p reaches z_n.</summary>
    public bool ReachesOutput(int p) => Plan.NeedsAdjoint(Adjoints.All, p);

    /// <summary>Whether node p reports its λ in this mode: every computed λ for All, the leaves' otherwise.</summary>
    public bool ReportsAdjoint(AdjointMode mode, int p) =>
        NeedsAdjoint(mode, p)
        && (mode == AdjointMode.All || Plan.Op(p).Kind is OpKind.Input or OpKind.Parameter);
}

/// <summary>The per-silo cache of deployed graph versions, fetched from the graph grain once per silo.</summary>
public sealed class DeployedGraphCache(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<(string, int), Lazy<Task<DeployedGraph>>> _cache = new();

    /// <summary>The version, loading it on first use; a failed load is forgotten, so a later call retries.</summary>
    public async Task<DeployedGraph> Get(string graphId, int version)
    {
        var key = (graphId, version);
        var lazy = _cache.GetOrAdd(key, k => new Lazy<Task<DeployedGraph>>(() => Load(k.Item1, k.Item2)));
        try
        {
            return await lazy.Value;
        }
        catch
        {
            _cache.TryRemove(new KeyValuePair<(string, int), Lazy<Task<DeployedGraph>>>(key, lazy));
            throw;
        }
    }

    /// <summary>Forgets a version (after undeploy).</summary>
    public void Evict(string graphId, int version) => _cache.TryRemove((graphId, version), out _);

    /// <summary>How long a load keeps asking while the graph grain's silo goes away: within Orleans' 30 s
    /// activation timeout, well beyond the seconds a stopping silo takes to leave.</summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(20);

    // A node grain activated (a message for it arrived) while the graph grain's silo stops or has just died
    // would fail its activation, and the one-way message that caused it would be dropped: the graph grain
    // answers again once it is activated elsewhere, so ask again, backing off from 50 ms to 1 s.
    private async Task<DeployedGraph> Load(string graphId, int version)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var spec = await grains.GetGrain<IGraphGrain>(graphId).GetSpec(version);
                return new DeployedGraph(graphId, version, spec, grains);
            }
            catch (Exception e) when ((SiloLoss.Is(e) || e is TimeoutException) && clock.Elapsed < SettleTime)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 << Math.Min(attempt, 5))));
            }
        }
    }
}

/// <summary>Node grain keys: graphId/version/partition/nodeId. The partition is in the key so that the
/// placement director needs no lookup.</summary>
public static class NodeKey
{
    /// <summary>The key of a node grain.</summary>
    public static string Format(string graphId, int version, int partition, string nodeId) =>
        $"{graphId}/{version}/{partition}/{nodeId}";

    /// <summary>Splits a node grain key (the node id may itself contain '/').</summary>
    public static (string GraphId, int Version, int Partition, string NodeId) Parse(string key)
    {
        var parts = key.Split('/', 4);
        if (parts.Length != 4 || !int.TryParse(parts[1], out var version) || !int.TryParse(parts[2], out var partition))
            throw new ArgumentException($"'{key}' is not a node key graphId/version/partition/nodeId", nameof(key));
        return (parts[0], version, partition, parts[3]);
    }
}
