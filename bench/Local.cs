// `bench -- local`: the local engine's figures P1–P5, each against a reference measured in this process.
using System.Diagnostics;
using System.Globalization;
using static Adjoint.Bench.Figures;

namespace Adjoint.Bench;

internal static class Local
{
    // Reference points measured on the benchmark machine (2 cores, float64) with PyTorch 1.13.
    const double TorchChainMs = 192.0;

    public static int Run(TextWriter w, HashSet<string>? only = null)
    {
        bool Runs(string id) => only is null || only.Contains(id);
        w.WriteLine($"adjoint local engine benchmark: gemm={Kernels.gemmBackend}, openblas={(Kernels.openBlasAvailable ? "yes" : "no")}, "
                    + $"cores={Environment.ProcessorCount}, vector={System.Numerics.Vector<double>.Count}x64, .NET {Environment.Version}");
        w.Flush();
        // P1 and P5 share the GEMM peak, P3 takes P2's plan and time.
        var gemm = Runs("P1") || Runs("P5") ? GemmPeak() : null;
        if (Runs("P1")) P1(w, gemm!.Peak);
        if (Runs("P2") || Runs("P3"))
        {
            var (chainPlan, handChainMs) = P2(w);
            if (Runs("P3")) P3(w, chainPlan, handChainMs);
        }
        if (Runs("P4")) P4(w);
        if (Runs("P5")) P5(w, gemm!);
        var ok = Lines.Count(l => l.Ok);
        w.WriteLine($"summary: {ok}/{Lines.Count} ok; gemm={Kernels.gemmBackend}; GEMM peak {(gemm is null ? "not measured" : F(gemm.Peak, "0.0") + " GFLOP/s")} (best of P1's shape and 1024^3); "
                    + "P1 and P5 targets bound the ratio, P2 and P3 the time (ratio = time / hand-written tape), P4 the flatness max/min of ns per node "
                    + "(and 10^6 nodes under 0.5 s)");
        return 0;
    }

    // ---- GEMM at 1024³: the peak P1 is measured against, and P5.

    record GemmRun(double Peak, double Managed, double Ratio, bool HaveBlas);

    static GemmRun GemmPeak()
    {
        const int n = 1024;
        var rng = new Random(7);
        var a = RandomTensor(rng, n, n, 1);
        var b = RandomTensor(rng, n, n, 1);
        var c = new Tensor(n, n);
        var flops = 2.0 * n * n * (double)n;
        if (!Kernels.openBlasAvailable)
        {
            var t = Measure.Ms(() => Kernels.gemmManaged(false, false, a, b, 0.0, c), 2, 7);
            return new GemmRun(flops / t / 1e6, flops / t / 1e6, double.NaN, false);
        }
        var (managed, blas, ratio) = Measure.Pair(
            () => Kernels.gemmManaged(false, false, a, b, 0.0, c),
            () => Kernels.gemmOpenBlas(false, false, a, b, 0.0, c), 2, 11);
        // The peak P1 is held against: the engine's GEMM alone (not alternating with the other kernel) on
        // P1's own shape, 2048x512 times 512x512, and at 1024^3, whichever is faster.
        var x = RandomTensor(rng, 2048, 512, 1);
        var w1 = RandomTensor(rng, 512, 512, 1);
        var h = new Tensor(2048, 512);
        var atP1 = Measure.Ms(() => Kernels.gemm(false, false, x, w1, 0.0, h), 3, 15);
        var alone = Measure.Ms(() => Kernels.gemm(false, false, a, b, 0.0, c), 2, 9);
        var peak = Math.Max(2.0 * 2048 * 512 * 512 / atP1 / 1e6, flops / alone / 1e6);
        // Ratio of speeds = inverse ratio of times.
        return new GemmRun(peak, flops / managed / 1e6, 1.0 / ratio, true);
    }

    static void P5(TextWriter w, GemmRun g)
    {
        if (!g.HaveBlas)
            Report(w, "P5", "managed GEMM 1024^3 / OpenBLAS (OpenBLAS not installed)", F(g.Managed, "0.0"), "GFLOP/s", double.NaN, "0.40", false);
        else
            Report(w, "P5", "managed GEMM 1024^3 / OpenBLAS", F(g.Managed, "0.0"), "GFLOP/s", g.Ratio, "0.40", g.Ratio >= 0.40);
    }

    // ---- P1: the seed's two-layer net against its hand-written gradient.

    static void P1(TextWriter w, double peak)
    {
        const int n = 2048, d = 512;
        var rng = new Random(42);
        var X = RandomTensor(rng, n, d, 1);
        var Y = RandomTensor(rng, n, 1, 1);
        var W1 = RandomTensor(rng, d, d, 1 / Math.Sqrt(d));
        var W2 = RandomTensor(rng, d, 1, 1 / Math.Sqrt(d));

        var b = new GraphBuilder();
        var x = b.Constant("X", X);
        var y = b.Constant("y", Y);
        var w1 = b.Parameter("W1", W1);
        var w2 = b.Parameter("W2", W2);
        var loss = b.SquaredNorm(b.Sub(b.MatMul(b.Sigmoid(b.MatMul(x, w1, "H"), "S"), w2, "P"), y, "R"), "loss");
        var plan = Plan.Compile(b.Build(loss));
        var e = new Evaluation(plan, Adjoints.InputsAndParameters);
        void Engine1()
        {
            Engine.forward(e);
            Engine.backward(Adjoints.InputsAndParameters, e);
        }

        // The closed form of §16.4 on the same kernels, into buffers made once.
        var H = new Tensor(n, d);
        var S = new Tensor(n, d);
        var P = new Tensor(n, 1);
        var R = new Tensor(n, 1);
        var lR = new Tensor(n, 1);
        var lS = new Tensor(n, d);
        var lH = new Tensor(n, d);
        var gW1 = new Tensor(d, d);
        var gW2 = new Tensor(d, 1);
        double L = 0;
        void Hand()
        {
            Kernels.gemm(false, false, X, W1, 0.0, H);           // H = X W1
            Kernels.Vec.sigmoid(H.Data, S.Data);                 // S = σ(H)
            Kernels.gemm(false, false, S, W2, 0.0, P);           // P = S W2
            Kernels.Vec.sub(P.Data, Y.Data, R.Data);             // R = P − y
            L = Kernels.dot(R.Data, R.Data);                     // L = ‖R‖²
            Kernels.Vec.scale(2.0, R.Data, lR.Data);             // Λ_R = 2R
            Kernels.gemm(true, false, S, lR, 0.0, gW2);          // ∇W2 = Sᵀ Λ_R
            Kernels.gemm(false, true, lR, W2, 0.0, lS);          // Λ_S = Λ_R W2ᵀ
            Kernels.Vec.sigmoidVjp(S.Data, lS.Data, lH.Data);    // Λ_H = Λ_S ⊙ S ⊙ (1 − S)
            Kernels.gemm(true, false, X, lH, 0.0, gW1);          // ∇W1 = Xᵀ Λ_H
        }

        var (engineMs, handMs, ratio) = Measure.Pair(Engine1, Hand, 2, 15);
        var same = Tensor.BitwiseEqual(e.Adjoint("W1"), gW1) && Tensor.BitwiseEqual(e.Adjoint("W2"), gW2)
                   && e.Output.ScalarValue == L;
        var flops = 4.0 * n * d * (double)d + 6.0 * n * d;
        var gflops = flops / engineMs / 1e6;
        Report(w, "P1", $"two-layer net n={n} d={d} ({F(gflops, "0.0")} GFLOP/s = {F(gflops / peak)} of GEMM peak {F(peak, "0.0")}; "
                        + $"hand-written {F(handMs, "0.0")} ms; gradients {(same ? "bitwise equal" : "DIFFER")})",
            F(engineMs, "0.0"), "ms", ratio, "1.10", ratio <= 1.10 && same);
    }

    // ---- P2, P3: a 20,000-op scalar chain h ← sin(h) · w + x, built, compiled and run.

    const int ChainOps = 20_000;

    static Plan BuildChain()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", Tensor.Scalar(0.5));
        var w = b.Parameter("w", Tensor.Scalar(0.9));
        var h = x;
        for (var k = 0; k < ChainOps; k++)
            h = (k % 3) switch { 0 => b.Sin(h), 1 => b.Mul(h, w), _ => b.Add(h, x) };
        return Plan.Compile(b.Build(h));
    }

    /// <summary>The same chain as a hand-written tape: the floor an engine could reach.</summary>
    static (double Value, double Dx, double Dw) HandChain(double[] v, double x, double w)
    {
        v[0] = x;
        for (var k = 0; k < ChainOps; k++)
            v[k + 1] = (k % 3) switch { 0 => Math.Sin(v[k]), 1 => v[k] * w, _ => v[k] + x };
        double l = 1, dx = 0, dw = 0;
        for (var k = ChainOps - 1; k >= 0; k--)
        {
            switch (k % 3)
            {
                case 0: l = Math.Cos(v[k]) * l; break;
                case 1: dw += l * v[k]; l *= w; break;
                default: dx += l; break;
            }
        }
        return (v[ChainOps], dx + l, dw);
    }

    static (Plan, double) P2(TextWriter w)
    {
        var v = new double[ChainOps + 1];
        Evaluation? last = null;
        void FirstRun() => last = Engine.gradient(Adjoints.InputsAndParameters, BuildChain(), null);
        void Hand() => HandChain(v, 0.5, 0.9);
        // Garbage from the previous repetition is collected outside the timed region.
        for (var i = 0; i < 3; i++) { FirstRun(); Hand(); }
        var engine = new double[15];
        var hand = new double[15];
        for (var i = 0; i < engine.Length; i++)
        {
            last = null;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            engine[i] = Measure.Once(FirstRun);
            hand[i] = Measure.Once(Hand);
        }
        var ms = Measure.Median(engine);
        var handMs = Measure.Median(hand);
        var (value, dx, dw) = HandChain(v, 0.5, 0.9);
        var agree = Close(last!.Output.ScalarValue, value) && Close(last.Adjoint("x").ScalarValue, dx) && Close(last.Adjoint("w").ScalarValue, dw);
        Report(w, "P2", $"scalar chain {ChainOps} ops, build+compile+first forward+backward ({F(TorchChainMs / ms, "0.0")}x PyTorch's {TorchChainMs} ms; "
                        + $"hand-written tape {F(handMs, "0.000")} ms; gradient {(agree ? "agrees" : "DISAGREES")})",
            F(ms), "ms", ms / handMs, "19", ms <= 19.0 && agree);
        return (BuildChain(), handMs);
    }

    static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-9 * Math.Max(1.0, Math.Max(Math.Abs(a), Math.Abs(b)));

    static void P3(TextWriter w, Plan plan, double handMs)
    {
        var e = new Evaluation(plan, Adjoints.InputsAndParameters);
        void Steady()
        {
            Engine.forward(e);
            Engine.backward(Adjoints.InputsAndParameters, e);
        }
        var v = new double[ChainOps + 1];
        var (ms, hand, ratio) = Measure.Pair(Steady, () => HandChain(v, 0.5, 0.9), 20, 101);
        Steady();
        var before = GC.GetAllocatedBytesForCurrentThread();
        Steady();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Report(w, "P3", $"same chain compiled, steady-state forward+backward ({F(TorchChainMs / ms, "0")}x PyTorch; {F(ms * 1e6 / ChainOps, "0.0")} ns/op; "
                        + $"hand-written tape {F(hand, "0.000")} ms; {allocated} bytes allocated per run)",
            F(ms, "0.000"), "ms", ratio, "2", ms <= 2.0);
        _ = handMs;
    }

    // ---- P4: random scalar DAGs, fan-in 2.

    /// <summary>
    /// A random DAG of scalar nodes: 1% inputs in [−1, 1] first; then, a quarter each, add or mul of
    /// the previous node and a uniformly random earlier one (fan-in 2), or tanh or cos of the previous
    /// node (fan-in 1) — so that every node reaches the output and values and adjoints stay bounded (a
    /// DAG of add and mul alone overflows within a thousand nodes).
    /// </summary>
    static Plan RandomDag(int nodes, int seed)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder();
        var refs = new NodeRef[nodes];
        var inputs = Math.Max(2, nodes / 100);
        for (var i = 0; i < nodes; i++)
        {
            if (i < inputs)
                refs[i] = b.Input("in" + i.ToString(Inv), Tensor.Scalar(rng.NextDouble() * 2 - 1));
            else
            {
                var other = refs[rng.Next(i)];
                refs[i] = rng.Next(4) switch
                {
                    0 => b.Add(refs[i - 1], other),
                    1 => b.Mul(refs[i - 1], other),
                    2 => b.Tanh(refs[i - 1]),
                    _ => b.Cos(refs[i - 1]),
                };
            }
        }
        return Plan.Compile(b.Build(refs[nodes - 1]));
    }

    static void P4(TextWriter w)
    {
        var sizes = new[] { 1_000, 10_000, 100_000, 1_000_000 };
        var buildMs = new double[sizes.Length];
        var evaluations = new Evaluation[sizes.Length];
        for (var s = 0; s < sizes.Length; s++)
        {
            Plan? plan = null;
            buildMs[s] = Measure.Once(() => plan = RandomDag(sizes[s], 1000 + s));
            evaluations[s] = new Evaluation(plan!, Adjoints.InputsAndParameters);
        }
        void Run(Evaluation e)
        {
            Engine.forward(e);
            Engine.backward(Adjoints.InputsAndParameters, e);
        }
        // Warm-up: every method the passes use reaches its final tier before anything is timed.
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 1500)
            foreach (var e in evaluations.Take(3)) Run(e);
        // Many short rounds over all sizes, each size in turn for about 40 ms (one run of 10^6), the
        // order rotated each round: a neighbour's load, which comes and goes over seconds on these
        // machines, then falls on every size alike rather than on whichever size it happened to meet.
        // The figure of a size is the median over rounds of its median run in the round.
        const int rounds = 21;
        var perRound = new double[sizes.Length, rounds];
        for (var r = 0; r < rounds; r++)
            for (var k = 0; k < sizes.Length; k++)
            {
                var s = (k + r) % sizes.Length;
                var reps = Math.Max(1, 40_000_000 / 40 / sizes[s]);
                var e = evaluations[s];
                perRound[s, r] = Measure.Ms(() => Run(e), 0, reps) * 1e6 / sizes[s];
            }
        var nsPerNode = Enumerable.Range(0, sizes.Length).Select(s => Measure.Median(Enumerable.Range(0, rounds).Select(r => perRound[s, r]))).ToArray();
        var bigMs = nsPerNode[^1] * sizes[^1] / 1e6;
        var finite = evaluations.All(e => double.IsFinite(e.Output.ScalarValue) && double.IsFinite(e.Adjoint("in0").ScalarValue));
        var flat = nsPerNode.Max() / nsPerNode.Min();
        // The same spread read as a band around the median size: the issue's "±20%" can be read either way;
        // the target holds the stricter max/min.
        var median = Measure.Median(nsPerNode);
        var band = $"{F((nsPerNode.Min() / median - 1) * 100, "+0;-0")}%/{F((nsPerNode.Max() / median - 1) * 100, "+0;-0")}% around the median";
        var peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        var perSize = string.Join(", ", sizes.Select((n, i) => $"10^{Math.Log10(n):0}: {F(nsPerNode[i], "0.0")}"));
        Report(w, "P4", $"random scalar DAGs fan-in 2 (add, mul) or 1 (tanh, cos), forward+backward ns/node ({perSize}; {band}; 10^6 nodes in {F(bigMs / 1000, "0.000")} s, "
                        + $"built in {F(buildMs[^1] / 1000, "0.00")} s; peak working set {F(peakMb, "0")} MB{(finite ? "" : "; NON-FINITE values")})",
            F(nsPerNode[^1], "0.0"), "ns/node", flat, "1.20", flat <= 1.20 && bigMs < 500);
    }
}
