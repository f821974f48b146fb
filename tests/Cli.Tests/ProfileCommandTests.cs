using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary><c>adjoint profile</c> on the embedded silo: the table, the critical path, --json, the Chrome trace.</summary>
public sealed class ProfileCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Plan TwoLayer => Plan.Compile(GraphFile.load(CliRun.Examples("two-layer.json")));

    [Fact]
    public void ProfilePrintsEveryNodeTheCriticalPathAndTheSlowestEdges()
    {
        var (code, output, err) = CliRun.Invoke("profile", CliRun.Examples("two-layer.json"));
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        var plan = TwoLayer;
        for (var p = 0; p < plan.Count; p++)
            Assert.Contains(lines, l => l.TrimStart().StartsWith(plan.Ids[p] + " ") && l.Contains(plan.Op(p).Name));
        var path = lines.SkipWhile(l => !l.StartsWith("critical path:")).Skip(1).First();
        // The path ends with a backward step of a leaf (the last λ) and starts at a forward step of a leaf.
        Assert.StartsWith("forward ", path.Trim());
        Assert.Contains("backward ", path);
        Assert.Contains("% of the wall time", output);
        Assert.Contains("slowest edges", output);
    }

    [Fact]
    public void ProfileJsonHasNodesAPathThatFollowsTheGraphAndSharesThatMakeUpTheWall()
    {
        var (code, output, err) = CliRun.Invoke("profile", CliRun.Examples("two-layer.json"), "--json");
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(output).RootElement;
        var plan = TwoLayer;
        var nodes = doc.GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal(plan.Count, nodes.Count);
        foreach (var n in nodes)
        {
            Assert.True(n.GetProperty("forwardMicros").GetDouble() >= 0);
            Assert.True(n.GetProperty("backwardMicros").GetDouble() >= 0);
            Assert.False(string.IsNullOrEmpty(n.GetProperty("silo").GetString()));
            Assert.True(n.GetProperty("bytesIn").GetInt64() + n.GetProperty("bytesOut").GetInt64() > 0);
        }
        var critical = doc.GetProperty("criticalPath");
        var steps = critical.GetProperty("steps").EnumerateArray().Select(s => (Node: s.GetProperty("node").GetString()!, Pass: s.GetProperty("pass").GetString()!)).ToList();
        // Consecutive steps are dependencies of the seed's passes: forward along α, backward along β, or a node's own forward → backward.
        foreach (var (u, v) in steps.Zip(steps.Skip(1)))
        {
            var (pu, pv) = (plan.IndexOf(u.Node), plan.IndexOf(v.Node));
            var edge = (u.Pass, v.Pass) switch
            {
                ("forward", "forward") => plan.Ancestors(pv).Contains(pu),
                ("backward", "backward") => plan.Ancestors(pu).Contains(pv),
                ("forward", "backward") => pu == pv,
                _ => false,
            };
            Assert.True(edge, $"{u.Pass} {u.Node} → {v.Pass} {v.Node} is not an edge of the step DAG");
        }
        Assert.Equal(("forward", "backward"), (steps[0].Pass, steps[^1].Pass));
        var shares = critical.GetProperty("computeShare").GetDouble() + critical.GetProperty("delayShare").GetDouble() + critical.GetProperty("leadShare").GetDouble();
        Assert.Equal(1.0, shares, 6);
        Assert.True(doc.GetProperty("slowestEdges").GetArrayLength() > 0);
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("trace").ValueKind);
    }

    [Fact]
    public void ProfileTraceIsChromeTraceEventsWithAnEventPerNodeStep()
    {
        var trace = Path.Combine(_dir, "trace.json");
        var (code, _, err) = CliRun.Invoke("profile", CliRun.Examples("two-layer.json"), "--batch", "3", "--trace", trace);
        Assert.True(code == 0, err);
        var events = JsonDocument.Parse(File.ReadAllText(trace)).RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var complete = events.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        var plan = TwoLayer;
        // Mode All: every node of the two-layer net runs a forward and a backward step, in each of the 3 evaluations.
        Assert.Equal(3 * 2 * plan.Count, complete.Count);
        foreach (var e in complete)
        {
            Assert.True(e.GetProperty("ts").GetDouble() >= 0);
            Assert.True(e.GetProperty("dur").GetDouble() >= 0);
            Assert.Contains(e.GetProperty("cat").GetString(), new[] { "forward", "backward" });
            Assert.Equal(plan.IndexOf(e.GetProperty("args").GetProperty("node").GetString()!), e.GetProperty("tid").GetInt32());
        }
        for (var evaluation = 0; evaluation < 3; evaluation++)
            Assert.Equal(
                plan.Ids.SelectMany(id => new[] { $"forward {id}", $"backward {id}" }).Order(),
                complete.Where(e => e.GetProperty("args").GetProperty("evaluation").GetInt32() == evaluation).Select(e => e.GetProperty("name").GetString()!).Order());
        // Every pid is named as a silo.
        var named = events.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "process_name").Select(e => e.GetProperty("pid").GetInt32()).ToHashSet();
        Assert.All(complete, e => Assert.Contains(e.GetProperty("pid").GetInt32(), named));
    }

    [Fact]
    public void ProfileRefusesTheLocalEngineAndABadBatch()
    {
        var (code, _, err) = CliRun.Invoke("profile", CliRun.Examples("two-layer.json"), "--local");
        Assert.Equal(1, code);
        Assert.StartsWith("error: profile measures the node grains", err);
        (code, _, err) = CliRun.Invoke("profile", CliRun.Examples("two-layer.json"), "--batch", "0");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --batch must be at least 1", err);
    }

    [Fact]
    public void PartitionNeedsSilosOrACluster()
    {
        var (code, _, err) = CliRun.Invoke("partition", CliRun.Examples("two-layer.json"));
        Assert.Equal(1, code);
        Assert.StartsWith("error: partition needs --silos N (a plan) or --cluster REDIS", err);
    }
}
