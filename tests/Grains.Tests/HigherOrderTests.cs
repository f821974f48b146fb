// A Hessian-vector product and a JVP on 3 silos: the derived graph deployed like any graph, its
// products equal to the local engine's on the source graph, bit for bit.
namespace Adjoint.Grains.Tests;

[Collection(ThreeSiloCollection.Name)]
public sealed class HigherOrderTests(ThreeSiloCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Sources => new() { "two-layer", "dag" };

    private static Graph Source(string name) => name == "two-layer" ? Graphs.TwoLayer() : Graphs.RandomDag(seed: 7, size: 250);

    // The inputs of the source graph plus its parameters' values: what the facade passes a derived graph.
    private static Dictionary<string, Tensor> WithParameters(Graph g, Dictionary<string, Tensor> inputs)
    {
        var all = g.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value.Value);
        foreach (var (id, t) in inputs) all[id] = t;
        return all;
    }

    private static Dictionary<string, Tensor> RandomVectors(Graph g, string[] targets, int seed)
    {
        var random = new Random(seed);
        return targets.ToDictionary(id => id, id => { var s = g.ShapeOf(id); return new Tensor(s, [.. Enumerable.Range(0, s.Count).Select(_ => random.NextDouble() * 2 - 1)]); });
    }

    private async Task<Dictionary<string, Tensor>> GradientOnSilos(Graph derived, IReadOnlyDictionary<string, Tensor> bound, string name)
    {
        var graph = new DistributedGraph(fixture.Client, $"{name}-{Guid.NewGuid():N}");
        var deployed = await graph.Deploy(derived);
        var description = await graph.Grain.Describe(deployed.Version);
        Assert.Equal(3, description.Assignment.Values.Distinct().Count());
        var result = (await graph.Evaluate(deployed.Version, [bound], new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct)).Single();
        Assert.True(result.Succeeded, result.Failure?.ToString());
        return result.Adjoints.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor());
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task A_distributed_HVP_on_three_silos_equals_the_local_one_bitwise(string name)
    {
        var source = Source(name);
        var targets = AdjointGraphModule.variables(source);
        var inputs = Graphs.RandomInputs(source, 3);
        var v = RandomVectors(source, targets, 4);
        var expected = new HessianVector(source, targets).Apply(inputs, v);

        var product = new HessianVector(AdjointGraphModule.parametersAsInputs(source), targets);
        var actual = product.Collect(await GradientOnSilos(product.Graph, product.Bind(WithParameters(source, inputs), v), $"{name}.hvp"));
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (id, t) in expected)
            Assert.True(Tensor.BitwiseEqual(t, actual[id]), $"Hv of '{id}' differs");
        Assert.Contains(expected.Values, t => t.Data.Any(x => x != 0));
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task A_distributed_JVP_on_three_silos_equals_the_local_one_bitwise(string name)
    {
        var source = Source(name);
        var targets = AdjointGraphModule.variables(source);
        var inputs = Graphs.RandomInputs(source, 5);
        var v = RandomVectors(source, targets, 6);
        var expected = new JacobianVector(source, source.Output, targets).Apply(inputs, v);

        var product = new JacobianVector(AdjointGraphModule.parametersAsInputs(source), source.Output, targets);
        var actual = product.Collect(await GradientOnSilos(product.Graph, product.Bind(WithParameters(source, inputs), v), $"{name}.jvp"));
        Assert.True(Tensor.BitwiseEqual(expected, actual), $"J v differs: {expected} vs {actual}");
        Assert.NotEqual(0.0, expected.Data[0]);
    }
}
