// A model's identity and trained parameters do not depend on how many silos were up when it was deployed;
// old versions are freed by the version policy or on request (issue 12, item 3).
namespace Adjoint.Grains.Tests;

[Collection(ThreeSiloCollection.Name)]
public sealed class ModelVersionTests(ThreeSiloCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DistributedGraph NewGraph(string name) => new(fixture.Client, $"{name}-{Guid.NewGuid():N}");

    internal static readonly OptimizerSettings Adam = new() { Kind = OptimizerKind.Adam, LearningRate = 0.05 };

    private static List<Dictionary<string, Tensor>> Inputs(int first) =>
        [.. Enumerable.Range(first, 8).Select(i => new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) })];

    // One Adam step on the cluster and the same step on the local engine's copy of the parameters.
    internal static async Task Train(DistributedGraph graph, int version, Dictionary<string, Tensor> local, Dictionary<string, AdamMoments> moments, int first)
    {
        var results = await graph.Evaluate(version, Inputs(first), new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct);
        var gradients = DistributedGraph.SumParameterAdjoints(results, local.Keys);
        await graph.Step(version, Adam, gradients, Ct);
        foreach (var id in local.Keys.ToList())
            (local[id], moments[id]) = Optimizer.adam(Adam.ToAdam(), moments[id], local[id], gradients[id].ToTensor());
    }

    internal static async Task AssertTrained(DistributedGraph graph, int version, Graph core, Dictionary<string, Tensor> local, string when)
    {
        var stored = await graph.ReadParameters(version, Ct);
        foreach (var (id, value) in local)
            Assert.True(Tensor.BitwiseEqual(value, stored[id].ToTensor()), $"{when}: stored {id} differs from the local engine's trained value");
        // The cluster's gradient with its stored parameters equals the local engine's with the trained values bound.
        var inputs = Inputs(100);
        var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.All, Window = 4 }, Ct);
        var plan = Plan.Compile(core);
        for (var i = 0; i < inputs.Count; i++)
        {
            var bound = new Dictionary<string, Tensor>(inputs[i]);
            foreach (var (id, value) in local) bound[id] = value;
            Local.AssertEqual(plan, bound, results[i], AdjointMode.All, values: false);
        }
    }

    [Fact]
    public async Task Redeploying_on_another_number_of_partitions_keeps_the_version_and_its_trained_parameters()
    {
        var core = Graphs.TwoLayer();
        var graph = NewGraph("relayout");
        var first = await graph.Deploy(core, partitions: 3);
        var local = core.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value!.Value);
        var moments = local.ToDictionary(kv => kv.Key, kv => AdamMoments.Zero(kv.Value.Shape));
        await Train(graph, first.Version, local, moments, 0);
        await Train(graph, first.Version, local, moments, 8);

        // As after a restart with 2 of 3 silos up: the same graph file deployed on 2 partitions.
        var second = await graph.Deploy(core, partitions: 2);
        Assert.Equal(first.Version, second.Version);
        Assert.False(second.Created);
        Assert.Equal(2, second.Partitions);
        Assert.Equal(first.Layout + 1, second.Layout);
        var description = await graph.Grain.Describe(0);
        Assert.Equal([first.Version], description.Versions);
        Assert.Equal((2, second.Layout), (description.Partitions, description.Layout));
        Assert.Equal(2, description.Assignment.Values.Distinct().Count());
        await AssertTrained(graph, first.Version, core, local, "after re-partitioning to 2");
        // Node grains of the new layout run where its partitions say: two silos.
        var placement = await graph.Grain.Placement(first.Version);
        Assert.Equal(2, placement.Values.Distinct().Count());

        // Adam's moments survived too: the next step equals the local step.
        await Train(graph, first.Version, local, moments, 16);
        await AssertTrained(graph, first.Version, core, local, "a step after re-partitioning");

        // Automatic partitioning on the 3 silos lays it out on 3 again: same version, same parameters.
        var third = await graph.Deploy(core);
        Assert.Equal((first.Version, false, 3), (third.Version, third.Created, third.Partitions));
        Assert.Equal(second.Layout + 1, third.Layout);
        await AssertTrained(graph, first.Version, core, local, "after re-partitioning back to 3");
        // The same count again changes nothing.
        Assert.Equal(third.Layout, (await graph.Deploy(core)).Layout);
    }

    [Fact]
    public async Task A_batch_running_while_its_version_is_re_partitioned_finishes_on_its_layout()
    {
        var core = Graphs.RandomDag(seed: 11, size: 120);
        var graph = NewGraph("relayout-in-flight");
        var version = (await graph.Deploy(core, partitions: 3)).Version;
        var inputs = Enumerable.Range(0, 300).Select(s => Graphs.RandomInputs(core, s)).ToList();
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 8 };
        var running = graph.Evaluate(version, inputs, options, Ct);
        var relaid = await graph.Deploy(core, partitions: 1);
        Assert.Equal((version, 1), (relaid.Version, relaid.Partitions));
        var after = graph.Evaluate(version, inputs.Take(20), options, Ct);
        var plan = Plan.Compile(core);
        var results = await running;
        for (var i = 0; i < inputs.Count; i++) Local.AssertEqual(plan, inputs[i], results[i], options.Mode, values: false);
        var later = await after;
        for (var i = 0; i < later.Count; i++) Local.AssertEqual(plan, inputs[i], later[i], options.Mode, values: false);
        Assert.Single((await graph.Grain.Placement(version)).Values.Distinct());
    }

    [Fact]
    public async Task A_new_version_beyond_MaxVersionsPerGraph_frees_the_least_recently_deployed()
    {
        var graph = NewGraph("policy");
        static Graph Variant(double factor)
        {
            var b = new GraphBuilder();
            var w = b.Parameter("w", Tensor.OfRows([[1.0, 2.0]]));
            return b.Build(b.Sum(b.Scale(b.Square(w), factor), "s"));
        }
        var v1 = await graph.Deploy(Variant(1));
        var v2 = await graph.Deploy(Variant(2));
        // v2 trained, and cached on every silo by a batch there.
        await graph.Grain.WriteParameter(v2.Version, "w", TensorData.From(Tensor.OfRows([[5.0, 6.0]])));
        await graph.Evaluate(v2.Version, [null], new BatchOptions(), Ct);
        var caches = fixture.Cluster.Silos.Select(s => fixture.Client.GetGrain<ISiloCacheGrain>(s.SiloAddress.ToParsableString())).ToList();
        Assert.Equal(3, caches.Count);
        foreach (var cache in caches) await cache.Evict("nothing", 1); // activates each on its silo
        // The same graph again makes v1 the latest: v2 is now the least recently deployed.
        Assert.Equal(v1.Version, (await graph.Deploy(Variant(1))).Version);
        var v3 = await graph.Deploy(Variant(3));
        Assert.Equal([v2.Version, v1.Version, v3.Version], (await graph.Grain.Describe(0)).Versions);
        var v4 = await graph.Deploy(Variant(4));
        Assert.True(v4.Created);
        Assert.Equal([v1.Version, v3.Version, v4.Version], (await graph.Grain.Describe(0)).Versions);
        var gone = await Assert.ThrowsAsync<KeyNotFoundException>(() => graph.Evaluate(v2.Version, [null], new BatchOptions(), Ct));
        Assert.Equal($"graph '{graph.GraphId}' has no deployed version {v2.Version}", gone.Message);
        foreach (var cache in caches) Assert.False(await cache.Holds(graph.GraphId, v2.Version), "a silo still caches the freed version");
        var registry = await fixture.Client.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).List();
        Assert.Equal([v1.Version, v3.Version, v4.Version], registry[graph.GraphId].Select(v => v.Version));
        // Its trained value went with it: the same graph deployed again is a new version with the file's value.
        var v5 = await graph.Deploy(Variant(2));
        Assert.True(v5.Created);
        var w = (await graph.ReadParameters(v5.Version, Ct))["w"].Data;
        Assert.Equal(new[] { 1.0, 2.0 }, w);
    }

    [Fact]
    public async Task Undeploying_every_version_clears_the_graph_and_its_registry_entry()
    {
        var graph = NewGraph("undeploy-all");
        var v1 = await graph.Deploy(Graphs.TwoLayer());
        var v2 = await graph.Deploy(Graphs.Solve());
        var registry = fixture.Client.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        Assert.Equal(2, (await registry.List())[graph.GraphId].Length);
        Assert.Equal([v1.Version, v2.Version], await graph.Grain.UndeployAll());
        Assert.False((await registry.List()).ContainsKey(graph.GraphId));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => graph.Grain.Describe(0));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => graph.Grain.UndeployAll());
        // Version numbers are never reused.
        Assert.Equal(v2.Version + 1, (await graph.Deploy(Graphs.TwoLayer())).Version);
    }
}

/// <summary>The case on silos of its own: trained on 3 silos, one stopped, the same graph deployed again.</summary>
[Trait("Category", "Reliability")]
public sealed class FewerSilosTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Deploying_again_with_a_silo_down_re_partitions_the_trained_version_instead_of_replacing_it()
    {
        TensorPool.MinElements = 1;
        await using var cluster = await SharedStorageSilo.StartThree(Ct);
        try
        {
            var core = Graphs.TwoLayer();
            var graph = new DistributedGraph(cluster.Client, $"fewer-silos-{Guid.NewGuid():N}");
            var first = await graph.Deploy(core);
            Assert.Equal(3, first.Partitions);
            var local = core.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value!.Value);
            var moments = local.ToDictionary(kv => kv.Key, kv => AdamMoments.Zero(kv.Value.Shape));
            await ModelVersionTests.Train(graph, first.Version, local, moments, 0);
            await ModelVersionTests.Train(graph, first.Version, local, moments, 8);

            await cluster.StopSiloAsync(cluster.SecondarySilos[0], Ct);
            // Automatic partitioning follows the graph grain's view of membership, which settles shortly after.
            var again = await graph.Deploy(core);
            for (var i = 0; i < 100 && again.Partitions != 2; i++)
            {
                await Task.Delay(100, Ct);
                again = await graph.Deploy(core);
            }
            Assert.Equal((first.Version, false, 2), (again.Version, again.Created, again.Partitions));
            Assert.Equal([first.Version], (await graph.Grain.Describe(0)).Versions);
            await ModelVersionTests.AssertTrained(graph, first.Version, core, local, "with a silo down");
            await ModelVersionTests.Train(graph, first.Version, local, moments, 16);
            await ModelVersionTests.AssertTrained(graph, first.Version, core, local, "a step with a silo down");

            // The silo back: the next deploy spreads the same version over 3 again.
            await cluster.StartAdditionalSiloAsync();
            for (var i = 0; i < 100 && again.Partitions != 3; i++)
            {
                await Task.Delay(100, Ct);
                again = await graph.Deploy(core);
            }
            Assert.Equal((first.Version, 3), (again.Version, again.Partitions));
            await ModelVersionTests.AssertTrained(graph, first.Version, core, local, "with the silo back");
        }
        finally
        {
            await cluster.StopAllSilosAsync(Ct);
        }
    }
}
