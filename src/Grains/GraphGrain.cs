// The graph grain: deploys graph versions (validated by the core, identified by their content), lays them
// out over the silos, frees old ones, and fronts the parameter grains of each version.
using System.Security.Cryptography;
using System.Text;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Adjoint.Grains;

/// <summary>A graph (key: graph id) and its versions.</summary>
public sealed class GraphGrain(
    AdjointStorage storage, AdjointSiloOptions options, DeployedGraphCache cache, IClusterMembershipService membership,
    MessageSize messages, ILogger<GraphGrain> logger, ILocalSiloDetails silo)
    : Grain, IGraphGrain, IIncomingGrainCallFilter
{
    private DurableState<GraphIndex> _index = null!;
    // The records of live versions read so far (at most MaxVersionsPerGraph).
    private readonly Dictionary<int, Task<GraphVersionRecord>> _records = [];

    private string Id => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _index = storage.For<GraphIndex>(ServiceProvider, "graph-index", this.GetGrainId());
        await _index.Read();
        Telemetry.Activation(silo.SiloAddress.ToString(), "graph", +1);
    }

    /// <inheritdoc/>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Telemetry.Activation(silo.SiloAddress.ToString(), "graph", -1);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Before every call: an index whose last write failed (its in-memory changes may not be stored, or
    /// may be stored after all) is read back from storage, so no call sees a version storage does not
    /// hold. Storage's own failures reach the caller as <see cref="StorageFailedException"/>, whose type a
    /// client has loaded (the Redis provider's it need not have).
    /// </summary>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            if (_index.Stale) await _index.Refresh();
            await context.Invoke();
        }
        catch (Exception e) when (IsStorageFailure(e))
        {
            throw new StorageFailedException($"graph '{Id}'", "read or write", $"{e.GetType().Name}: {e.Message}");
        }
    }

    // Storage providers raise their own types (RedisStorageException, InconsistentStateException,
    // StackExchange.Redis' connection errors); everything else is the call's own.
    private static bool IsStorageFailure(Exception e) =>
        e is Orleans.Storage.InconsistentStateException
        || e.GetType().Namespace is { } ns && (ns.StartsWith("Orleans.Persistence", StringComparison.Ordinal) || ns.StartsWith("StackExchange.Redis", StringComparison.Ordinal));

    private DurableState<GraphVersionRecord> RecordState(int version) =>
        storage.For<GraphVersionRecord>(ServiceProvider, "graph-version", GrainId.Create("adjoint-graph-version", $"{Id}/{version}"));

    private async Task<GraphVersionRecord> Record(int version)
    {
        if (!_records.TryGetValue(version, out var load)) _records[version] = load = ReadRecord(version);
        try
        {
            return await load;
        }
        catch
        {
            if (_records.TryGetValue(version, out var same) && same == load) _records.Remove(version);
            throw;
        }
    }

    private async Task<GraphVersionRecord> ReadRecord(int version)
    {
        var state = RecordState(version);
        await state.Read();
        if (!state.RecordExists) throw new InvalidOperationException($"graph '{Id}' version {version}: its record is missing from storage");
        return state.State;
    }

    private static string Hash(string json) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json)));

    /// <inheritdoc/>
    public async Task<DeployResult> Deploy(string json, int partitions)
    {
        if (Id.Contains('/')) throw new ArgumentException($"graph id '{Id}' must not contain '/'");
        Graph graph;
        try
        {
            graph = GraphFile.parse(json, null);
        }
        catch (GraphFile.GraphFileException e)
        {
            throw new GraphRejectedException(e.Message, e.Path);
        }
        catch (GraphException e)
        {
            throw new GraphRejectedException(e.Message, null);
        }
        var k = partitions > 0 ? partitions : Math.Max(1, membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active));
        var compact = GraphFile.toCompactJson(graph);
        var hash = Hash(compact);
        var index = _index.State;
        var same = index.Versions.Find(v => v.Hash == hash);
        if (same is not null && (await Record(same.Version)).Json == compact) return await Redeploy(same, k);
        // GetSpec and Describe answer with the JSON, and the in-memory storage sends each record to its
        // storage grain: Orleans would drop any of them with its connection, failing whatever else was
        // in flight on it.
        messages.CheckGraph(graph, compact);
        var record = new GraphVersionRecord { Version = index.LastVersion + 1, Json = compact };
        if (options.UseMemoryStorage) CheckStoredState(record, graph.Count);
        // The record first: a silo lost between the two writes leaves an unlisted record, never a listed
        // version without its graph.
        await RecordState(record.Version).Write(record);
        _records[record.Version] = Task.FromResult(record);
        var parameters = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToList();
        var entry = new VersionEntry
        {
            Version = record.Version,
            Hash = hash,
            Layouts = [k],
            DeployedAt = DateTime.UtcNow,
            Nodes = graph.Count,
            Parameters = parameters.Count,
            ParameterElements = parameters.Sum(n => graph.ShapeOf(n.Id).LongCount),
        };
        index.LastVersion = record.Version;
        index.Versions.Add(entry);
        await _index.Write();
        while (index.Versions.Count > options.MaxVersionsPerGraph)
        {
            var oldest = index.Versions[0];
            logger.LogWarning("Graph {GraphId}: version {Version} deployed, {Count} versions are more than MaxVersionsPerGraph = {Max}; freeing version {Oldest} (last deployed {DeployedAt:o}) and its parameter values",
                Id, record.Version, index.Versions.Count, options.MaxVersionsPerGraph, oldest.Version, oldest.DeployedAt);
            await Free(oldest);
        }
        await Register();
        return new DeployResult(record.Version, true, k);
    }

    // The same graph again: the same version, its parameters as they are; re-partitioned if the count
    // differs (a new layout generation, so that new batches run on fresh node activations), and made the latest.
    private async Task<DeployResult> Redeploy(VersionEntry entry, int k)
    {
        var index = _index.State;
        var relayout = entry.Layouts[^1] != k;
        if (relayout || index.Versions[^1] != entry)
        {
            if (relayout)
                logger.LogInformation("Graph {GraphId} version {Version}: re-partitioned from {From} to {To} partitions (layout {Layout})",
                    Id, entry.Version, entry.Layouts[^1], k, entry.Layouts.Count + 1);
            if (relayout) entry.Layouts.Add(k);
            entry.DeployedAt = DateTime.UtcNow;
            index.Versions.Remove(entry);
            index.Versions.Add(entry);
            await _index.Write();
            await Register();
        }
        return new DeployResult(entry.Version, false, k) { Layout = entry.Layouts.Count };
    }

    // The in-memory storage keeps each state in a storage grain, possibly on another silo: a state
    // written there is one message. A durable storage (Redis) is written directly and has no such limit.
    private void CheckStoredState(GraphVersionRecord record, int nodes)
    {
        var bytes = MessageSize.StoredGraphBytes(record.Json, nodes);
        if (messages.TooLargeToStore($"graph '{Id}' version {record.Version}: its stored record", bytes) is { } why)
            throw new GraphRejectedException(why, null);
    }

    private Task Register() =>
        GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).Set(Id, [.. _index.State.Versions.Select(v => v.ToSummary())]);

    private VersionEntry Find(int version)
    {
        var versions = _index.State.Versions;
        var entry = version == 0 ? versions.LastOrDefault() : versions.Find(v => v.Version == version);
        return entry ?? throw new KeyNotFoundException(
            version == 0 ? $"graph '{Id}' has no deployed version" : $"graph '{Id}' has no deployed version {version}");
    }

    /// <inheritdoc/>
    public async Task<GraphDescription> Describe(int version)
    {
        var entry = Find(version);
        var graph = await Load(entry);
        return new GraphDescription
        {
            GraphId = Id,
            Version = entry.Version,
            Versions = [.. _index.State.Versions.Select(v => v.Version)],
            NodeCount = graph.Plan.Count,
            Output = graph.Graph.Output,
            Partitions = graph.Partitions,
            Assignment = Enumerable.Range(0, graph.Plan.Count).ToDictionary(p => graph.Plan.Ids[p], p => graph.Parts[p]),
            Json = (await Record(entry.Version)).Json,
            Layout = graph.Layout,
            DeployedAt = entry.DeployedAt,
        };
    }

    /// <inheritdoc/>
    public async Task<GraphSpec> GetSpec(int version) => new((await Record(Find(version).Version)).Json);

    /// <inheritdoc/>
    public Task<GraphLayout> Layout(int version, int generation)
    {
        var entry = Find(version);
        if (generation == 0) return Task.FromResult(entry.CurrentLayout());
        if (generation < 1 || generation > entry.Layouts.Count)
            throw new KeyNotFoundException($"graph '{Id}' version {entry.Version} has layouts 1 to {entry.Layouts.Count}, not {generation}");
        return Task.FromResult(new GraphLayout(generation, entry.Layouts[generation - 1]));
    }

    private Task<DeployedGraph> Load(VersionEntry entry) => cache.Get(Id, entry.Version, entry.CurrentLayout());

    private Task<DeployedGraph> Load(int version) => Load(Find(version));

    private static IEnumerable<int> Parameters(DeployedGraph graph) =>
        Enumerable.Range(0, graph.Plan.Count).Where(p => graph.Plan.Op(p).Kind == OpKind.Parameter);

    /// <inheritdoc/>
    public async Task Undeploy(int version)
    {
        await Free(Find(version));
        await Register();
    }

    /// <inheritdoc/>
    public async Task<int[]> UndeployAll()
    {
        var versions = _index.State.Versions.ToList();
        if (versions.Count == 0) throw new KeyNotFoundException($"graph '{Id}' has no deployed version");
        foreach (var entry in versions) await Free(entry);
        await Register();
        return [.. versions.Select(v => v.Version)];
    }

    // A version goes: its parameter values and moments, its place in the index, its record, and the
    // cached plans of every silo.
    private async Task Free(VersionEntry entry)
    {
        var graph = await Load(entry);
        await Task.WhenAll(Parameters(graph).Select(p => graph.Node(p).ClearParameter()));
        _index.State.Versions.Remove(entry);
        await _index.Write();
        var record = RecordState(entry.Version);
        await record.Read();
        await record.Clear();
        _records.Remove(entry.Version);
        cache.Evict(Id, entry.Version);
        try
        {
            await Task.WhenAll(SiloCacheGrain.OnEverySilo(GrainFactory, membership).Select(s => s.Evict(Id, entry.Version)));
        }
        catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
        {
            // A silo that cannot be told is leaving; what it cached goes with it.
            logger.LogInformation("Graph {GraphId} version {Version}: a silo could not be told to evict it: {Message}", Id, entry.Version, e.Message);
        }
    }

    /// <inheritdoc/>
    public async Task<Dictionary<string, TensorData>> ReadParameters(int version)
    {
        var graph = await Load(version);
        var ps = Parameters(graph).ToList();
        // An answer over the limit would be dropped by Orleans with its connection, and the caller wait
        // for its response timeout.
        var bytes = ps.Sum(p => ParameterBytes(graph.Plan, p));
        if (bytes > messages.Budget)
            throw new LimitExceededException("MaxMessageBodySize", messages.Limit,
                $"graph '{this.GetPrimaryKeyString()}' version {graph.Version}: its {ps.Count} parameters take {bytes} bytes in a message, "
                + $"more than the message size limit of {messages.Limit} bytes (MaxMessageBodySize); read them by pages (ReadParameterPage, as DistributedGraph.ReadParameters does)");
        return await Read(graph, ps);
    }

    /// <inheritdoc/>
    public async Task<ParameterPage> ReadParameterPage(int version, int from, long maxBytes)
    {
        var graph = await Load(version);
        var ps = Parameters(graph).ToList();
        if (from < 0 || from > ps.Count) throw new ArgumentOutOfRangeException(nameof(from), $"graph '{this.GetPrimaryKeyString()}' version {graph.Version} has {ps.Count} parameters, no page starts at {from}");
        var budget = Math.Min(messages.Budget, maxBytes);
        var end = from;
        long bytes = 0;
        while (end < ps.Count && (end == from || bytes + ParameterBytes(graph.Plan, ps[end]) <= budget))
            bytes += ParameterBytes(graph.Plan, ps[end++]);
        // A parameter too large for the caller alone: it could never be sent (nor deployed to this silo).
        if (bytes > budget)
        {
            var shape = graph.Plan.Shape(ps[from]);
            throw new LimitExceededException("MaxMessageBodySize", Math.Min(messages.Limit, maxBytes),
                $"parameter '{graph.Plan.Ids[ps[from]]}' of shape {shape} takes {bytes} bytes in a message, more than the {budget} bytes the caller can receive");
        }
        return new ParameterPage(await Read(graph, ps.GetRange(from, end - from)), end < ps.Count ? end : -1);
    }

    private static long ParameterBytes(Plan plan, int p) =>
        MessageSize.ParameterBytes(plan.Ids[p], plan.Shape(p).LongCount);

    private static async Task<Dictionary<string, TensorData>> Read(DeployedGraph graph, List<int> ps)
    {
        var values = await Task.WhenAll(ps.Select(p => graph.Node(p).GetParameter()));
        return ps.Select((p, i) => (graph.Plan.Ids[p], values[i])).ToDictionary(x => x.Item1, x => x.Item2);
    }

    private static int ParameterPosition(DeployedGraph graph, string node)
    {
        if (!graph.Plan.TryIndexOf(node, out var p)) throw new KeyNotFoundException($"no node '{node}' in the graph");
        var op = graph.Plan.Op(p);
        if (op.Kind != OpKind.Parameter) throw new ArgumentException($"node '{node}' is a {op.Name}, not a parameter");
        return p;
    }

    /// <inheritdoc/>
    public async Task WriteParameter(int version, string node, TensorData value)
    {
        var graph = await Load(version);
        await graph.Node(ParameterPosition(graph, node)).SetParameter(value);
    }

    /// <inheritdoc/>
    public async Task<MomentsPage> ReadMomentsPage(int version, int from, long maxBytes)
    {
        var graph = await Load(version);
        var ps = Parameters(graph).ToList();
        if (from < 0 || from > ps.Count) throw new ArgumentOutOfRangeException(nameof(from), $"graph '{this.GetPrimaryKeyString()}' version {graph.Version} has {ps.Count} parameters, no page starts at {from}");
        var budget = Math.Min(messages.Budget, maxBytes);
        // Two tensors of the parameter's shape each.
        long Bytes(int p) => 2 * ParameterBytes(graph.Plan, p);
        var end = from;
        long bytes = 0;
        while (end < ps.Count && (end == from || bytes + Bytes(ps[end]) <= budget))
            bytes += Bytes(ps[end++]);
        if (bytes > budget)
            throw new LimitExceededException("MaxMessageBodySize", Math.Min(messages.Limit, maxBytes),
                $"the moments of parameter '{graph.Plan.Ids[ps[from]]}' of shape {graph.Plan.Shape(ps[from])} take {bytes} bytes in a message, more than the {budget} bytes the caller can receive");
        var page = ps.GetRange(from, end - from);
        var moments = await Task.WhenAll(page.Select(p => graph.Node(p).GetMoments()));
        return new MomentsPage(page.Select((p, i) => (graph.Plan.Ids[p], moments[i])).ToDictionary(x => x.Item1, x => x.Item2), end < ps.Count ? end : -1);
    }

    /// <inheritdoc/>
    public async Task WriteMoments(int version, string node, ParameterMoments moments)
    {
        var graph = await Load(version);
        await graph.Node(ParameterPosition(graph, node)).SetMoments(moments);
    }

    /// <inheritdoc/>
    public async Task Step(int version, OptimizerSettings settings, Dictionary<string, TensorData> gradients, Guid step)
    {
        var graph = await Load(version);
        var steps = gradients.Select(g => (Position: ParameterPosition(graph, g.Key), Gradient: g.Value)).ToList();
        // Every parameter is tried, so that one storage failure does not leave the others unattempted;
        // the first failure is passed on, and a retry with the same id finishes the step.
        var applied = steps.Select(s => graph.Node(s.Position).ApplyStep(settings, s.Gradient, step)).ToList();
        try
        {
            await Task.WhenAll(applied);
        }
        catch (Exception)
        {
            var failed = applied.Count(t => t.IsFaulted);
            var first = applied.First(t => t.IsFaulted).Exception!.InnerException!;
            if (failed == 1) throw first;
            throw first is StorageFailedException s
                ? new StorageFailedException($"{failed} of {steps.Count} parameters (the first: {s.What})", s.Operation, s.Reason)
                : first;
        }
    }

    /// <inheritdoc/>
    public async Task<int> CountLiveStates(int version)
    {
        var graph = await Load(version);
        var counts = await Task.WhenAll(Enumerable.Range(0, graph.Plan.Count).Select(p => graph.Node(p).LiveStates()));
        return counts.Sum();
    }

    /// <inheritdoc/>
    public async Task<Dictionary<string, string>> Placement(int version)
    {
        var graph = await Load(version);
        var silos = await Task.WhenAll(Enumerable.Range(0, graph.Plan.Count).Select(p => graph.Node(p).Where()));
        return Enumerable.Range(0, graph.Plan.Count).ToDictionary(p => graph.Plan.Ids[p], p => silos[p]);
    }

    /// <inheritdoc/>
    public Task<string> Where() => Task.FromResult(silo.SiloAddress.ToString());
}
