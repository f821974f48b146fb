// `bench -- ops`: the op set's kernels (issue 14) — conv2d against the same im2col + GEMM written by hand,
// and a small CNN's training step through the engine.
using static Adjoint.Bench.Figures;

namespace Adjoint.Bench;

internal static class Ops
{
    public static int Run(TextWriter w, HashSet<string>? only = null)
    {
        bool Runs(string id) => only is null || only.Contains(id);
        w.WriteLine($"adjoint ops benchmark: gemm={Engine.gemmBackend}, cores={Environment.ProcessorCount}, .NET {Environment.Version}");
        w.Flush();
        if (Runs("O1")) O1(w);
        if (Runs("O2")) O2(w);
        if (Runs("O3")) RowOp(w, "O3", "layer_norm", HandLayerNorm);
        if (Runs("O4")) RowOp(w, "O4", "softmax", HandSoftmax);
        var ok = Lines.Count(l => l.Ok);
        w.WriteLine($"summary: {ok}/{Lines.Count} ok; gemm={Engine.gemmBackend}; O1 bounds the ratio to hand-written im2col + GEMM, "
                    + "O2 a fresh evaluation per step over a reused one, O3 and O4 the ratio to a hand-written loop; "
                    + "PyTorch's times for O1 and O2: bench/torch_ops.py");
        return 0;
    }

    static Tensor Random4(Random rng, int a, int b, int c, int d, double scale)
    {
        var t = new Tensor(Shape.Of(a, b, c, d));
        for (var k = 0; k < t.Count; k++) t.Data[k] = (rng.NextDouble() * 2 - 1) * scale;
        return t;
    }

    // ---- O1: conv2d 32×3×32×32 ∗ 16×3×3×3, padding 1: forward and the input and weight VJPs.

    /// <summary>
    /// The same convolution by hand, on buffers made once: im2col of the whole batch (27 × N·H·W), one GEMM
    /// W·cols, the result moved to NCHW; backward: λ gathered once, ∇W = Λ colsᵀ on the forward's cols,
    /// Λ_cols = Wᵀ Λ, col2im. The op recomputes im2col for its weight VJP and gathers λ per VJP.
    /// </summary>
    sealed class HandConv(int n, int c, int h, int wd, int f)
    {
        readonly int K = c * 9, P = h * wd;
        public readonly Tensor Cols = new(c * 9, n * h * wd), Z = new(f, n * h * wd), L = new(f, n * h * wd),
            DCols = new(c * 9, n * h * wd), Dw = new(f, c * 9);
        public readonly Tensor Out = new(Shape.Of(n, f, h, wd)), Dx = new(Shape.Of(n, c, h, wd));

        void Im2col(double[] x)
        {
            var cols = Cols.Data;
            var width = n * P;
            for (var ch = 0; ch < c; ch++)
                for (var i = 0; i < 3; i++)
                    for (var j = 0; j < 3; j++)
                    {
                        var row = ((ch * 3 + i) * 3 + j) * width;
                        for (var img = 0; img < n; img++)
                            for (var oh = 0; oh < h; oh++)
                            {
                                var dst = row + img * P + oh * wd;
                                var ih = oh - 1 + i;
                                for (var ow = 0; ow < wd; ow++)
                                {
                                    var iw = ow - 1 + j;
                                    cols[dst + ow] = ih >= 0 && ih < h && iw >= 0 && iw < wd ? x[((img * c + ch) * h + ih) * wd + iw] : 0.0;
                                }
                            }
                    }
        }

        void Col2im(double[] dx)
        {
            Array.Clear(dx);
            var cols = DCols.Data;
            var width = n * P;
            for (var ch = 0; ch < c; ch++)
                for (var i = 0; i < 3; i++)
                    for (var j = 0; j < 3; j++)
                    {
                        var row = ((ch * 3 + i) * 3 + j) * width;
                        for (var img = 0; img < n; img++)
                            for (var oh = 0; oh < h; oh++)
                            {
                                var ih = oh - 1 + i;
                                if (ih < 0 || ih >= h) continue;
                                var src = row + img * P + oh * wd;
                                for (var ow = 0; ow < wd; ow++)
                                {
                                    var iw = ow - 1 + j;
                                    if (iw >= 0 && iw < wd) dx[((img * c + ch) * h + ih) * wd + iw] += cols[src + ow];
                                }
                            }
                    }
        }

        public void Step(Tensor x, Tensor weight, Tensor lambda)
        {
            var wm = new Tensor(f, K, weight.Data);
            Im2col(x.Data);
            Kernels.Gemm.gemm(false, false, wm, Cols, 0.0, Z);
            for (var img = 0; img < n; img++)
                for (var r = 0; r < f; r++)
                    Array.Copy(Z.Data, r * n * P + img * P, Out.Data, (img * f + r) * P, P);
            for (var img = 0; img < n; img++)
                for (var r = 0; r < f; r++)
                    Array.Copy(lambda.Data, (img * f + r) * P, L.Data, r * n * P + img * P, P);
            Kernels.Gemm.gemm(false, true, L, Cols, 0.0, Dw);
            Kernels.Gemm.gemm(true, false, wm, L, 0.0, DCols);
            Col2im(Dx.Data);
        }
    }

    static void O1(TextWriter w)
    {
        const int n = 32, c = 3, h = 32, wd = 32, f = 16;
        var rng = new Random(14);
        var x = Random4(rng, n, c, h, wd, 1);
        var weight = Random4(rng, f, c, 3, 3, 0.3);
        var lambda = Random4(rng, n, f, h, wd, 1);
        if (Catalogue.compute("conv2d", new Dictionary<string, OpAttribute> { ["padding"] = OpAttribute.Of(1) }) is not { IsOk: true } made)
            throw new InvalidOperationException("conv2d is not in the catalogue");
        var op = made.ResultValue;
        var args = new[] { x, weight };
        var z = new Tensor(Shape.Of(n, f, h, wd));
        var dx = new Tensor(x.Shape);
        var dw = new Tensor(weight.Shape);
        void Engine1()
        {
            op.Forward(args, z);
            op.Vjp(args, z, lambda, 0, dx);
            op.Vjp(args, z, lambda, 1, dw);
        }
        var hand = new HandConv(n, c, h, wd, f);
        var (ms, handMs, ratio) = Measure.Pair(Engine1, () => hand.Step(x, weight, lambda), 3, 21);
        var same = Tensor.BitwiseEqual(z, hand.Out) && Tensor.BitwiseEqual(dw, hand.Dw.Reshape(dw.Shape)) && Tensor.BitwiseEqual(dx, hand.Dx);
        // Forward W·cols, backward Λ colsᵀ and Wᵀ Λ: three products of 2·F·K·N·H·W flops.
        var flops = 3 * 2.0 * f * c * 9 * n * h * wd;
        var gflops = flops / ms / 1e6;
        Report(w, "O1", $"conv2d {n}x{c}x{h}x{wd} * {f}x{c}x3x3 padding 1, forward + input and weight VJPs ({F(gflops, "0.0")} GFLOP/s; "
                        + $"hand-written im2col+GEMM {F(handMs, "0.00")} ms = {F(flops / handMs / 1e6, "0.0")} GFLOP/s; "
                        + $"results {(same ? "bitwise equal" : "DIFFER")})",
            F(ms, "0.00"), "ms", ratio, "1.20", ratio <= 1.20 && same);
    }

    // ---- O2: a small CNN's training step (forward + backward) on 64 images of 3×32×32.

    static void O2(TextWriter w)
    {
        const int n = 64, classes = 10;
        var rng = new Random(15);
        var b = new GraphBuilder();
        var x = b.Input("x", Shape.Of(n, 3, 32, 32));
        var w1 = b.Parameter("w1", Random4(rng, 8, 3, 3, 3, 0.3));
        var b1 = b.Parameter("b1", new Tensor(Shape.Of(8)));
        var w2 = b.Parameter("w2", Random4(rng, 16, 8, 3, 3, 0.15));
        var b2 = b.Parameter("b2", new Tensor(Shape.Of(16)));
        var h1 = b.MaxPool2d(b.Relu(b.Conv2d(x, w1, b1, padding: [1])), [2]);
        var h2 = b.MaxPool2d(b.Relu(b.Conv2d(h1, w2, b2, padding: [1])), [2]);
        // The head: flatten (N, 16, 8, 8) to (N, 1024), a linear layer to 10 logits, cross-entropy with
        // int64 class labels.
        var flat = b.Apply("reshape", [h2], new Dictionary<string, OpAttribute> { ["shape"] = OpAttribute.Of(n, 16 * 8 * 8) });
        var logits = b.Apply("linear", flat, b.Parameter("w3", RandomTensor(rng, classes, 16 * 8 * 8, 0.03)), b.Parameter("b3", new Tensor(Shape.Of(classes))));
        var labels = b.TypedInput("y", Shape.Of(n), ElementType.Int64);
        var loss = b.Apply("cross_entropy", [logits, labels], null, "loss");
        var plan = Plan.Compile(b.Build(loss));
        var xs = Random4(rng, n, 3, 32, 32, 1);
        var ys = new Tensor(Shape.Of(n));
        for (var r = 0; r < n; r++) ys.Data[r] = rng.Next(classes);
        var inputs = new Dictionary<string, Tensor> { ["x"] = xs, ["y"] = ys };
        Evaluation? last = null;
        void Step() => last = Engine.gradient(Adjoints.InputsAndParameters, plan, inputs);
        // The same step reusing one evaluation's buffers.
        var e = new Evaluation(plan, Adjoints.InputsAndParameters);
        e.SetAll(inputs);
        void Reused()
        {
            Engine.forward(e);
            Engine.backward(Adjoints.InputsAndParameters, e);
        }
        var (ms, reusedMs, ratio) = Measure.Pair(Step, Reused, 3, 15);
        var same = Tensor.BitwiseEqual(last!.Adjoint("w1"), e.Adjoint("w1")) && Tensor.BitwiseEqual(last.Adjoint("w3"), e.Adjoint("w3"));
        Report(w, "O2", $"CNN conv(3-8)+relu+maxpool, conv(8-16)+relu+maxpool, reshape+linear, "
                        + $"cross_entropy with int64 labels, {n} images 3x32x32, Engine.gradient per step ({F(reusedMs, "0.0")} ms reusing one evaluation; "
                        + $"gradients {(same ? "bitwise equal" : "DIFFER")})",
            F(ms, "0.0"), "ms", ratio, "1.50", ratio <= 1.50 && same);
    }

    // ---- O3, O4: layer_norm and softmax over the last axis of 1024×1024, forward + VJP, against the same
    // arithmetic written as plain loops over rows.

    /// <summary>The worst |a − b| / max(1, |b|) over the elements.</summary>
    static double Worst(Tensor a, Tensor b)
    {
        var worst = 0.0;
        for (var k = 0; k < a.Count; k++) worst = Math.Max(worst, Math.Abs(a.Data[k] - b.Data[k]) / Math.Max(1, Math.Abs(b.Data[k])));
        return worst;
    }

    const int Rows = 1024, Cols = 1024;

    /// <summary>
    /// One O3/O4 line: the catalogue op (default attributes) called directly for its forward and VJP on a
    /// Rows × Cols x and λ, timed against <paramref name="hand"/>(x, λ, y, λ_x) writing the same results.
    /// </summary>
    static void RowOp(TextWriter w, string id, string name, Action<double[], double[], double[], double[]> hand)
    {
        if (Catalogue.compute(name, new Dictionary<string, OpAttribute>()) is not { IsOk: true } made)
            throw new InvalidOperationException($"{name} is not in the catalogue");
        var op = made.ResultValue;
        var rng = new Random(name.Length);
        var (x, lambda) = (RandomTensor(rng, Rows, Cols, 3), RandomTensor(rng, Rows, Cols, 1));
        var (z, dx, hz, hdx) = (new Tensor(Rows, Cols), new Tensor(Rows, Cols), new Tensor(Rows, Cols), new Tensor(Rows, Cols));
        var args = new[] { x };
        void Subject()
        {
            op.Forward(args, z);
            op.Vjp(args, z, lambda, 0, dx);
        }
        var (ms, handMs, ratio) = Measure.Pair(Subject, () => hand(x.Data, lambda.Data, hz.Data, hdx.Data), 3, 21);
        var worst = Math.Max(Worst(z, hz), Worst(dx, hdx));
        Report(w, id, $"{name} {Rows}x{Cols} over the last axis, forward + VJP (hand-written loop {F(handMs, "0.00")} ms; "
                      + $"largest difference {worst:E1})", F(ms, "0.00"), "ms", ratio, "1.20", ratio <= 1.20 && worst <= 1e-12);
    }

    /// <summary>By hand: per row μ, σ² (biased), r = 1/√(σ² + eps), y = (x − μ)·r; λ_x = r·(λ − mean λ − y·mean(λ⊙y)).</summary>
    static void HandLayerNorm(double[] xd, double[] ld, double[] yd, double[] dd)
    {
        const double eps = 1e-5;
        for (var r = 0; r < Rows; r++)
        {
            var o = r * Cols;
            var mean = 0.0;
            for (var c = 0; c < Cols; c++) mean += xd[o + c];
            mean /= Cols;
            var variance = 0.0;
            for (var c = 0; c < Cols; c++) { var d = xd[o + c] - mean; variance += d * d; }
            variance /= Cols;
            var rstd = 1.0 / Math.Sqrt(variance + eps);
            var ml = 0.0; var mly = 0.0;
            for (var c = 0; c < Cols; c++)
            {
                var y = (xd[o + c] - mean) * rstd;
                yd[o + c] = y;
                ml += ld[o + c];
                mly += ld[o + c] * y;
            }
            ml /= Cols; mly /= Cols;
            for (var c = 0; c < Cols; c++) dd[o + c] = rstd * (ld[o + c] - ml - yd[o + c] * mly);
        }
    }

    /// <summary>By hand: per row m = max, e = exp(x − m), y = e / Σe; λ_x = y ⊙ (λ − Σ λ⊙y).</summary>
    static void HandSoftmax(double[] xd, double[] ld, double[] yd, double[] dd)
    {
        for (var r = 0; r < Rows; r++)
        {
            var o = r * Cols;
            var m = double.NegativeInfinity;
            for (var c = 0; c < Cols; c++) m = Math.Max(m, xd[o + c]);
            var total = 0.0;
            for (var c = 0; c < Cols; c++) { var e = Math.Exp(xd[o + c] - m); yd[o + c] = e; total += e; }
            var inv = 1.0 / total;
            var dot = 0.0;
            for (var c = 0; c < Cols; c++) { yd[o + c] *= inv; dot += ld[o + c] * yd[o + c]; }
            for (var c = 0; c < Cols; c++) dd[o + c] = yd[o + c] * (ld[o + c] - dot);
        }
    }
}
