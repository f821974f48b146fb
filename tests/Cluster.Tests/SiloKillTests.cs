// Issue 7, item 1, on real processes: a silo killed with SIGKILL while a batch of 1,000 gradient
// evaluations is in flight. Every evaluation completes, bitwise equal to the local engine and to a
// fault-free run; no parameter (held in Redis) is lost or changed; the extra time is reported.
using System.Diagnostics;
using System.Text.RegularExpressions;
using Adjoint.Client;
using Adjoint.Grains;
using BatchOptions = Adjoint.Grains.BatchOptions;

using static Adjoint.Tests.Shared.FaultChecks;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// Kills a silo of a cluster of its own (the shared one serves other tests). In the shared cluster's
/// collection, so that no other cluster starts while this one runs and shares its two cores.
/// </summary>
[Collection(LocalClusterCollection.Name)]
[Trait("Category", "Reliability")]
public sealed partial class SiloKillTests
{
    private const int Evaluations = 1000;

    // The port in a silo address as Orleans prints it, "S127.0.0.1:40001:123456789".
    [GeneratedRegex(@":(\d+):\d+$")]
    private static partial Regex SiloPortPattern();

    private static int PortOf(string siloAddress) => int.Parse(SiloPortPattern().Match(siloAddress).Groups[1].Value);

    [Fact]
    public async Task A_silo_killed_mid_batch_loses_no_evaluation_and_no_parameter()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = new LocalCluster(LocalCluster.Silos);
        await cluster.InitializeAsync();
        try
        {
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);
            var core = Graphs.RandomDag(nodes: 150, seed: 21);
            var graph = new DistributedGraph(client.Grains!, $"silo-kill-{Guid.NewGuid():N}");
            var version = (await graph.Deploy(core)).Version;
            Assert.Equal(LocalCluster.Silos, (await graph.Grain.Describe(version)).Partitions);

            // Parameter values that only Redis holds (not the graph's own): a node grain that comes back
            // on another silo after the kill must read them from there.
            var parameters = Graphs.RandomValues(core, OpKind.Parameter, new Random(7));
            foreach (var (id, value) in parameters) await graph.Grain.WriteParameter(version, id, TensorData.From(value));
            var before = await graph.Grain.ReadParameters(version);
            var inputs = Enumerable.Range(0, Evaluations).Select(s => Graphs.RandomInputs(core, s)).ToList();
            var plan = Plan.Compile(core);
            var expected = inputs.Select(set => Expected(plan, set.Concat(parameters).ToDictionary())).ToList();
            var batch = inputs.Select(set => (IReadOnlyDictionary<string, Tensor>?)set).ToList();
            var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 64, EvaluationTimeout = TimeSpan.FromSeconds(1) };

            // Fault-free: warm up, then time one batch.
            await graph.Evaluate(version, batch.Take(100), options, ct);
            var clock = Stopwatch.StartNew();
            var clean = await graph.Evaluate(version, batch, options, ct);
            var faultFree = clock.Elapsed;
            for (var i = 0; i < Evaluations; i++)
                Assert.True(Same(expected[i], clean[i]), $"fault-free evaluation {i} differs from the local engine");

            // The victim: a silo other than the coordinator's (which is also the gateway the batch's call
            // came in through: the coordinator is placed on the silo that first received a call for it).
            var coordinator = graph.Coordinator;
            var status = await coordinator.Status();
            var coordinatorSilo = PortOf(status.Silo) - cluster.SiloPort;
            Assert.InRange(coordinatorSilo, 0, LocalCluster.Silos - 1);
            var victim = Enumerable.Range(0, LocalCluster.Silos).Last(i => i != coordinatorSilo);
            using var process = Process.GetProcessById(cluster.SiloPid(victim));

            clock.Restart();
            var run = graph.Evaluate(version, batch, options, ct);
            await Task.Delay(faultFree / 3, ct);
            Assert.False(run.IsCompleted, "the batch finished before the silo was killed");
            process.Kill(); // SIGKILL: no goodbye to the membership table, no connection closed in order
            // A hang fails the test rather than the run (a lost Run answer would wait out its hour).
            var results = await run.WaitAsync(TimeSpan.FromSeconds(90), ct);
            var withFault = clock.Elapsed;
            Assert.False(LocalCluster.IsRunning(process.Id), $"silo {victim} (pid {process.Id}) survived SIGKILL");

            AssertAllSame(expected, clean, results);
            AssertParametersUnchanged(before, await graph.Grain.ReadParameters(version));
            await AssertNoStateLeft(graph, version, TimeSpan.FromSeconds(10), ct);

            // A resubmitted batch (its call came in through the victim after all) ran on a fresh coordinator.
            var reruns = (await coordinator.Status()).Reruns + (graph.Coordinator == coordinator ? 0 : (await graph.Coordinator.Status()).Reruns);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{Evaluations} evaluations completed with silo {victim} (pid {process.Id}) killed mid-batch, coordinator on silo {coordinatorSilo}; " +
                $"re-runs {reruns}, resubmits {graph.Resubmits}; fault-free {faultFree.TotalMilliseconds:F0} ms, " +
                $"with fault {withFault.TotalMilliseconds:F0} ms, extra {(withFault - faultFree).TotalMilliseconds:F0} ms");
            // Noticed either way: the coordinator re-ran what the silo held, or (when the dead silo held the
            // coordinator's directory entry, so Orleans deactivated it) the client resubmitted the batch.
            Assert.True(reruns > 0 || graph.Resubmits > 0, "the lost silo went unnoticed: no re-run, no resubmit");
            // Re-runs leave evidence in the silo logs: an event with its id, count, reason and batch.
            if (reruns > 0)
                Assert.Contains(Enumerable.Range(0, LocalCluster.Silos), i =>
                    File.ReadAllText(Path.Combine(cluster.RunFolder, "logs", $"silo{i}.log")).Contains("Adjoint.Grains.CoordinatorGrain[2001] re-running "));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
