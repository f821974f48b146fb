// A graph version as a silo runs it in one layout: the core's compiled plan, the partition of each node,
// node grain references; loaded once per silo and shared by the node grains and coordinators there.
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Adjoint.Grains;

/// <summary>One deployed graph version compiled by the core, placed in one layout (a partition count and
/// the core's assignment for it).</summary>
public sealed class DeployedGraph
{
    private readonly INodeGrain[] _nodes;

    /// <summary>A version in a layout; node grain references come from <paramref name="grains"/>.</summary>
    public DeployedGraph(string graphId, int version, GraphLayout layout, Graph graph, Plan plan, IGrainFactory grains)
    {
        GraphId = graphId;
        Version = version;
        Layout = layout.Generation;
        Graph = graph;
        Plan = plan;
        Partitions = layout.Partitions;
        // The core's assignment is a function of the plan and the count: every silo computes the same one.
        Parts = Partition.assign(plan, layout.Partitions);
        _nodes = new INodeGrain[Plan.Count];
        for (var p = 0; p < Plan.Count; p++)
            _nodes[p] = grains.GetGrain<INodeGrain>(NodeKey.Format(graphId, version, Layout, Parts[p], Plan.Ids[p]));
    }

    /// <summary>The graph id.</summary>
    public string GraphId { get; }
    /// <summary>The version.</summary>
    public int Version { get; }
    /// <summary>The layout generation (1, 2, …: a new one each time the version is re-partitioned).</summary>
    public int Layout { get; }
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

    /// <summary>The core's adjoint mode for a protocol mode (All for None, which runs no backward pass).</summary>
    public static Adjoints CoreMode(AdjointMode mode) =>
        mode == AdjointMode.InputsAndParameters ? Adjoints.InputsAndParameters : Adjoints.All;

    /// <summary>What an evaluation in a protocol mode computes and reports, in the core's terms: the one
    /// place where the wire's mode becomes the core's <see cref="Adjoint.Reporting"/>.</summary>
    public static Reporting Reporting(AdjointMode mode, bool reportValues) =>
        new(mode != AdjointMode.None, CoreMode(mode), reportValues);

    /// <summary>Whether λ_p is computed in this mode (never in a forward-only evaluation): the core's pruning
    /// (which adjoints an evaluation computes does not depend on whether it reports values).</summary>
    public bool NeedsAdjoint(AdjointMode mode, int p) => Reporting(mode, false).ComputesAdjoint(Plan, p);

    /// <summary>Whether node p reaches z_n.</summary>
    public bool ReachesOutput(int p) => Plan.NeedsAdjoint(Adjoints.All, p);

    /// <summary>Whether node p reports its λ in this mode, as the core decides.</summary>
    public bool ReportsAdjoint(AdjointMode mode, int p) => Reporting(mode, false).ReportsAdjoint(Plan, p);
}

/// <summary>
/// The per-silo cache of deployed graph versions: each version's graph and plan fetched from the graph
/// grain once per silo, and its layouts. A coordinator takes the current layout once per batch and keeps
/// it for the whole batch; a node grain's key names its layout, so a re-partitioned version gets fresh
/// activations and an old layout's batches still complete on the old ones.
/// </summary>
public sealed class DeployedGraphCache(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<(string, int), Lazy<Task<(Graph, Plan)>>> _versions = new();
    private readonly ConcurrentDictionary<(string, int, int), Lazy<Task<DeployedGraph>>> _layouts = new();

    /// <summary>The version in its current layout (one call to the graph grain, to learn that layout).</summary>
    public async Task<DeployedGraph> Current(string graphId, int version)
    {
        var layout = await Settled(() => grains.GetGrain<IGraphGrain>(graphId).Layout(version, 0));
        return await Get(graphId, version, layout);
    }

    /// <summary>The version in the given layout generation, loading it on first use.</summary>
    public Task<DeployedGraph> Get(string graphId, int version, int layout) =>
        Cached(_layouts, (graphId, version, layout), async () =>
            await Build(graphId, version, await Settled(() => grains.GetGrain<IGraphGrain>(graphId).Layout(version, layout))));

    /// <summary>The version in a layout the caller already knows.</summary>
    public Task<DeployedGraph> Get(string graphId, int version, GraphLayout layout) =>
        Cached(_layouts, (graphId, version, layout.Generation), () => Build(graphId, version, layout));

    /// <summary>Forgets a version and all its layouts (after undeploy).</summary>
    public void Evict(string graphId, int version)
    {
        _versions.TryRemove((graphId, version), out _);
        foreach (var key in _layouts.Keys.Where(k => k.Item1 == graphId && k.Item2 == version).ToList())
            _layouts.TryRemove(key, out _);
    }

    /// <summary>Whether this silo holds a version (tests of eviction).</summary>
    public bool Holds(string graphId, int version) => _versions.ContainsKey((graphId, version));

    private async Task<DeployedGraph> Build(string graphId, int version, GraphLayout layout)
    {
        var (graph, plan) = await Cached(_versions, (graphId, version), async () =>
        {
            var spec = await Settled(() => grains.GetGrain<IGraphGrain>(graphId).GetSpec(version));
            var g = GraphFile.parse(spec.Json, null);
            return (g, Plan.Compile(g));
        });
        // Older layouts of the version leave the cache: what still runs on them holds its own reference,
        // and a late activation of one loads it again.
        foreach (var key in _layouts.Keys.Where(k => k.Item1 == graphId && k.Item2 == version && k.Item3 < layout.Generation).ToList())
            _layouts.TryRemove(key, out _);
        return new DeployedGraph(graphId, version, layout, graph, plan, grains);
    }

    // A failed load is forgotten, so that a later call retries.
    private static async Task<TValue> Cached<TKey, TValue>(ConcurrentDictionary<TKey, Lazy<Task<TValue>>> cache, TKey key, Func<Task<TValue>> load)
        where TKey : notnull
    {
        var lazy = cache.GetOrAdd(key, _ => new Lazy<Task<TValue>>(load));
        try
        {
            return await lazy.Value;
        }
        catch
        {
            cache.TryRemove(new KeyValuePair<TKey, Lazy<Task<TValue>>>(key, lazy));
            throw;
        }
    }

    /// <summary>How long a load keeps asking while the graph grain's silo goes away: within Orleans' 30 s
    /// activation timeout, well beyond the seconds a stopping silo takes to leave.</summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(20);

    // A node grain activated (a message for it arrived) while the graph grain's silo stops or has just died
    // would fail its activation, and the one-way message that caused it would be dropped: the graph grain
    // answers again once it is activated elsewhere, so ask again, backing off from 50 ms to 1 s.
    private static async Task<T> Settled<T>(Func<Task<T>> ask)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await ask();
            }
            catch (Exception e) when ((SiloLoss.Is(e) || e is TimeoutException) && clock.Elapsed < SettleTime)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 << Math.Min(attempt, 5))));
            }
        }
    }
}

/// <summary>Node grain keys: graphId/version/layout/partition/nodeId. The partition is in the key so that
/// the placement director needs no lookup; the layout generation so that a re-partitioned version gets
/// fresh activations (none of an old layout ever serves a batch of the new one).</summary>
public static class NodeKey
{
    /// <summary>The key of a node grain.</summary>
    public static string Format(string graphId, int version, int layout, int partition, string nodeId) =>
        $"{graphId}/{version}/{layout}/{partition}/{nodeId}";

    /// <summary>Splits a node grain key (the node id may itself contain '/').</summary>
    public static (string GraphId, int Version, int Layout, int Partition, string NodeId) Parse(string key)
    {
        var parts = key.Split('/', 5);
        if (parts.Length != 5 || !int.TryParse(parts[1], out var version) || !int.TryParse(parts[2], out var layout) || !int.TryParse(parts[3], out var partition))
            throw new ArgumentException($"'{key}' is not a node key graphId/version/layout/partition/nodeId", nameof(key));
        return (parts[0], version, layout, partition, parts[4]);
    }

    /// <summary>
    /// Where a parameter's value and optimizer moments are stored: by graph, version and node alone, so
    /// that they survive re-partitioning (a layout is placement, not a new model).
    /// </summary>
    public static GrainId Parameter(string graphId, int version, string nodeId) =>
        GrainId.Create("adjoint-parameter", $"{graphId}/{version}/{nodeId}");
}
