// Graphs the tests run: the seed's two-layer net, random DAGs, a failing solve; and the local reference.
namespace Adjoint.Grains.Tests;

public static class Graphs
{
    /// <summary>The seed's two-layer net ‖σ(X W1) W2 − y‖² from examples/two-layer.json.</summary>
    public static Graph TwoLayer() => GraphFile.load(Path.Combine(AppContext.BaseDirectory, "examples", "two-layer.json"));

    /// <summary>An 8×4 X with entries in (−1, 1), different per seed.</summary>
    public static Tensor RandomX(int seed)
    {
        var random = new Random(seed);
        return new Tensor(8, 4, [.. Enumerable.Range(0, 32).Select(_ => random.NextDouble() * 2 - 1)]);
    }

    private static Tensor Random(Random random, int rows, int cols) =>
        new(rows, cols, [.. Enumerable.Range(0, rows * cols).Select(_ => random.NextDouble() * 2 - 1)]);

    /// <summary>
    /// A random DAG of about <paramref name="size"/> nodes over 3×2 tensors: inputs, parameters and
    /// constants, element-wise ops, matmul by 2×2 leaves, a node used in both slots now and then, and
    /// nodes that do not reach the output; broadcasting (1×2 rows, rank-0 sums and constants) through the
    /// C# operators, softplus and pow by name; z_n = sum of the sum of the last nodes.
    /// </summary>
    public static Graph RandomDag(int seed, int size)
    {
        var random = new Random(seed);
        var b = new GraphBuilder();
        var vectors = new List<NodeRef>();
        var squares = new List<NodeRef>();
        NodeRef Pick(List<NodeRef> from)
        {
            // Biased to recent nodes so that the graph is deep.
            var u = random.NextDouble();
            return from[from.Count - 1 - (int)(u * u * from.Count)];
        }
        for (var i = 0; i < 4; i++) vectors.Add(b.Input($"x{i}", 3, 2));
        squares.Add(b.Parameter("W0", Random(random, 2, 2)));
        var row = b.Parameter("row", Random(random, 1, 2));
        var exponent = b.Constant(1.5, "exponent");
        while (b.Count < size - 12)
        {
            var roll = random.Next(100);
            if (roll < 6) vectors.Add(b.Input($"x{b.Count}", 3, 2));
            else if (roll < 10) vectors.Add(b.Parameter($"p{b.Count}", Random(random, 3, 2)));
            else if (roll < 12) vectors.Add(b.Constant($"c{b.Count}", Random(random, 3, 2)));
            else if (roll < 15) squares.Add(random.Next(2) == 0 ? b.Parameter($"W{b.Count}", Random(random, 2, 2)) : b.Constant($"C{b.Count}", Random(random, 2, 2)));
            else if (roll < 27) vectors.Add(b.MatMul(Pick(vectors), Pick(squares)));
            else if (roll < 40) vectors.Add(b.Add(Pick(vectors), Pick(vectors)));
            else if (roll < 48) vectors.Add(b.Sub(Pick(vectors), Pick(vectors)));
            else if (roll < 58) { var x = Pick(vectors); vectors.Add(random.Next(4) == 0 ? b.Mul(x, x) : b.Mul(x, Pick(vectors))); }
            else if (roll < 68) vectors.Add(b.Sigmoid(Pick(vectors)));
            else if (roll < 78) vectors.Add(b.Tanh(Pick(vectors)));
            else if (roll < 84) vectors.Add(b.Sin(Pick(vectors)));
            else if (roll < 88) vectors.Add(b.Cos(Pick(vectors)));
            else if (roll < 90) vectors.Add(b.Scale(Pick(vectors), 0.5));
            else if (roll < 92) vectors.Add(-Pick(vectors));
            else if (roll < 94) vectors.Add(Pick(vectors) * row + Pick(vectors));
            else if (roll < 96) vectors.Add(Pick(vectors) - b.Sum(Pick(vectors)));
            else if (roll < 98) vectors.Add(b.Apply("softplus", Pick(vectors)));
            else vectors.Add(b.Apply("pow", b.Sigmoid(Pick(vectors)), exponent));
        }
        var total = vectors[^1];
        for (var i = 2; i <= 6; i++) total = b.Add(total, vectors[^i]);
        return b.Build(b.Sum(b.Tanh(total), "z"));
    }

    /// <summary>Values for every input of a graph, different per seed.</summary>
    public static Dictionary<string, Tensor> RandomInputs(Graph graph, int seed)
    {
        var random = new Random(seed);
        return graph.Nodes.Where(n => n.Op.Kind == OpKind.Input)
            .ToDictionary(n => n.Id, n => { var s = graph.ShapeOf(n.Id); return new Tensor(s, [.. Enumerable.Range(0, s.Count).Select(_ => random.NextDouble() * 2 - 1)]); });
    }

    /// <summary>x = A⁻¹ b with A and b inputs, z = ‖x‖²: fails where A is singular.</summary>
    public static Graph Solve()
    {
        var b = new GraphBuilder();
        var a = b.Input("A", 2, 2);
        var rhs = b.Input("b", 2, 1);
        var x = b.Solve(a, rhs, "x");
        return b.Build(b.SquaredNorm(x, "z"));
    }
}
