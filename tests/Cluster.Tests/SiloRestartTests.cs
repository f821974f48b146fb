// Issue 12, item 1: batches through the facade, with its default options, while silos are stopped with
// SIGTERM and killed with SIGKILL again and again (the graph grain's silo and the coordinator's among
// them) and started again with `local-cluster.sh restart N`. No batch hangs, every result is bitwise the
// fault-free run's, parameters stay, no state is left; and a CLI batch survives a SIGTERM too.
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Adjoint.Client;
using Adjoint.Grains;
using BatchOptions = Adjoint.Client.BatchOptions;

using static Adjoint.Tests.Shared.FaultChecks;

namespace Adjoint.Cluster.Tests;

/// <summary>A cluster of its own, in the shared cluster's collection so that no other cluster runs beside it.</summary>
[Collection(LocalClusterCollection.Name)]
[Trait("Category", "Reliability")]
public sealed partial class SiloRestartTests
{
    private const int BatchSize = 400;

    /// <summary>Input sets of the CLI batch: a run of several seconds, so that the SIGTERM falls in it.</summary>
    private const int CliBatch = 20000;

    /// <summary>What a batch may take at most, faults included: far above a fault-free batch (about a
    /// second) and a SIGKILL noticed through membership (~15 s), far below a hang.</summary>
    private static readonly TimeSpan BatchBound = TimeSpan.FromSeconds(60);

    private enum Signal { Term, Kill }

    private enum Victim { GraphGrain, Coordinator, Other }

    // Three of each signal; the graph grain's silo and the coordinator's each get both.
    private static readonly (Signal Signal, Victim Victim)[] Faults =
    [
        (Signal.Term, Victim.GraphGrain), (Signal.Kill, Victim.Coordinator), (Signal.Term, Victim.Coordinator),
        (Signal.Kill, Victim.GraphGrain), (Signal.Term, Victim.Other), (Signal.Kill, Victim.Other),
    ];

    [GeneratedRegex(@":(\d+):\d+$")]
    private static partial Regex SiloPortPattern();

    private static int SiloOf(LocalCluster cluster, string siloAddress) =>
        int.Parse(SiloPortPattern().Match(siloAddress).Groups[1].Value) - cluster.SiloPort;


    [Fact]
    public async Task Facade_batches_survive_repeated_SIGTERM_and_SIGKILL_of_any_silo_with_default_options()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper;
        var cluster = new LocalCluster(LocalCluster.Silos);
        // State that a message lost with a killed silo left behind is reclaimed after ReclaimAfter (1 min
        // by default); 5 s here, so that "no state left" is checked within the test's bound.
        cluster.Environment["ADJOINT__Limits__ReclaimAfter"] = "00:00:05";
        await cluster.InitializeAsync();
        try
        {
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);
            var core = Graphs.RandomDag(nodes: 150, seed: 23);
            var graphId = $"silo-restart-{Guid.NewGuid():N}";
            var net = (ClusterGraph)await client.DeployAsync(graphId, core, ct);
            var graphGrain = client.Grains!.GetGrain<IGraphGrain>(graphId);

            // Parameters that only Redis holds: a node grain activated again after a fault reads them there.
            var parameters = Graphs.RandomValues(core, OpKind.Parameter, new Random(11));
            foreach (var (id, value) in parameters) await net.WriteParameterAsync(id, value, ct);
            var before = await net.Distributed.ReadParameters(net.Version, ct);
            var inputs = Enumerable.Range(0, BatchSize).Select(s => Graphs.RandomInputs(core, 1000 + s)).ToList();
            var plan = Plan.Compile(core);
            var expected = inputs.Select(set => Expected(plan, set.Concat(parameters).ToDictionary())).ToList();
            var sets = inputs.Select(set => (IReadOnlyDictionary<string, Tensor>?)set).ToList();
            // Defaults but for the adjoints FaultChecks compares: no timeout, evaluation timeout or watchdog set here.
            var options = new BatchOptions { Adjoints = Adjoints.InputsAndParameters };

            async Task<List<EvaluationResult>> Batch()
            {
                var results = await net.EvaluateBatchAsync(sets, options, cancellationToken: ct).ToListAsync(ct).AsTask()
                    .WaitAsync(BatchBound, ct);
                return [.. results.Select(Graphs.ToWire)];
            }

            await Batch(); // warm: every node grain active
            var clock = Stopwatch.StartNew();
            var clean = await Batch();
            var faultFree = clock.Elapsed;
            AssertAllSame(expected, clean, clean);

            // Re-runs are counted by each coordinator activation; a resubmit moves to a fresh one.
            var reruns = new Dictionary<(Guid, string), int>();
            async Task CountReruns()
            {
                try
                {
                    var coordinator = net.Distributed.Coordinator;
                    var status = await coordinator.Status().WaitAsync(TimeSpan.FromSeconds(10), ct);
                    var key = (coordinator.GetPrimaryKey(), status.Silo);
                    reruns[key] = Math.Max(reruns.GetValueOrDefault(key), status.Reruns);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Its silo is going: counted at the next batch.
                }
            }

            // Batches back to back until every fault is done; each is checked as it ends.
            var batches = 0;
            var longest = TimeSpan.Zero;
            var running = Stopwatch.StartNew();
            var faultsDone = false;
            var loop = Task.Run(async () =>
            {
                while (!Volatile.Read(ref faultsDone))
                {
                    var one = Stopwatch.StartNew();
                    var results = await Batch();
                    longest = one.Elapsed > longest ? one.Elapsed : longest;
                    AssertAllSame(expected, clean, results);
                    Interlocked.Increment(ref batches);
                    await CountReruns();
                }
            }, ct);

            var faultLog = new List<string>();
            foreach (var (signal, victim) in Faults)
            {
                // Mid-batch: a batch has finished since the last fault, and the next one has begun.
                var seen = Volatile.Read(ref batches);
                while (Volatile.Read(ref batches) == seen && !loop.IsCompleted) await Task.Delay(20, ct);
                await Task.Delay(faultFree / 3, ct);
                if (loop.IsCompleted) break;
                var coordinatorSilo = SiloOf(cluster, (await net.Distributed.Coordinator.Status().WaitAsync(TimeSpan.FromSeconds(10), ct)).Silo);
                var graphSilo = SiloOf(cluster, await graphGrain.Where().WaitAsync(TimeSpan.FromSeconds(10), ct));
                var silo = victim switch
                {
                    Victim.GraphGrain => graphSilo,
                    Victim.Coordinator => coordinatorSilo,
                    _ => Enumerable.Range(0, LocalCluster.Silos).First(i => i != graphSilo && i != coordinatorSilo
                        || Enumerable.Range(0, LocalCluster.Silos).All(j => j == graphSilo || j == coordinatorSilo)),
                };
                Assert.InRange(silo, 0, LocalCluster.Silos - 1);
                var pid = cluster.SiloPid(silo);
                if (signal == Signal.Kill)
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                    await process.WaitForExitAsync(ct);
                }
                // restart sends SIGTERM itself to a silo that runs, waits for it to leave, and starts it again.
                var (code, text) = await cluster.Script("restart", silo.ToString());
                Assert.True(code == 0, $"local-cluster.sh restart {silo} failed ({code}):\n{text}");
                Assert.False(LocalCluster.IsRunning(pid), $"silo {silo} (pid {pid}) still runs after {signal}");
                faultLog.Add($"{signal} silo {silo} ({victim}; graph grain on {graphSilo}, coordinator on {coordinatorSilo}), {running.Elapsed.TotalSeconds:F1} s");
                output?.WriteLine(faultLog[^1]);
            }
            // One more batch after the last restart, then stop.
            var last = Volatile.Read(ref batches);
            while (Volatile.Read(ref batches) <= last && !loop.IsCompleted) await Task.Delay(20, ct);
            Volatile.Write(ref faultsDone, true);
            await loop;
            var seconds = running.Elapsed.TotalSeconds;
            Assert.Equal(Faults.Length, faultLog.Count);

            AssertParametersUnchanged(before, await net.Distributed.ReadParameters(net.Version, ct));
            await AssertNoStateLeft(net.Distributed, net.Version, TimeSpan.FromSeconds(30), ct);
            await CountReruns();
            var totalReruns = reruns.Values.Sum();
            output?.WriteLine(
                $"{batches} batches of {BatchSize} gradient evaluations through the facade (default options) with {Faults.Length} faults " +
                $"({Faults.Count(f => f.Signal == Signal.Term)} SIGTERM, {Faults.Count(f => f.Signal == Signal.Kill)} SIGKILL, each silo restarted) in {seconds:F1} s; " +
                $"re-runs {totalReruns}, resubmits {net.Distributed.Resubmits}; fault-free batch {faultFree.TotalMilliseconds:F0} ms, " +
                $"longest batch {longest.TotalMilliseconds:F0} ms (bound {BatchBound.TotalSeconds:F0} s); all bitwise equal, no state left, parameters unchanged");

            await CliBatchSurvivesSigterm(cluster, ct);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    // `adjoint grad --cluster` with a batch of input sets while the silo holding its graph grain gets SIGTERM:
    // exit 0, output equal to the local engine's text (numbers are written round-trip).
    private static async Task CliBatchSurvivesSigterm(LocalCluster cluster, CancellationToken ct)
    {
        var file = Path.Combine(cluster.RunFolder, "batch.json");
        var sets = new JsonArray([.. Graphs.TwoLayerInputs(CliBatch, 5).Select(set => (JsonNode?)new JsonObject(
            set!.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray([.. kv.Value.ToRows()
                .Select(row => (JsonNode?)new JsonArray([.. row.Select(v => (JsonNode?)JsonValue.Create(v))]))])))))]);
        await File.WriteAllTextAsync(file, sets.ToJsonString(), ct);
        var twoLayer = Path.Combine(LocalCluster.Root, "examples", "two-layer.json");
        async Task<(int Code, string Out, string Err)> Grad(params string[] backend)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await Cli.Cli.RunAsync(["grad", twoLayer, "--inputs", file, "--json", .. backend], stdout, stderr);
            return (code, stdout.ToString(), stderr.ToString());
        }
        var local = await Grad("--local");
        Assert.Equal(0, local.Code);

        // Deployed once first, so that the graph grain's silo is known before the CLI's own run.
        await using (var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct))
            await client.DeployAsync("two-layer", Graphs.TwoLayer(), ct);
        await using var probe = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);
        var twoLayerGrain = probe.Grains!.GetGrain<IGraphGrain>("two-layer");
        var silo = SiloOf(cluster, await twoLayerGrain.Where());
        var version = (await twoLayerGrain.Describe(0)).Version;

        var clock = Stopwatch.StartNew();
        var run = Grad("--cluster", cluster.Redis);
        // The SIGTERM when the CLI's evaluations are in flight (node grains hold their state).
        while (!run.IsCompleted && await twoLayerGrain.CountLiveStates(version) == 0) await Task.Delay(20, ct);
        var restart = cluster.Script("restart", silo.ToString());
        Assert.False(run.IsCompleted, "the CLI batch finished before the SIGTERM");
        var (code, stdout, stderr) = await run.WaitAsync(BatchBound, ct);
        var elapsed = clock.Elapsed;
        Assert.Equal(0, (await restart).Code);
        Assert.True(code == 0, $"adjoint grad --cluster exited with {code}: {stderr}");
        Assert.Equal(local.Out, stdout);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"CLI: adjoint grad --cluster, {CliBatch} input sets, SIGTERM of silo {silo} (graph grain's) mid-batch: exit 0 in {elapsed.TotalSeconds:F1} s, equal to --local");
    }
}
