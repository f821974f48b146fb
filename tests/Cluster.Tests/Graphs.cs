using Adjoint.Grains;

namespace Adjoint.Cluster.Tests;

/// <summary>Graphs and input sets the cluster tests evaluate.</summary>
internal static class Graphs
{
    public static Graph TwoLayer() => GraphFile.load(Path.Combine(LocalCluster.Root, "examples", "two-layer.json"));

    /// <summary>
    /// A random DAG of <paramref name="nodes"/> nodes mixing 1×1 and 2×2 values, with fan-out and
    /// shared sub-expressions, whose output depends on every node.
    /// </summary>
    public static Graph RandomDag(int nodes, int seed)
    {
        var random = new Random(seed);
        var b = new GraphBuilder();
        var pool = new List<NodeRef>
        {
            b.Parameter("p0", Tensor.OfRows([[0.3, -0.2], [0.1, 0.4]])),
            b.Parameter("p1", Tensor.OfRows([[0.5, 0.1], [-0.3, 0.2]])),
            b.Input("x0", Tensor.OfRows([[0.7, -0.1], [0.2, 0.9]])),
        };
        while (b.Count < nodes - 2)
        {
            var a = pool[random.Next(pool.Count)];
            var c = pool[random.Next(Math.Max(0, pool.Count - 8), pool.Count)];
            pool.Add(random.Next(6) switch
            {
                0 => b.Add(a, c),
                1 => b.Mul(a, c),
                2 => b.Tanh(b.Sub(a, c)),
                3 => b.Scale(b.MatMul(a, c), 0.5),
                4 => b.Sigmoid(a),
                _ => b.Sin(b.Transpose(a)),
            });
        }
        var total = pool.Skip(1).Aggregate(pool[0], (s, n) => b.Add(s, b.Scale(n, 0.01)));
        return b.Build(b.SquaredNorm(total, "loss"));
    }

    /// <summary>Random values in [-1, 1) for every input of <paramref name="graph"/>, one set per seed.</summary>
    public static Dictionary<string, Tensor> RandomInputs(Graph graph, int seed) =>
        RandomValues(graph, OpKind.Input, new Random(seed));

    /// <summary>Random values in [-1, 1) for every node of one kind.</summary>
    public static Dictionary<string, Tensor> RandomValues(Graph graph, OpKind kind, Random random) =>
        graph.Nodes.Where(n => n.Op.Kind == kind).ToDictionary(n => n.Id, n =>
        {
            var shape = graph.ShapeOf(n.Id);
            var t = new Tensor(shape.Rows, shape.Cols);
            for (var k = 0; k < t.Count; k++) t.Data[k] = random.NextDouble() * 2 - 1;
            return t;
        });

    /// <summary>Input sets for the two-layer net: random X and y of its shapes.</summary>
    public static List<IReadOnlyDictionary<string, Tensor>?> TwoLayerInputs(int count, int seed)
    {
        var random = new Random(seed);
        Tensor Random(int rows, int cols)
        {
            var t = new Tensor(rows, cols);
            for (var k = 0; k < t.Count; k++) t.Data[k] = random.NextDouble() * 2 - 1;
            return t;
        }
        return Enumerable.Range(0, count)
            .Select(_ => (IReadOnlyDictionary<string, Tensor>?)new Dictionary<string, Tensor> { ["X"] = Random(8, 4), ["y"] = Random(8, 1) })
            .ToList();
    }

    /// <summary>A facade result as the wire's, for the shared fault checks.</summary>
    public static EvaluationResult ToWire(Adjoint.Client.GradientResult r) => new()
    {
        Output = r.Output is { } o ? TensorData.From(o) : null,
        Adjoints = r.Adjoints.ToDictionary(kv => kv.Key, kv => TensorData.From(kv.Value)),
        Failure = r.Failure,
    };
}
