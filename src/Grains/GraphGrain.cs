// The graph grain: deploys graph versions (validated and partitioned by the core), describes and
// removes them, and fronts the parameter grains of each version.
using Adjoint.Grains.Hosting;
using Orleans.Runtime;

namespace Adjoint.Grains;

/// <summary>One deployed version as stored.</summary>
[GenerateSerializer, Alias("adjoint.graph-version.v1")]
public sealed class GraphVersionRecord
{
    /// <summary>The version number.</summary>
    [Id(0)] public int Version { get; set; }
    /// <summary>The graph in the core's JSON format.</summary>
    [Id(1)] public string Json { get; set; } = "";
    /// <summary>The number of partitions.</summary>
    [Id(2)] public int Partitions { get; set; }
    /// <summary>The partition of each plan position.</summary>
    [Id(3)] public int[] Parts { get; set; } = [];
}

/// <summary>A graph's durable state: its live versions and the last version number handed out.</summary>
[GenerateSerializer, Alias("adjoint.graph-state.v1")]
public sealed class GraphState
{
    /// <summary>The last version number handed out (versions are never reused).</summary>
    [Id(0)] public int LastVersion { get; set; }
    /// <summary>The versions still deployed, oldest first.</summary>
    [Id(1)] public List<GraphVersionRecord> Versions { get; set; } = [];
}

/// <summary>A graph (key: graph id) and its versions.</summary>
public sealed class GraphGrain(
    AdjointStorage storage, AdjointSiloOptions options, DeployedGraphCache cache, IClusterMembershipService membership, MessageSize messages,
    ILocalSiloDetails silo)
    : Grain, IGraphGrain
{
    private DurableState<GraphState> _state = null!;

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _state = storage.For<GraphState>(ServiceProvider, "graph", this.GetGrainId());
        await _state.Read();
    }

    /// <inheritdoc/>
    public async Task<DeployResult> Deploy(string json, int partitions)
    {
        var id = this.GetPrimaryKeyString();
        if (id.Contains('/')) throw new ArgumentException($"graph id '{id}' must not contain '/'");
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
        var latest = _state.State.Versions.LastOrDefault();
        if (latest is not null && latest.Partitions == k && GraphFile.parse(latest.Json, null).Equals(graph))
            return new DeployResult(latest.Version, false, k);
        var plan = Plan.Compile(graph);
        var record = new GraphVersionRecord
        {
            Version = _state.State.LastVersion + 1,
            Json = GraphFile.toCompactJson(graph),
            Partitions = k,
            Parts = Partition.assign(plan, k),
        };
        // GetSpec and Describe answer with the JSON, and the in-memory storage sends the whole state to
        // its storage grain: Orleans would drop any of them with its connection, failing whatever else
        // was in flight on it.
        messages.CheckGraph(graph, record.Json);
        if (options.UseMemoryStorage) CheckStoredState(record);
        _state.State.LastVersion = record.Version;
        _state.State.Versions.Add(record);
        await _state.Write();
        return new DeployResult(record.Version, true, k);
    }

    // The in-memory storage keeps each state in a storage grain, possibly on another silo: a state
    // written there is one message. A durable storage (Redis) is written directly and has no such limit.
    private void CheckStoredState(GraphVersionRecord record)
    {
        var live = _state.State.Versions;
        var bytes = MessageSize.StoredGraphBytes(record.Json, record.Parts.Length)
            + live.Sum(v => MessageSize.StoredGraphBytes(v.Json, v.Parts.Length));
        if (messages.TooLargeToStore($"graph '{this.GetPrimaryKeyString()}': its stored state, this version and the {live.Count} still deployed,", bytes) is { } why)
            throw new GraphRejectedException(live.Count > 0 ? $"{why}; undeploy older versions first" : why, null);
    }

    private GraphVersionRecord Find(int version)
    {
        var versions = _state.State.Versions;
        var record = version == 0 ? versions.LastOrDefault() : versions.Find(v => v.Version == version);
        return record ?? throw new KeyNotFoundException(
            version == 0 ? $"graph '{this.GetPrimaryKeyString()}' has no deployed version" : $"graph '{this.GetPrimaryKeyString()}' has no deployed version {version}");
    }

    /// <inheritdoc/>
    public Task<GraphDescription> Describe(int version)
    {
        var record = Find(version);
        var graph = GraphFile.parse(record.Json, null);
        var plan = Plan.Compile(graph);
        return Task.FromResult(new GraphDescription
        {
            GraphId = this.GetPrimaryKeyString(),
            Version = record.Version,
            Versions = [.. _state.State.Versions.Select(v => v.Version)],
            NodeCount = graph.Count,
            Output = graph.Output,
            Partitions = record.Partitions,
            Assignment = Enumerable.Range(0, plan.Count).ToDictionary(p => plan.Ids[p], p => record.Parts[p]),
            Json = record.Json,
        });
    }

    /// <inheritdoc/>
    public Task<GraphSpec> GetSpec(int version)
    {
        var record = Find(version);
        return Task.FromResult(new GraphSpec(record.Json, record.Partitions, record.Parts));
    }

    private async Task<DeployedGraph> Load(int version) =>
        await cache.Get(this.GetPrimaryKeyString(), Find(version).Version);

    private static IEnumerable<int> Parameters(DeployedGraph graph) =>
        Enumerable.Range(0, graph.Plan.Count).Where(p => graph.Plan.Op(p).Kind == OpKind.Parameter);

    /// <inheritdoc/>
    public async Task Undeploy(int version)
    {
        var graph = await Load(version);
        await Task.WhenAll(Parameters(graph).Select(p => graph.Node(p).ClearParameter()));
        _state.State.Versions.RemoveAll(v => v.Version == graph.Version);
        await _state.Write();
        cache.Evict(graph.GraphId, graph.Version);
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
                $"parameter '{graph.Plan.Ids[ps[from]]}' of shape {shape.Rows}x{shape.Cols} takes {bytes} bytes in a message, more than the {budget} bytes the caller can receive");
        }
        return new ParameterPage(await Read(graph, ps.GetRange(from, end - from)), end < ps.Count ? end : -1);
    }

    private static long ParameterBytes(Plan plan, int p) =>
        MessageSize.ParameterBytes(plan.Ids[p], (long)plan.Shape(p).Rows * plan.Shape(p).Cols);

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
