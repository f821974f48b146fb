// `bench -- hvp`: P-hvp, a Hessian-vector product's time ÷ a gradient's on the same graph, both through the engine.
using System.Collections.Generic;
using static Adjoint.Bench.Figures;

namespace Adjoint.Bench;

internal static class Hvp
{
    public static int Run(TextWriter w)
    {
        w.WriteLine($"adjoint HVP benchmark: gemm={Engine.gemmBackend}, cores={Environment.ProcessorCount}, .NET {Environment.Version}");
        w.Flush();
        var net = TwoLayer();
        var dag = ScalarDag();
        var ok = net && dag;
        w.WriteLine($"summary: P-hvp {(ok ? "ok" : "short")}; HVP by reverse over reverse (HessianVector: the adjoint graph with ⟨λ, v⟩ added, "
                    + "differentiated by the engine), built and compiled once; ratio = median over 21 interleaved pairs of HVP ÷ gradient, a GC before each run");
        return 0;

        bool TwoLayer()
        {
            const int n = 2048, d = 512;
            var rng = new Random(42);
            var b = new GraphBuilder();
            var x = b.Constant("X", RandomTensor(rng, n, d, 1));
            var y = b.Constant("y", RandomTensor(rng, n, 1, 1));
            var w1 = b.Parameter("W1", RandomTensor(rng, d, d, 1 / Math.Sqrt(d)));
            var w2 = b.Parameter("W2", RandomTensor(rng, d, 1, 1 / Math.Sqrt(d)));
            var g = b.Build(b.SquaredNorm(b.Sub(b.MatMul(b.Sigmoid(b.MatMul(x, w1)), w2), y)));
            var v = new Dictionary<string, Tensor> { ["W1"] = RandomTensor(rng, d, d, 1), ["W2"] = RandomTensor(rng, d, 1, 1) };
            return Figure(w, "two-layer net n=2048 d=512, v for W1 and W2", g, null, v);
        }

        bool ScalarDag()
        {
            var dag = Local.RandomDag(100_000, 7);
            var g = Local.Compile(dag).Graph;
            var rng = new Random(3);
            var v = new Dictionary<string, Tensor>();
            for (var i = 0; i < dag.Inputs; i++) v[Local.DagInput(i)] = Tensor.Scalar(rng.NextDouble() * 2 - 1);
            return Figure(w, "random scalar DAG 10^5 nodes (add, mul, tanh, cos), v for its 1000 inputs", g, null, v);
        }
    }

    /// <summary>One P-hvp line: HVP and gradient timed alternately; the HVP checked against central differences of the gradient.</summary>
    static bool Figure(TextWriter w, string name, Graph g, IReadOnlyDictionary<string, Tensor>? inputs, Dictionary<string, Tensor> v)
    {
        var plan = Plan.Compile(g);
        var build = System.Diagnostics.Stopwatch.StartNew();
        var h = new HessianVector(g, v.Keys.Order().ToArray());
        var buildMs = build.Elapsed.TotalMilliseconds;
        IReadOnlyDictionary<string, Tensor> hv = h.Apply(inputs!, v);
        void Gradient() => Engine.gradient(Adjoints.InputsAndParameters, plan, inputs!);
        void Product() => hv = h.Apply(inputs!, v);
        // A collection before each run, so that neither pays for the other's garbage (the HVP's evaluation
        // of a 3.5x larger graph leaves more).
        var (hvpMs, gradMs, ratio) = Measure.Pair(Product, Gradient, 2, 21, () => GC.Collect());
        var error = CentralError(g, plan, inputs, v, hv);
        var agrees = error <= 1e-5;
        Report(w, "P-hvp", $"{name}: HVP {F(hvpMs, "0.0")} ms / gradient {F(gradMs, "0.0")} ms (graph {g.Count} nodes, HVP graph {h.Graph.Count}, "
                           + $"built+compiled in {F(buildMs, "0")} ms; vs central differences of the gradient {F(error, "0.0e0")}, {(agrees ? "agrees" : "DISAGREES")})",
            F(hvpMs, "0.0"), "ms", ratio, "4", ratio <= 4 && agrees);
        return ratio <= 4 && agrees;
    }

    /// <summary>‖Hv − (∇f(x + εv) − ∇f(x − εv))/2ε‖ / ‖Hv‖ over all the targets, ε = 1e-4 ‖x‖/‖v‖-free.</summary>
    static double CentralError(Graph g, Plan plan, IReadOnlyDictionary<string, Tensor>? inputs, Dictionary<string, Tensor> v, IReadOnlyDictionary<string, Tensor> hv)
    {
        const double eps = 1e-4;
        Evaluation At(double sign)
        {
            var values = new Dictionary<string, Tensor>();
            if (inputs is not null) foreach (var kv in inputs) values[kv.Key] = kv.Value;
            foreach (var (id, t) in v)
            {
                var at = (values.TryGetValue(id, out var given) ? given : g.Node(id).Value.Value).Data;
                values[id] = new Tensor(t.Shape, at.Select((a, k) => a + sign * eps * t.Data[k]).ToArray());
            }
            return Engine.gradient(Adjoints.InputsAndParameters, plan, values);
        }
        var plus = At(1);
        var minus = At(-1);
        double diff = 0, norm = 0;
        foreach (var id in v.Keys)
        {
            var p = plus.Adjoint(id);
            var m = minus.Adjoint(id);
            for (var k = 0; k < hv[id].Data.Length; k++)
            {
                var fd = p is null ? 0 : (p.Data[k] - m.Data[k]) / (2 * eps);
                diff += (hv[id].Data[k] - fd) * (hv[id].Data[k] - fd);
                norm += hv[id].Data[k] * hv[id].Data[k];
            }
        }
        return Math.Sqrt(diff / Math.Max(norm, 1e-300));
    }
}
