// `bench -- distributed`: P6–P9, the distributed engine on in-process silos against the local engine.
using System.Diagnostics;
using System.Globalization;
using Adjoint.Grains;
using Orleans.TestingHost;
using static Adjoint.Bench.Figures;

namespace Adjoint.Bench;

internal static class Distributed
{
    static ConnectionTransportType Transport;
    /// <summary>
    /// Two stages of matmul+sigmoid: z = Σ σ(σ(X W1) W2), W1 and W2 d×d parameters; X n×d an input, or
    /// (<paramref name="data"/> given) a constant kept with the graph, as training data resident in the cluster.
    /// </summary>
    static Graph Pipeline(int n, int d, Random rng, Tensor? data = null)
    {
        var b = new GraphBuilder();
        var x = data is null ? b.Input("X", n, d) : b.Constant("X", data);
        var w1 = b.Parameter("W1", RandomTensor(rng, d, d, 1 / Math.Sqrt(d)));
        var w2 = b.Parameter("W2", RandomTensor(rng, d, d, 1 / Math.Sqrt(d)));
        var h = b.Sigmoid(b.MatMul(x, w1, "a1"), "h");
        var y = b.Sigmoid(b.MatMul(h, w2, "a2"), "y");
        return b.Build(b.Sum(y, "z"));
    }

    /// <summary>Runs P6–P9 on in-process silos: over the test cluster's in-memory transport, or over loopback TCP.</summary>
    public static async Task<int> Run(TextWriter w, bool tcp, IReadOnlySet<string>? only = null)
    {
        bool Wanted(string id) => only is null || only.Count == 0 || only.Contains(id);
        Transport = tcp ? ConnectionTransportType.TcpSocket : ConnectionTransportType.InMemory;
        w.WriteLine($"adjoint distributed benchmark: in-process silos over {(tcp ? "loopback TCP" : "the in-memory transport")}, gemm={Engine.gemmBackend}, "
                    + $"cores={Environment.ProcessorCount}, .NET {Environment.Version}");
        w.Flush();
        await using (var two = await DistributedCluster.Start(2, Transport))
        {
            var client = two.Client;
            if (Wanted("P6")) await P6(w, client);
            if (Wanted("P7")) await P7(w, client);
            if (Wanted("P8")) await P8(w, client);
        }
        if (!Wanted("P9")) return 0;
        var perSecond = new Dictionary<short, double>();
        foreach (short silos in new short[] { 1, 3 })
        {
            await using var cluster = await DistributedCluster.Start(silos, Transport);
            perSecond[silos] = await MessagesPerSecond(cluster.Client, silos);
        }
        var ratio = perSecond[3] / perSecond[1];
        Report(w, "P9", "node messages (work items: starts, values, VJP terms, reports) per second, 1 silo / 3 silos (random DAG of 200 nodes, gradient of all nodes, window 64)",
            $"{F(perSecond[1], "0")} / {F(perSecond[3], "0")}", "msg/s", ratio, "report", true);
        var ok = Lines.Count(l => l.Ok);
        w.WriteLine($"summary: {ok}/{Lines.Count} ok; P6 bounds the time (ratio = distributed / local engine), "
                    + "P7 the ratio distributed / local, P8 the throughput ratio pipelined / one at a time, P9 reports (ratio = 3 silos / 1 silo)");
        return 0;
    }

    /// <summary>
    /// One large random DAG on a cluster: deploy, the first gradient (activating every node grain), a
    /// warm one, each compared bit for bit with the local engine.
    /// </summary>
    public static async Task<int> Large(TextWriter w, int nodes, short silos)
    {
        var sw = Stopwatch.StartNew();
        await using var cluster = await DistributedCluster.Start(silos, ConnectionTransportType.InMemory);
        w.WriteLine($"cluster of {silos} silos started in {F(sw.Elapsed.TotalSeconds)} s");
        var core = RandomDag(10, nodes);
        var plan = Plan.Compile(core);
        var graph = new DistributedGraph(cluster.Client, "large");
        sw.Restart();
        var version = (await graph.Deploy(core)).Version;
        w.WriteLine($"deployed {core.Count} nodes in {F(sw.Elapsed.TotalSeconds)} s");
        var rng = new Random(10);
        var inputs = core.Nodes.Where(nd => nd.Op.Kind == OpKind.Input).ToDictionary(nd => nd.Id, _ => RandomTensor(rng, 3, 2, 1));
        var local = Engine.gradient(Adjoints.All, plan, inputs);
        foreach (var pass in new[] { "first (activates every node grain)", "warm" })
        {
            sw.Restart();
            var result = (await graph.Evaluate(version, [inputs], new BatchOptions { Mode = AdjointMode.All }))[0];
            var seconds = sw.Elapsed.TotalSeconds;
            if (!result.Succeeded) throw new InvalidOperationException(result.Failure!.ToString());
            var equal = Tensor.BitwiseEqual(local.Output, result.Output!.ToTensor())
                && Enumerable.Range(0, plan.Count).All(p => local.AdjointAt(p) is not { } l || Tensor.BitwiseEqual(l, result.Adjoints[plan.Ids[p]].ToTensor()));
            w.WriteLine($"large: {core.Count} nodes on {silos} silos, {pass} gradient of every node: {F(seconds, "0.000")} s, "
                        + $"{result.Adjoints.Count} adjoints, bitwise equal to the local engine: {(equal ? "yes" : "NO")}");
        }
        w.WriteLine($"live per-evaluation states after: {await graph.Grain.CountLiveStates(version)}");
        return 0;
    }

    // ---- P6: latency of one forward+backward through two stages on two silos.

    static async Task P6(TextWriter w, IClusterClient client)
    {
        var rng = new Random(6);
        var core = Pipeline(4, 4, rng);
        var graph = new DistributedGraph(client, "p6");
        var version = (await graph.Deploy(core, partitions: 2)).Version;
        var inputs = new Dictionary<string, Tensor> { ["X"] = RandomTensor(rng, 4, 4, 1) };
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters };
        for (var i = 0; i < 300; i++) await graph.Evaluate(version, [inputs], options);
        var times = new double[500];
        for (var i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            var r = await graph.Evaluate(version, [inputs], options);
            times[i] = sw.Elapsed.TotalMilliseconds;
            if (!r[0].Succeeded) throw new InvalidOperationException(r[0].Failure!.ToString());
        }
        var plan = Plan.Compile(core);
        var local = LocalMs(() => Engine.gradient(Adjoints.InputsAndParameters, plan, inputs), 2000, 20000);
        var ms = Measure.Median(times);
        Report(w, "P6", "two-stage pipeline on 2 silos, tiny tensors (4x4), one forward+backward", F(ms, "0.000"), "ms",
            ms / local, "1.15 ms", ms <= 1.15);
    }

    static double LocalMs(Action action, int warmup, int reps)
    {
        for (var i = 0; i < warmup; i++) action();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < reps; i++) action();
        return sw.Elapsed.TotalMilliseconds / reps;
    }

    // ---- P7: the same pipeline at n = 2048, d = 512: distributed ÷ local engine.

    static async Task P7(TextWriter w, IClusterClient client)
    {
        const int n = 2048, d = 512;
        var rng = new Random(7);
        var core = Pipeline(n, d, rng, RandomTensor(rng, n, d, 1));
        var graph = new DistributedGraph(client, "p7");
        var version = (await graph.Deploy(core, partitions: 2)).Version;
        var inputs = new Dictionary<string, Tensor>();
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters };
        var plan = Plan.Compile(core);
        void LocalRun() => Engine.gradient(Adjoints.InputsAndParameters, plan, inputs);
        Task DistributedRun() => graph.Evaluate(version, [inputs], options);
        for (var i = 0; i < 2; i++)
        {
            LocalRun();
            await DistributedRun();
        }
        var reps = 7;
        var dist = new double[reps];
        var local = new double[reps];
        for (var i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            LocalRun();
            local[i] = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            await DistributedRun();
            dist[i] = sw.Elapsed.TotalMilliseconds;
        }
        var ratio = Measure.Median(dist.Zip(local, (a, b) => a / b));
        Report(w, "P7", $"two-stage pipeline n={n} d={d} (X resident as a constant) on 2 silos, distributed / local engine ({F(Measure.Median(local), "0.0")} ms local)",
            F(Measure.Median(dist), "0.0"), "ms", ratio, "1.15", ratio <= 1.15);
    }

    // ---- P8: 1,000 evaluations pipelined against one at a time.

    static async Task P8(TextWriter w, IClusterClient client)
    {
        var rng = new Random(8);
        var core = Pipeline(4, 4, rng);
        var graph = new DistributedGraph(client, "p8");
        var version = (await graph.Deploy(core, partitions: 2)).Version;
        var inputs = Enumerable.Range(0, 1000).Select(_ => (IReadOnlyDictionary<string, Tensor>?)new Dictionary<string, Tensor> { ["X"] = RandomTensor(rng, 4, 4, 1) }).ToList();
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters };
        static void Check(List<EvaluationResult> results)
        {
            if (results.Any(r => !r.Succeeded)) throw new InvalidOperationException("an evaluation failed");
        }
        // One at a time: each evaluation submitted when the previous one's result is back.
        async Task<double> OneAtATime()
        {
            var sw = Stopwatch.StartNew();
            foreach (var input in inputs) Check(await graph.Evaluate(version, [input], options));
            return sw.Elapsed.TotalMilliseconds;
        }
        // The same inside one batch with a window of 1: no client round trip between evaluations.
        async Task<double> Window(int window)
        {
            var sw = Stopwatch.StartNew();
            Check(await graph.Evaluate(version, inputs, new BatchOptions { Mode = options.Mode, Window = window }));
            return sw.Elapsed.TotalMilliseconds;
        }
        await OneAtATime();
        await Window(1);
        await Window(1000);
        // Interleaved, so that a neighbour's load hits all three alike; the pipelined batch is short, so
        // it is taken three times a round.
        const int reps = 5;
        var single = new double[reps];
        var serial = new double[reps];
        var pipelined = new double[3 * reps];
        for (var i = 0; i < reps; i++)
        {
            single[i] = await OneAtATime();
            pipelined[3 * i] = await Window(1000);
            serial[i] = await Window(1);
            pipelined[3 * i + 1] = await Window(1000);
            pipelined[3 * i + 2] = await Window(1000);
        }
        double Rate(double[] ms) => 1000 / Measure.Median(ms) * 1000;
        var ratio = Rate(pipelined) / Rate(single);
        Report(w, "P8", $"1000 evaluations (two-stage pipeline, 2 silos) pipelined in one batch (window 1000) / one at a time "
                        + $"({F(Rate(single), "0")} eval/s; {F(Rate(serial), "0")} eval/s as one batch of window 1, ratio {F(Rate(pipelined) / Rate(serial))})",
            F(Rate(pipelined), "0"), "eval/s", ratio, "10", ratio >= 10);
    }

    // ---- P9: node messages per second.

    /// <summary>Work messages one gradient evaluation (All) sends: starts, values, terms, reports.</summary>
    static long MessagesPerEvaluation(DeployedGraph graph, AdjointMode mode)
    {
        var plan = graph.Plan;
        long count = 1; // z_n reported
        for (var p = 0; p < plan.Count; p++)
        {
            if (plan.Op(p).Kind != OpKind.Compute) count++;
            count += plan.Successors(p).Count;
            if (!graph.ReachesOutput(p)) count++;
            if (graph.ReportsAdjoint(mode, p)) count++;
            foreach (var a in plan.Ancestors(p))
                if (graph.NeedsAdjoint(mode, p) && graph.NeedsAdjoint(mode, a)) count++;
        }
        return count;
    }

    static async Task<double> MessagesPerSecond(IClusterClient client, short silos)
    {
        var core = RandomDag(9, 200);
        var graph = new DistributedGraph(client, $"p9-{silos}");
        var version = (await graph.Deploy(core)).Version;
        var layout = await graph.Grain.Layout(version, 0);
        var deployed = new DeployedGraph("p9", version, layout, core, Plan.Compile(core), client);
        var mode = AdjointMode.All;
        var perEvaluation = MessagesPerEvaluation(deployed, mode);
        var rng = new Random(9);
        var inputs = Enumerable.Range(0, 400).Select(_ => (IReadOnlyDictionary<string, Tensor>?)core.Nodes
            .Where(nd => nd.Op.Kind == OpKind.Input).ToDictionary(nd => nd.Id, _ => RandomTensor(rng, 3, 2, 1))).ToList();
        var options = new BatchOptions { Mode = mode, Window = 64 };
        await graph.Evaluate(version, inputs, options);
        var rates = new double[3];
        for (var i = 0; i < rates.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            await graph.Evaluate(version, inputs, options);
            rates[i] = perEvaluation * inputs.Count / sw.Elapsed.TotalSeconds;
        }
        return Measure.Median(rates);
    }

    /// <summary>
    /// A random DAG over 3×2 tensors whose every node reaches z_n: the nodes left without successors
    /// are added up in a balanced tree, then summed.
    /// </summary>
    static Graph RandomDag(int seed, int size)
    {
        var random = new Random(seed);
        var b = new GraphBuilder();
        var nodes = new List<NodeRef>();
        var used = new HashSet<string>();
        for (var i = 0; i < 4; i++) nodes.Add(b.Input($"x{i}", 3, 2));
        NodeRef Pick()
        {
            var u = random.NextDouble();
            var n = nodes[nodes.Count - 1 - (int)(u * u * nodes.Count)];
            used.Add(n.Id);
            return n;
        }
        while (b.Count < size * 9 / 10)
        {
            nodes.Add(random.Next(10) switch
            {
                0 => b.Parameter($"p{b.Count}", RandomTensor(random, 3, 2, 1)),
                < 4 => b.Add(Pick(), Pick()),
                < 6 => b.Mul(Pick(), Pick()),
                < 8 => b.Tanh(Pick()),
                _ => b.Sigmoid(Pick()),
            });
        }
        var sinks = nodes.Where(n => !used.Contains(n.Id)).ToList();
        while (sinks.Count > 1)
            sinks = [.. Enumerable.Range(0, (sinks.Count + 1) / 2).Select(i => 2 * i + 1 < sinks.Count ? b.Add(sinks[2 * i], sinks[2 * i + 1]) : sinks[2 * i])];
        return b.Build(b.Sum(sinks[0], "z"));
    }
}
