// What the live web view shows, read from the cluster: deployed graphs and their DAGs with each node's silo, silos, running batches.
using Adjoint.Grains;
using Orleans.Runtime;

namespace Adjoint.Host;

/// <summary>
/// Reads the cluster for the web view through the silo's own services: the model registry and the
/// per-silo graph cache (the plan and the partitioner's assignment the silos run), the placement
/// director's rule (partition p on the p-th active silo in <see cref="SiloOrder"/>), membership, and each
/// silo's <see cref="ISiloBoardGrain"/>.
/// </summary>
public sealed class ClusterView(IGrainFactory grains, IClusterMembershipService membership, DeployedGraphCache cache, NodeTimes times)
{
    /// <summary>Graphs with more nodes are listed but not drawn: an SVG of them would say nothing.</summary>
    public const int MaxDrawnNodes = 400;

    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Every deployed graph and its versions, the latest last.</summary>
    public async Task<List<GraphEntry>> Graphs()
    {
        var models = await grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).List().WaitAsync(CallTimeout);
        return [.. models.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => new GraphEntry(m.Key, m.Value))];
    }

    /// <summary>A version of a graph (0: the latest) as a DAG laid out in layers, or null if it is not deployed.</summary>
    public async Task<GraphView?> Graph(string graphId, int version)
    {
        var models = await grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).List().WaitAsync(CallTimeout);
        if (!models.TryGetValue(graphId, out var versions) || versions.Length == 0) return null;
        var summary = version == 0 ? versions[^1] : versions.FirstOrDefault(v => v.Version == version);
        if (summary is null) return null;
        var deployed = await cache.Current(graphId, summary.Version).WaitAsync(CallTimeout);
        var silos = ActiveSilos();
        var plan = deployed.Plan;
        if (plan.Count > MaxDrawnNodes)
            return new GraphView(graphId, summary.Version, deployed.Partitions, plan.Ids[plan.Output], plan.Count, false, silos, [], times.Read());
        var (depth, order) = DagLayout.Layers(plan.Count, p => plan.Ancestors(p));
        var nodes = new List<NodeView>(plan.Count);
        for (var p = 0; p < plan.Count; p++)
        {
            var op = plan.Op(p);
            var part = deployed.Parts[p];
            nodes.Add(new NodeView(plan.Ids[p], op.Name, op.Kind.ToString(), [.. plan.Shape(p).Dims], depth[p], order[p],
                part, silos.Count == 0 ? "" : silos[part % silos.Count], [.. plan.Ancestors(p)]));
        }
        return new GraphView(graphId, summary.Version, deployed.Partitions, plan.Ids[plan.Output], plan.Count, true, silos, nodes, times.Read());
    }

    /// <summary>The active silos in the order partitions are numbered in.</summary>
    public List<string> ActiveSilos() =>
        [.. SiloOrder.Sort(membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress))
            .Select(s => s.ToString())];

    /// <summary>Every silo the membership table lists (the dead ones too, most recent first), with its state.</summary>
    public async Task<List<SiloView>> Silos()
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: false).WaitAsync(CallTimeout);
        var order = ActiveSilos();
        return [.. hosts
            .OrderBy(h => h.Status == SiloStatus.Active ? 0 : h.Status == SiloStatus.Dead ? 2 : 1)
            .ThenBy(h => order.IndexOf(h.SiloAddress.ToString()) is var i and >= 0 ? i : int.MaxValue)
            .ThenByDescending(h => h.StartTime)
            .Select(h => new SiloView(h.SiloAddress.ToString(), h.SiloName, h.HostName, h.Status.ToString(), h.StartTime, h.IAmAliveTime,
                order.IndexOf(h.SiloAddress.ToString())))];
    }

    /// <summary>The board of every active silo (a silo that does not answer in time is left out).</summary>
    public async Task<List<SiloBoard>> Boards()
    {
        var reads = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
            .Select(async m =>
            {
                try
                {
                    return await grains.GetGrain<ISiloBoardGrain>(m.SiloAddress.ToParsableString()).Read().WaitAsync(CallTimeout);
                }
                catch (Exception e) when (e is TimeoutException or OrleansException or SiloUnavailableException)
                {
                    return null;
                }
            });
        return [.. (await Task.WhenAll(reads)).OfType<SiloBoard>()];
    }
}

/// <summary>A deployed graph and its versions, least recently deployed first.</summary>
public sealed record GraphEntry(string Id, IReadOnlyList<VersionSummary> Versions);

/// <summary>A graph version as the view draws it: its nodes (none when it has more than
/// <see cref="ClusterView.MaxDrawnNodes"/>), the silos in partition order, and the mean node step time of each op measured.</summary>
public sealed record GraphView(string Id, int Version, int Partitions, string Output, int NodeCount, bool Drawn,
    IReadOnlyList<string> Silos, IReadOnlyList<NodeView> Nodes, IReadOnlyDictionary<string, OpTime> OpTimes);

/// <summary>A node: its op, shape, layer (longest path from a leaf), place in its layer, partition, silo, and its ancestors' plan positions.</summary>
public sealed record NodeView(string Id, string Op, string Kind, int[] Shape, int Depth, int Order, int Partition, string Silo, int[] Ancestors);

/// <summary>A silo of the membership table; Index is its place in partition order (−1: not active).</summary>
public sealed record SiloView(string Address, string Name, string Host, string Status, DateTime Started, DateTime LastAlive, int Index);
