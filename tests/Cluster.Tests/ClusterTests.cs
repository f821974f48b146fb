using System.Diagnostics;
using System.Text.Json.Nodes;
using Adjoint.Client;
using Adjoint.Grains;
using BatchOptions = Adjoint.Client.BatchOptions;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// The facade's three back ends and the CLI against a cluster of three silo processes on Redis:
/// every value and adjoint equal to the local engine's, bit for bit.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class ClusterTests(SharedCluster cluster)
{
    private Task<AdjointClient> Connect(Backend backend) =>
        AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = backend, Redis = cluster.Redis }, TestContext.Current.CancellationToken);

    private static void AssertSameBits(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (id, t) in expected)
            Assert.True(Tensor.BitwiseEqual(t, actual[id]), $"{what} of '{id}' differs");
    }

    [Fact]
    public async Task TheThreeBackEndsGiveIdenticalValuesAdjointsAndTraining()
    {
        var ct = TestContext.Current.CancellationToken;
        var graphs = new[] { ("two-layer", Graphs.TwoLayer(), Graphs.TwoLayerInputs(40, 1)), ("dag", Graphs.RandomDag(220, 7), Enumerable.Repeat<IReadOnlyDictionary<string, Tensor>?>(null, 8).ToList()) };
        var sgd = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.01 };
        var adam = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 };
        foreach (var (name, graph, inputs) in graphs)
        {
            var outcomes = new List<(List<GradientResult> Results, IReadOnlyDictionary<string, Tensor> Trained)>();
            foreach (var backend in new[] { Backend.Local, Backend.Embedded, Backend.Cluster })
            {
                await using var client = await Connect(backend);
                var deployed = await client.DeployAsync($"{name}-{Guid.NewGuid():N}", graph, ct);
                var results = await deployed.EvaluateBatchAsync(inputs, new BatchOptions { ReportValues = true }, cancellationToken: ct).ToListAsync(ct);
                await deployed.TrainStepAsync(inputs.Take(4), sgd, ct);
                await deployed.TrainStepAsync(inputs.Take(4), adam, ct);
                await deployed.TrainStepAsync(inputs.Skip(4).Take(4), adam, ct);
                outcomes.Add((results, await deployed.ReadParametersAsync(ct)));
            }
            var (reference, trained) = outcomes[0];
            Assert.True(graph.Nodes.Count >= 9);
            foreach (var (results, parameters) in outcomes.Skip(1))
            {
                Assert.Equal(reference.Count, results.Count);
                for (var i = 0; i < reference.Count; i++)
                {
                    Assert.True(Tensor.BitwiseEqual(reference[i].Output!, results[i].Output!), $"{name}[{i}]: z_n differs");
                    AssertSameBits(reference[i].Values, results[i].Values, $"{name}[{i}]: z");
                    AssertSameBits(reference[i].Adjoints, results[i].Adjoints, $"{name}[{i}]: λ");
                }
                AssertSameBits(trained, parameters, $"{name}: trained parameter");
            }
        }
    }

    [Fact]
    public async Task ABatchThroughTheCliOnTheClusterEqualsTheLocalEngine()
    {
        var ct = TestContext.Current.CancellationToken;
        var file = Path.Combine(cluster.RunFolder, "batch.json");
        var sets = new JsonArray(Graphs.TwoLayerInputs(60, 2).Select(set => (JsonNode?)new JsonObject(
            set!.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.ToRows()
                .Select(row => (JsonNode?)new JsonArray(row.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray())).ToArray()))))).ToArray());
        await File.WriteAllTextAsync(file, sets.ToJsonString(), ct);
        var twoLayer = Path.Combine(LocalCluster.Root, "examples", "two-layer.json");

        async Task<string> Run(params string[] backend)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await Cli.Cli.RunAsync(["grad", twoLayer, "--inputs", file, "--all", "--json", .. backend], stdout, stderr);
            Assert.True(code == 0, stderr.ToString());
            return stdout.ToString();
        }

        var onCluster = await Run("--cluster", cluster.Redis);
        var local = await Run("--local");
        Assert.Equal(60, JsonNode.Parse(onCluster)!.AsArray().Count);
        Assert.Equal(local, onCluster); // numbers are written round-trip: equal text is equal bits
    }

    [Fact]
    public async Task EveryNodeGrainRunsOnTheSiloItsPartitionNames()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await Connect(Backend.Cluster);
        var graph = Graphs.RandomDag(60, 3);
        var deployed = await client.DeployAsync($"placement-{Guid.NewGuid():N}", graph, ct);
        await deployed.GradientAsync(cancellationToken: ct);
        var grains = client.Grains!;
        var graphGrain = grains.GetGrain<IGraphGrain>(deployed.Id);
        var description = await graphGrain.Describe(0);
        var placement = await graphGrain.Placement(description.Version);
        Assert.Equal(LocalCluster.Silos, description.Partitions);
        // Partition p lives on the p-th silo in address order: one silo per partition, all distinct.
        var siloOfPart = description.Assignment.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Select(kv => placement[kv.Key]).Distinct().ToList());
        Assert.All(siloOfPart.Values, silos => Assert.Single(silos));
        Assert.Equal(siloOfPart.Count, siloOfPart.Values.Select(s => s[0]).Distinct().Count());
    }
}

/// <summary><c>down</c> stops exactly the processes <c>up</c> started, and no silo outlives it.</summary>
/// <remarks>In the shared cluster's collection, so that the two clusters never start at once.</remarks>
[Collection(LocalClusterCollection.Name)]
public sealed class LocalClusterLifecycleTests
{
    [Fact]
    public async Task DownLeavesNoProcessBehind()
    {
        var cluster = new LocalCluster(silos: 2);
        await cluster.InitializeAsync();
        var pids = cluster.Pids();
        Assert.Equal(3, pids.Count); // Redis and the two silos
        Assert.All(pids, pid => Assert.True(LocalCluster.IsRunning(pid)));
        await cluster.DisposeAsync();
        foreach (var pid in pids)
            Assert.False(LocalCluster.IsRunning(pid), $"process {pid} is still running after down");
    }
}
