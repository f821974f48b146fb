using Adjoint.Grains;
using Xunit;

namespace Adjoint.Tests.Shared;

/// <summary>
/// What every fault test checks after a batch ran through a lost silo, coordinator or client: results bit
/// for bit those of the local engine and of the fault-free run, parameters unchanged in storage, and no
/// evaluation state left in any node.
/// </summary>
internal static class FaultChecks
{
    /// <summary>z_n and the λ an InputsAndParameters gradient returns, from the local engine.</summary>
    public static EvaluationResult Expected(Plan plan, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var e = Engine.bind(plan, inputs);
        Engine.forward(e);
        Engine.backward(Adjoints.InputsAndParameters, e);
        var adjoints = new Dictionary<string, TensorData>();
        for (var p = 0; p < plan.Count; p++)
            if (plan.Op(p).Kind is OpKind.Input or OpKind.Parameter && e.AdjointAt(p) is { } lambda)
                adjoints[plan.Ids[p]] = TensorData.From(lambda.Clone());
        return new EvaluationResult { Output = TensorData.From(e.Output.Clone()), Adjoints = adjoints };
    }

    /// <summary>The same output and adjoints, bit for bit.</summary>
    public static bool Same(EvaluationResult expected, EvaluationResult actual) =>
        actual.Succeeded && Tensor.BitwiseEqual(expected.Output!.ToTensor(), actual.Output!.ToTensor())
        && expected.Adjoints.Count == actual.Adjoints.Count
        && expected.Adjoints.All(kv => actual.Adjoints.TryGetValue(kv.Key, out var a) && Tensor.BitwiseEqual(kv.Value.ToTensor(), a.ToTensor()));

    /// <summary>Every evaluation succeeded, equal to the local engine and to the fault-free run.</summary>
    public static void AssertAllSame(IReadOnlyList<EvaluationResult> expected, IReadOnlyList<EvaluationResult> clean, IReadOnlyList<EvaluationResult> results)
    {
        Assert.Equal(expected.Count, results.Count);
        var wrong = new List<int>();
        for (var i = 0; i < results.Count; i++)
        {
            Assert.True(results[i].Succeeded, $"evaluation {i}: {results[i].Failure}");
            if (!Same(expected[i], results[i]) || !Same(clean[i], results[i])) wrong.Add(i);
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} evaluations differ: {string.Join(",", wrong.Take(20))}");
    }

    /// <summary>The parameters read back are the ones read before, bit for bit.</summary>
    public static void AssertParametersUnchanged(Dictionary<string, TensorData> before, Dictionary<string, TensorData> after)
    {
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (id, value) in before)
            Assert.True(Tensor.BitwiseEqual(value.ToTensor(), after[id].ToTensor()), $"parameter {id} changed");
    }

    /// <summary>No evaluation state is left in the version's nodes within <paramref name="within"/> (what a
    /// lost silo or coordinator left is abandoned or reclaimed in the background).</summary>
    public static async Task AssertNoStateLeft(DistributedGraph graph, int version, TimeSpan within, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + within;
        var live = await graph.Grain.CountLiveStates(version);
        while (live != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
            live = await graph.Grain.CountLiveStates(version);
        }
        Assert.Equal(0, live);
    }
}
