using System.Text.Json.Nodes;
using Adjoint.Client;
using Adjoint.Grains;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// <c>adjoint models …</c> on the three-process cluster, after a redeploy on another number of partitions
/// (as after a restart with fewer silos up): the trained version is kept, listed, described, read,
/// exported (the export's local gradient equals the cluster's bit for bit) and undeployed.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class ModelsCliTests(SharedCluster cluster)
{
    private static async Task<(int Code, string Out, string Err)> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Adjoint.Cli.Cli.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private async Task<string> Ok(params string[] args)
    {
        var (code, stdout, stderr) = await Cli(args);
        Assert.True(code == 0, $"adjoint {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
        return stdout;
    }

    private async Task<string> UserError(params string[] args)
    {
        var (code, _, stderr) = await Cli(args);
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        return stderr.Trim();
    }

    [Fact]
    public async Task A_trained_model_survives_a_redeploy_on_fewer_partitions_and_the_models_commands_list_read_export_and_undeploy_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = $"models-{Guid.NewGuid():N}";
        var file = Path.Combine(cluster.RunFolder, $"{id}.json");
        File.Copy(Path.Combine(LocalCluster.Root, "examples", "two-layer.json"), file);
        var graph = GraphFile.load(file);
        var onCluster = new[] { "--cluster", cluster.Redis };

        // Deployed by the CLI, trained through the facade.
        var untrained = await Ok(["grad", file, "--json", .. onCluster]);
        int version;
        await using (var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct))
        {
            var net = await client.DeployAsync(id, graph, ct);
            var adam = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.05 };
            for (var s = 0; s < 3; s++) await net.TrainStepAsync([null], adam, ct);
            version = (await client.DescribeAsync(id, cancellationToken: ct)).Version;
            // As after a restart with 2 of the 3 silos up: the same file deployed on 2 partitions.
            var redeployed = await client.Grains!.GetGrain<IGraphGrain>(id).Deploy(GraphFile.toCompactJson(graph), 2);
            Assert.Equal((version, false, 2), (redeployed.Version, redeployed.Created, redeployed.Partitions));
        }

        // `grad FILE --cluster` (3 silos again) uses the trained version, not the file's values.
        var trained = await Ok(["grad", file, "--json", .. onCluster]);
        Assert.NotEqual(untrained, trained);
        Assert.Equal(untrained, await Ok("grad", file, "--json", "--local"));

        var list = JsonNode.Parse(await Ok(["models", "list", "--json", .. onCluster]))!["models"]!.AsArray();
        var listed = Assert.Single(list, m => (string)m!["id"]! == id)!;
        Assert.Equal(version, (int)listed["latest"]!);
        var listedVersion = Assert.Single(listed["versions"]!.AsArray())!;
        Assert.Equal((version, graph.Count, 2, 3), ((int)listedVersion["version"]!, (int)listedVersion["nodes"]!, (int)listedVersion["parameters"]!, (int)listedVersion["partitions"]!));
        Assert.Contains(id, await Ok(["models", "list", .. onCluster]));

        var described = JsonNode.Parse(await Ok(["models", "describe", id, "--json", .. onCluster]))!;
        Assert.Equal((version, true, 3, 3), ((int)described["version"]!, (bool)described["latest"]!, (int)described["partitions"]!, (int)described["layout"]!));
        Assert.Equal(graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).Select(n => n.Id), described["parameters"]!.AsArray().Select(p => (string)p!["id"]!));
        var text = await Ok(["models", "describe", id, .. onCluster]);
        Assert.Contains($"{id} version {version} (latest)", text);
        Assert.Contains("layout 3: 3 partitions", text);

        // `read` gives the trained values, bit for bit.
        IReadOnlyDictionary<string, Tensor> parameters;
        await using (var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct))
            parameters = await client.ReadParametersAsync(id, cancellationToken: ct);
        var read = JsonNode.Parse(await Ok(["models", "read", id, "--version", $"{version}", "--json", .. onCluster]))!["parameters"]!.AsObject();
        Assert.Equal(parameters.Keys.Order(), read.Select(kv => kv.Key).Order());
        foreach (var (pid, value) in parameters)
        {
            var rows = read[pid]!.AsArray().Select(r => r is JsonArray row ? row.Select(x => (double)x!).ToArray() : [(double)r!]).ToArray();
            Assert.True(Tensor.BitwiseEqual(value, Tensor.OfRows(rows)), $"read {pid} differs from the stored value");
        }

        var readText = await Ok(["models", "read", id, .. onCluster]);
        Assert.StartsWith($"{id} version {version}: {parameters.Count} parameters", readText);
        Assert.All(parameters.Keys, pid => Assert.Contains(pid, readText));

        // `export` writes a graph file whose local gradient is the cluster's.
        var exported = Path.Combine(cluster.RunFolder, $"{id}-trained.json");
        Assert.Contains($"wrote {exported}", await Ok(["models", "export", id, "-o", exported, .. onCluster]));
        Assert.Equal(trained, await Ok("grad", exported, "--json", "--local"));

        // Unknown models and versions are user errors of one line.
        Assert.Equal("error: graph 'no-such-model' has no deployed version", await UserError(["models", "describe", "no-such-model", .. onCluster]));
        Assert.Equal($"error: graph '{id}' has no deployed version 999", await UserError(["models", "read", id, "--version", "999", .. onCluster]));
        Assert.Equal($"error: graph '{id}' has no deployed version 999", await UserError(["models", "export", id, "--version", "999", "-o", exported, .. onCluster]));
        Assert.StartsWith("error: adjoint models needs a running cluster", await UserError("models", "list"));

        Assert.Equal("error: give --version V or --all, not both", await UserError(["models", "undeploy", id, "--all", "--version", $"{version}", .. onCluster]));
        var undeployed = JsonNode.Parse(await Ok(["models", "undeploy", id, "--all", "--json", .. onCluster]))!;
        Assert.Equal([version], undeployed["undeployed"]!.AsArray().Select(v => (int)v!));
        Assert.Empty(undeployed["versions"]!.AsArray());
        Assert.DoesNotContain(JsonNode.Parse(await Ok(["models", "list", "--json", .. onCluster]))!["models"]!.AsArray(), m => (string)m!["id"]! == id);
        Assert.Equal($"error: graph '{id}' has no deployed version", await UserError(["models", "undeploy", id, .. onCluster]));
        // Its trained parameters went with it: deployed again, the file's values are back.
        Assert.Equal(untrained, await Ok(["grad", file, "--json", .. onCluster]));
        await Ok(["models", "undeploy", id, .. onCluster]);
    }

    [Fact]
    public async Task The_demo_passes_its_checks_on_the_cluster_run_after_run()
    {
        foreach (var run in new[] { 1, 2 })
        {
            var output = Path.Combine(cluster.RunFolder, $"demo-{run}");
            var result = JsonNode.Parse(await Ok("demo", "--steps", "20", "--out", output, "--json", "--cluster", cluster.Redis))!;
            Assert.True((bool)result["passed"]!, $"demo run {run} failed its checks");
        }
    }
}

/// <summary>What edited redeploys leave in Redis: one record per live version beside a small index, at most
/// MaxVersionsPerGraph of them, never one value that grows with every edit.</summary>
[Collection(LocalClusterCollection.Name)]
public sealed class VersionStorageTests(SharedCluster cluster)
{
    [Fact]
    public async Task Edited_redeploys_keep_Redis_bounded_by_the_version_policy()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = $"edits-{Guid.NewGuid():N}";
        static Graph Edit(int seed)
        {
            var random = new Random(seed);
            var c = new Tensor(100, 100);
            for (var k = 0; k < c.Count; k++) c.Data[k] = random.NextDouble();
            var b = new GraphBuilder();
            return b.Build(b.Sum(b.Constant("c", c), "s"));
        }
        var json = GraphFile.toCompactJson(Edit(0)).Length;
        await using (var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct))
        {
            for (var seed = 0; seed < 7; seed++) await client.DeployAsync(id, Edit(seed), ct);
            var models = await client.ListModelsAsync(ct);
            Assert.Equal(3, Assert.Single(models, m => m.GraphId == id).Versions.Count);
        }
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Redis);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var sizes = new List<long>();
        await foreach (var key in server.KeysAsync(pattern: $"*{id}*"))
            sizes.Add((long)await redis.GetDatabase().ExecuteAsync("MEMORY", "USAGE", key));
        Assert.NotEmpty(sizes);
        // Each value holds at most one version's graph (and the index a few hundred bytes); three live versions in all.
        Assert.True(sizes.Max() < 1.5 * json, $"a Redis value of {sizes.Max()} bytes for a graph of {json} bytes of JSON");
        Assert.True(sizes.Sum() < 3.5 * json, $"{sizes.Sum()} bytes in Redis for three live versions of {json} bytes of JSON");
    }
}
