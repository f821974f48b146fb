// Issue 12: a scripted sequence of faults on the 3-process Redis cluster — SIGTERM and SIGKILL of silos,
// of Redis, and restarts of each — during long batches and during training, all through the client
// facade with its default options. Every result is bitwise the fault-free one, trained parameters equal
// a fault-free (local) training run, no call hangs, no state is left, and each silo's memory stays bounded.
// Bounded: about two minutes on 2 cores.
using System.Diagnostics;
using Adjoint.Client;
using Adjoint.Grains;
using BatchOptions = Adjoint.Client.BatchOptions;

using static Adjoint.Tests.Shared.FaultChecks;

namespace Adjoint.Cluster.Tests;

/// <summary>A cluster of its own, in the shared cluster's collection so that no other cluster runs beside it.</summary>
[Collection(LocalClusterCollection.Name)]
[Trait("Category", "Reliability")]
public sealed class ChaosTests
{
    /// <summary>The longest any one batch or training step may take, faults included: far above a fault-free
    /// one (about a second) and a call that meets a killed silo's grain (Orleans fails it after its 30 s
    /// response timeout, and the step is then retried: seen twice in a row), far below a hang.</summary>
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(90);

    /// <summary>Resident memory a silo may reach: about three times what one holds after this test's work.</summary>
    private const long MemoryBound = 1L << 30;

    private enum Fault { TermSilo, KillSilo, TermRedis, KillRedis }

    // During the batches, then during training; each fault is followed by a restart of what it stopped.
    private static readonly (Fault Fault, int Silo)[] BatchFaults =
        [(Fault.TermSilo, 1), (Fault.KillSilo, 2), (Fault.TermRedis, -1), (Fault.KillRedis, -1), (Fault.KillSilo, 0), (Fault.TermSilo, 2)];

    private static readonly (Fault Fault, int Silo)[] TrainingFaults =
        [(Fault.KillRedis, -1), (Fault.TermSilo, 0), (Fault.KillSilo, 1), (Fault.TermRedis, -1), (Fault.KillSilo, 2)];


    private static int Pid(LocalCluster cluster, string name) =>
        int.Parse(File.ReadAllText(Path.Combine(cluster.RunFolder, "pids", $"{name}.pid")).Trim());

    // Stops what the fault names (SIGKILL, or SIGTERM through the script's restart) and starts it again.
    private static async Task Inflict(LocalCluster cluster, Fault fault, int silo, CancellationToken ct)
    {
        var name = fault is Fault.TermRedis or Fault.KillRedis ? "redis" : $"silo{silo}";
        var pid = Pid(cluster, name);
        if (fault is Fault.KillSilo or Fault.KillRedis)
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            await process.WaitForExitAsync(ct);
            // A moment down, so that what runs meets the loss rather than a restart at once.
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        var (code, text) = await cluster.Script("restart", name == "redis" ? "redis" : silo.ToString());
        Assert.True(code == 0, $"local-cluster.sh restart {name} failed ({code}):\n{text}");
        Assert.False(LocalCluster.IsRunning(pid), $"{name} (pid {pid}) still runs after {fault}");
    }

    // Runs the work over and over until every fault is done (each fault lands while the work runs),
    // then once more; returns how many times it ran.
    private static async Task<(int Runs, List<string> Log)> UnderFaults(
        LocalCluster cluster, (Fault Fault, int Silo)[] faults, Func<Task> work, CancellationToken ct)
    {
        var runs = 0;
        var done = false;
        var loop = Task.Run(async () =>
        {
            while (!Volatile.Read(ref done))
            {
                var one = Stopwatch.StartNew();
                await work();
                if (one.Elapsed > TimeSpan.FromSeconds(5))
                    TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} run {runs} took {one.Elapsed.TotalSeconds:F1} s");
                Interlocked.Increment(ref runs);
            }
        }, ct);
        var log = new List<string>();
        foreach (var (fault, silo) in faults)
        {
            var seen = Volatile.Read(ref runs);
            while (Volatile.Read(ref runs) == seen && !loop.IsCompleted) await Task.Delay(20, ct);
            await Task.Delay(200, ct);
            if (loop.IsCompleted) break;
            var clock = Stopwatch.StartNew();
            await Inflict(cluster, fault, silo, ct);
            log.Add($"{fault}{(silo >= 0 ? $" silo {silo}" : "")}: restarted in {clock.Elapsed.TotalSeconds:F1} s");
            TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {log[^1]}");
        }
        var last = Volatile.Read(ref runs);
        while (Volatile.Read(ref runs) <= last && !loop.IsCompleted) await Task.Delay(20, ct);
        Volatile.Write(ref done, true);
        await loop;
        Assert.Equal(faults.Length, log.Count);
        return (runs, log);
    }

    // The demo's kind of data: y = tanh(X a) for a hidden a, seeded.
    private static List<IReadOnlyDictionary<string, Tensor>?> Teacher(Graph graph, int count)
    {
        var shape = graph.ShapeOf("X");
        var random = new Random(31);
        var a = Enumerable.Range(0, shape.Cols).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var sets = new List<IReadOnlyDictionary<string, Tensor>?>(count);
        for (var i = 0; i < count; i++)
        {
            var x = new Tensor(shape.Rows, shape.Cols);
            for (var k = 0; k < x.Count; k++) x.Data[k] = random.NextDouble() * 2 - 1;
            var y = new Tensor(shape.Rows, 1);
            for (var r = 0; r < shape.Rows; r++) y.Data[r] = Math.Tanh(Enumerable.Range(0, shape.Cols).Sum(c => x[r, c] * a[c]));
            sets.Add(new Dictionary<string, Tensor> { ["X"] = x, ["y"] = y });
        }
        return sets;
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    [Fact]
    public async Task Silo_and_Redis_faults_during_batches_and_training_change_no_result_and_no_trained_parameter()
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
            var clock = Stopwatch.StartNew();
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);

            // 1. Batches of gradient evaluations of a random DAG whose parameters only Redis holds.
            var core = Graphs.RandomDag(nodes: 150, seed: 29);
            var net = (ClusterGraph)await client.DeployAsync($"chaos-{Guid.NewGuid():N}", core, ct);
            var parameters = Graphs.RandomValues(core, OpKind.Parameter, new Random(13));
            foreach (var (id, value) in parameters) await net.WriteParameterAsync(id, value, ct);
            var before = await net.Distributed.ReadParameters(net.Version, ct);
            var inputs = Enumerable.Range(0, 400).Select(s => Graphs.RandomInputs(core, 5000 + s)).ToList();
            var plan = Plan.Compile(core);
            var expected = inputs.Select(set => Expected(plan, set.Concat(parameters).ToDictionary())).ToList();
            var sets = inputs.Select(set => (IReadOnlyDictionary<string, Tensor>?)set).ToList();
            var options = new BatchOptions { Adjoints = Adjoints.InputsAndParameters };
            async Task<List<EvaluationResult>> Batch() =>
                [.. (await net.EvaluateBatchAsync(sets, options, cancellationToken: ct).ToListAsync(ct).AsTask().WaitAsync(CallBound, ct)).Select(Graphs.ToWire)];
            var clean = await Batch();
            AssertAllSame(expected, clean, clean);
            var (batches, batchLog) = await UnderFaults(cluster, BatchFaults, async () => AssertAllSame(expected, clean, await Batch()), ct);
            AssertParametersUnchanged(before, await net.Distributed.ReadParameters(net.Version, ct));
            await AssertNoStateLeft(net.Distributed, net.Version, TimeSpan.FromSeconds(30), ct);

            // 2. Training: Adam steps of the two-layer net, against the same steps on the local engine.
            var twoLayer = Graphs.TwoLayer();
            var trained = await client.DeployAsync($"chaos-train-{Guid.NewGuid():N}", twoLayer, ct);
            await using var localClient = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
            var reference = await localClient.DeployAsync("reference", twoLayer, ct);
            var data = Teacher(twoLayer, 4 * 1000);
            var adam = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.05 };
            var steps = 0;
            var losses = new List<double>();
            var (_, trainingLog) = await UnderFaults(cluster, TrainingFaults, async () =>
            {
                var miniBatch = data.Skip(4 * (steps % 1000)).Take(4).ToList();
                losses.Add(await trained.TrainStepAsync(miniBatch, adam, ct).WaitAsync(CallBound, ct));
                steps++;
            }, ct);
            var referenceLosses = new List<double>();
            for (var s = 0; s < steps; s++) referenceLosses.Add(await reference.TrainStepAsync(data.Skip(4 * (s % 1000)).Take(4), adam, ct));
            Assert.Equal(referenceLosses, losses);
            var want = await reference.ReadParametersAsync(ct);
            var got = await trained.ReadParametersAsync(ct);
            foreach (var (id, value) in want)
                Assert.True(Tensor.BitwiseEqual(value, got[id]), $"trained parameter {id} differs from the fault-free training after {steps} steps");

            var memory = Enumerable.Range(0, LocalCluster.Silos).Select(i => ResidentBytes(cluster.SiloPid(i))).ToList();
            Assert.All(memory, m => Assert.InRange(m, 1, MemoryBound));
            output?.WriteLine(string.Join("\n", batchLog.Select(l => "batches: " + l).Concat(trainingLog.Select(l => "training: " + l))));
            output?.WriteLine(
                $"chaos: {BatchFaults.Length + TrainingFaults.Length} faults ({BatchFaults.Concat(TrainingFaults).Count(f => f.Fault is Fault.TermSilo or Fault.TermRedis)} SIGTERM, " +
                $"{BatchFaults.Concat(TrainingFaults).Count(f => f.Fault is Fault.KillSilo or Fault.KillRedis)} SIGKILL, each restarted), " +
                $"{batches} batches of {sets.Count} evaluations and {steps} Adam steps in {clock.Elapsed.TotalSeconds:F0} s; resubmits {net.Distributed.Resubmits}; " +
                $"every result bitwise equal, trained parameters equal the fault-free run, no state left, 0 hung calls; " +
                $"silo memory {string.Join(", ", memory.Select(m => $"{m >> 20} MiB"))}");
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
