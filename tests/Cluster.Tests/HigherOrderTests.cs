using System.Text.Json.Nodes;
using Adjoint.Client;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// Hessian-vector and Jacobian-vector products through the facade's three back ends and the CLI on a
/// cluster of three silo processes: the same bits as the local engine, at the trained parameters.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class HigherOrderTests(SharedCluster cluster)
{
    private static Dictionary<string, Tensor> Random(Graph graph, string[] ids, int seed)
    {
        var random = new Random(seed);
        return ids.ToDictionary(id => id, id => { var s = graph.ShapeOf(id); return new Tensor(s, [.. Enumerable.Range(0, s.Count).Select(_ => random.NextDouble() * 2 - 1)]); });
    }

    [Fact]
    public async Task TheThreeBackEndsGiveTheLocalEnginesHvpAndJvpAtTheTrainedParameters()
    {
        var ct = TestContext.Current.CancellationToken;
        var graph = Graphs.TwoLayer();
        var batch = Graphs.TwoLayerInputs(4, 3);
        var inputs = batch[0]!;
        var v = Random(graph, ["W1", "W2"], 1);
        var tangents = Random(graph, ["W1", "X"], 2);
        var adam = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.05 };
        foreach (var backend in new[] { Backend.Local, Backend.Embedded, Backend.Cluster })
        {
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = backend, Redis = cluster.Redis }, ct);
            var deployed = await client.DeployAsync($"hvp-{Guid.NewGuid():N}", graph, ct);
            await deployed.TrainStepAsync(batch, adam, ct);
            var trained = await deployed.ReadParametersAsync(ct);
            var at = new Dictionary<string, Tensor>(trained);
            foreach (var (id, t) in inputs) at[id] = t;
            // The local engine on the source graph at the trained parameters, a plan of its own.
            var expectedHv = Higher.hvp(graph, at, v);
            var expectedJv = Higher.jvp(graph, at, tangents);

            var hv = await deployed.HessianVectorAsync(inputs, v, ct);
            var again = await deployed.HessianVectorAsync(inputs, v, ct);
            var jv = await deployed.JvpAsync(inputs, tangents, ct);
            Assert.Equal(expectedHv.Keys.Order(), hv.Keys.Order());
            foreach (var (id, t) in expectedHv)
            {
                Assert.True(Tensor.BitwiseEqual(t, hv[id]), $"{backend}: Hv of '{id}' differs");
                Assert.True(Tensor.BitwiseEqual(t, again[id]), $"{backend}: the second Hv of '{id}' differs");
            }
            Assert.True(Tensor.BitwiseEqual(expectedJv, jv), $"{backend}: J v differs");
            // The step moved the parameters, and the products followed them.
            Assert.False(Tensor.BitwiseEqual(Higher.hvp(graph, inputs, v)["W1"], hv["W1"]), $"{backend}: Hv at the file's parameters");
            if (backend != Backend.Local)
            {
                // The derived graph is a model of its own, spread over the silos like any graph.
                var derived = await client.DescribeAsync(deployed.Id + ".hvp", 0, ct);
                Assert.Equal(backend == Backend.Cluster ? LocalCluster.Silos : 1, derived.Assignment.Values.Distinct().Count());
            }
        }
    }

    [Fact]
    public async Task TheCliHvpAndJvpOnTheClusterEqualTheLocalEngine()
    {
        var ct = TestContext.Current.CancellationToken;
        // A file of its own: deployed under its name, so that no other test has trained that model.
        var file = Path.Combine(cluster.RunFolder, $"net-{Guid.NewGuid():N}.json");
        File.Copy(Path.Combine(LocalCluster.Root, "examples", "two-layer.json"), file);
        var graph = Graphs.TwoLayer();
        var vectors = Path.Combine(cluster.RunFolder, "v.npz");
        Npz.writeFile(vectors, Random(graph, ["W1", "W2"], 7).Select(kv => KeyValuePair.Create(kv.Key, new NpyArray([.. kv.Value.Shape.Dims], kv.Value.Data))));

        async Task<JsonNode> Run(string command, params string[] backend)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var flag = command == "hvp" ? "--vector" : "--tangent";
            var code = await Cli.Cli.RunAsync([command, file, flag, vectors, "--json", .. backend], stdout, stderr);
            Assert.True(code == 0, stderr.ToString());
            return JsonNode.Parse(stdout.ToString())!;
        }

        foreach (var command in new[] { "hvp", "jvp" })
        {
            var onCluster = await Run(command, "--cluster", cluster.Redis);
            var local = await Run(command, "--local");
            Assert.Equal("Cluster", (string?)onCluster["backend"]);
            // Numbers are written round-trip: equal text is equal bits.
            Assert.Equal(local[command]!.ToJsonString(), onCluster[command]!.ToJsonString());
        }
    }
}
