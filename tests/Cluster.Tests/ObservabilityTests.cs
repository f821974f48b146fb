// Issue 20, items 1 and 6, on real processes: the silos' Prometheus endpoints count a batch's evaluations,
// node steps, messages and activations; `adjoint partition --cluster` shows where each node grain runs.
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Adjoint.Client;

namespace Adjoint.Cluster.Tests;

[Collection(LocalClusterCollection.Name)]
public sealed partial class ObservabilityTests(SharedCluster shared)
{
    // One sample line of the Prometheus text format: name{labels} value.
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex(@"(?<key>\w+)=""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex Label();

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private sealed record Metric(string Name, Dictionary<string, string> Labels, double Value);

    // Every silo's scrape, parsed.
    private async Task<List<Metric>> Scrape(CancellationToken ct)
    {
        var all = new List<Metric>();
        for (var i = 0; i < LocalCluster.Silos; i++)
        {
            var text = await Http.GetStringAsync($"http://127.0.0.1:{shared.PrometheusPort + i}/metrics", ct);
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith('#') || Sample().Match(line) is not { Success: true } m) continue;
                var labels = Label().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups["key"].Value, l => l.Groups["value"].Value);
                all.Add(new Metric(m.Groups["name"].Value, labels, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)));
            }
        }
        return all;
    }

    private static double Sum(List<Metric> metrics, string name, params (string Key, string Value)[] labels) =>
        metrics.Where(m => m.Name == name && labels.All(l => m.Labels.GetValueOrDefault(l.Key) == l.Value)).Sum(m => m.Value);

    [Fact]
    public async Task AScrapeOfTheSilosCountsABatchsEvaluationsStepsAndMessages()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = shared.Redis }, ct);
        var graphId = $"metrics-{Guid.NewGuid():N}";
        var graph = Graphs.RandomDag(30, seed: 20);
        var deployed = await client.DeployAsync(graphId, graph, ct);
        const int evaluations = 40;
        var results = await deployed.EvaluateBatchAsync(Enumerable.Repeat<IReadOnlyDictionary<string, Tensor>?>(null, evaluations), new BatchOptions { Window = 8 }, cancellationToken: ct).ToListAsync(ct);
        Assert.All(results, r => Assert.True(r.Succeeded));

        // The exporter answers from what it collected at the scrape; the coordinator's last decrement is in by then.
        List<Metric> metrics = [];
        for (var attempt = 0; attempt < 20; attempt++)
        {
            metrics = await Scrape(ct);
            if (Sum(metrics, "adjoint_evaluations_completed_total", ("graph", graphId)) >= evaluations) break;
            await Task.Delay(250, ct);
        }
        Assert.Equal(evaluations, Sum(metrics, "adjoint_evaluations_started_total", ("graph", graphId)));
        Assert.Equal(evaluations, Sum(metrics, "adjoint_evaluations_completed_total", ("graph", graphId), ("outcome", "ok")));
        Assert.Equal(0, Sum(metrics, "adjoint_evaluations_completed_total", ("graph", graphId), ("outcome", "failed")));
        Assert.Equal(0, Sum(metrics, "adjoint_evaluations_in_flight", ("graph", graphId)));
        // Node steps of every op the graph has, timed on the silos that ran them (other tests' graphs add to these).
        foreach (var op in graph.Nodes.Select(n => n.Op.Name).Distinct())
        {
            Assert.True(Sum(metrics, "adjoint_node_forward_duration_milliseconds_count", ("op", op)) >= evaluations, $"forward steps of op {op}");
        }
        Assert.True(Sum(metrics, "adjoint_node_backward_duration_milliseconds_count", ("op", "sqnorm")) >= evaluations);
        var silos = metrics.Where(m => m.Name == "adjoint_node_forward_duration_milliseconds_count").Select(m => m.Labels["silo"]).Distinct().Count();
        Assert.Equal(LocalCluster.Silos, silos);
        // The graph spans three partitions: messages cross between silos, and carry bytes.
        var crossing = metrics.Where(m => m.Name == "adjoint_messages_sent_total" && m.Labels["from_silo"] != m.Labels["to_silo"]).Sum(m => m.Value);
        Assert.True(crossing > 0, "no message counted between two silos");
        Assert.True(metrics.Where(m => m.Name.StartsWith("adjoint_messages_bytes")).Sum(m => m.Value) > crossing);
        Assert.True(Sum(metrics, "adjoint_grain_activations", ("kind", "node")) >= graph.Count);
        // Orleans' own meter beside Adjoint's.
        Assert.Contains(metrics, m => m.Name.StartsWith("orleans_"));
    }

    [Fact]
    public async Task PartitionOnTheClusterShowsTheSiloEachNodeRunsOnBesideItsPart()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("adjoint-placement-").FullName;
        var file = Path.Combine(dir, $"placement-{Guid.NewGuid():N}.json");
        var graph = Graphs.RandomDag(24, seed: 6);
        File.WriteAllText(file, GraphFile.toJson(graph));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Adjoint.Cli.Cli.RunAsync(["partition", file, "--cluster", shared.Redis, "--json"], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var doc = JsonNode.Parse(stdout.ToString())!;
        Assert.Equal(LocalCluster.Silos, (int)doc["partitions"]!);
        var nodes = doc["nodes"]!.AsArray();
        Assert.Equal(graph.Count, nodes.Count);
        // The silos' ports are the cluster's; each part's nodes all run on one silo, a different one per part.
        var siloPorts = Enumerable.Range(shared.SiloPort, LocalCluster.Silos).Select(p => $":{p}:").ToList();
        Assert.All(nodes, n => Assert.Contains(siloPorts, p => ((string)n!["silo"]!).Contains(p)));
        var parts = doc["parts"]!.AsArray();
        Assert.All(parts, p => Assert.Single(p!["silos"]!.AsArray()));
        Assert.Equal(parts.Count, parts.Select(p => (string)p!["silos"]![0]!).Distinct().Count());
        // Ask the node grains directly: the command's answer is theirs.
        await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = shared.Redis }, ct);
        var id = Path.GetFileNameWithoutExtension(file);
        var description = await client.DescribeAsync(id, 0, ct);
        foreach (var n in nodes)
        {
            var node = (string)n!["node"]!;
            Assert.Equal(description.Assignment[node], (int)n["part"]!);
            var where = await client.Grains!.GetGrain<Adjoint.Grains.INodeGrain>(
                Adjoint.Grains.NodeKey.Format(id, description.Version, description.Layout, description.Assignment[node], node)).Where();
            Assert.Equal(where, (string)n["silo"]!);
        }
        // The text form names the parts and the silos.
        stdout = new StringWriter();
        Assert.Equal(0, await Adjoint.Cli.Cli.RunAsync(["partition", file, "--cluster", shared.Redis], stdout, stderr));
        Assert.Contains("part 0:", stdout.ToString());
        Assert.Contains("running on 3 silos", stdout.ToString());
        Directory.Delete(dir, recursive: true);
    }
}
