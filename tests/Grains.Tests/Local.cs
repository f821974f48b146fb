// Comparing distributed results with the local engine, bit for bit.
namespace Adjoint.Grains.Tests;

public static class Local
{
    private static bool Same(Tensor expected, TensorData actual) =>
        Tensor.BitwiseEqual(expected, actual.ToTensor());

    /// <summary>
    /// Asserts that a distributed result equals the local engine's on the same inputs: z_n, every value
    /// reported, and exactly the adjoints the mode returns, all bitwise.
    /// </summary>
    public static void AssertEqual(Plan plan, IReadOnlyDictionary<string, Tensor>? inputs, EvaluationResult result, AdjointMode mode, bool values)
    {
        Assert.True(result.Succeeded, result.Failure?.ToString());
        // Engine.bind keeps every value (an InputsAndParameters gradient would drop those no VJP reads);
        // its adjoints are the same bits either way.
        var e = Engine.bind(plan, inputs);
        Engine.forward(e);
        if (mode != AdjointMode.None) Engine.backward(DeployedGraph.CoreMode(mode), e);
        Assert.True(Same(e.Output, result.Output!), "z_n differs");
        if (values)
        {
            // A gradient evaluation pruned to inputs and parameters keeps only the values its VJPs read;
            // the forward pass alone keeps them all.
            var all = Engine.evaluate(plan, inputs);
            Assert.Equal(plan.Count, result.Values.Count);
            for (var p = 0; p < plan.Count; p++)
                Assert.True(Same(all.ValueAt(p), result.Values[plan.Ids[p]]), $"z of '{plan.Ids[p]}' differs");
        }
        var expected = 0;
        for (var p = 0; p < plan.Count; p++)
        {
            var kind = plan.Op(p).Kind;
            var lambda = mode == AdjointMode.None ? null : e.AdjointAt(p);
            var returned = lambda is not null && (mode == AdjointMode.All || kind is OpKind.Input or OpKind.Parameter);
            if (!returned) continue;
            expected++;
            Assert.True(result.Adjoints.TryGetValue(plan.Ids[p], out var actual), $"λ of '{plan.Ids[p]}' missing");
            Assert.True(Same(lambda!, actual), $"λ of '{plan.Ids[p]}' differs");
        }
        Assert.Equal(expected, result.Adjoints.Count);
    }
}
