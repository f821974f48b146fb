// A user's own graph, tested on three silos against the local engine: same values, adjoints and training, bit for bit.
using Adjoint.Client;
using Adjoint.Testing;

namespace Adjoint.Examples.IntegrationTests;

/// <summary>The graph under test (the user's model) on the shared cluster, each test under its own graph id.</summary>
[Collection(nameof(ThreeSilosCollection))]
public sealed class MyModelTests(ThreeSilos silos)
{
    private static readonly OptimizerSettings Adam = new() { Kind = OptimizerKind.Adam, LearningRate = 0.02 };

    /// <summary>The user's model: mean squared error of a tanh layer with a bias, tanh(XW + 1bᵀ)v against y.</summary>
    private static Graph MyModel()
    {
        var b = new GraphBuilder();
        var x = b.Input("X", 6, 4);
        var y = b.Input("y", 6, 1);
        var w = b.Parameter("W", Fill(4, 8, (i, j) => 0.4 * Math.Sin(i - 2.0 * j)));
        var bias = b.Parameter("b", Fill(1, 8, (_, j) => 0.1 * j - 0.3));
        var v = b.Parameter("v", Fill(8, 1, (i, _) => 0.3 * Math.Cos(i)));
        var h = b.Tanh(b.AddRow(b.MatMul(x, w), bias), "h");
        return b.Build(b.Mean(b.Square(b.Sub(b.MatMul(h, v), y)), "mse"));
    }

    private static IReadOnlyDictionary<string, Tensor> Example(int k) => new Dictionary<string, Tensor>
    {
        ["X"] = Fill(6, 4, (i, j) => Math.Sin(0.3 * k + i + 0.5 * j)),
        ["y"] = Fill(6, 1, (i, _) => Math.Cos(0.2 * k * i)),
    };

    [Fact]
    public async Task GradientsOnThreeSilosEqualTheLocalEngineBitwise()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var local = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
        var expected = await local.DeployAsync("my-model", MyModel(), ct);
        var id = silos.Cluster.NewGraphId("my-model");
        var actual = await silos.Cluster.Client.DeployAsync(id, MyModel(), ct);
        Assert.Equal(3, (await silos.Cluster.Client.DescribeAsync(id, cancellationToken: ct)).Partitions); // one part per silo

        var inputSets = Enumerable.Range(0, 50).Select(Example).ToList();
        var want = await expected.EvaluateBatchAsync(inputSets, cancellationToken: ct).ToListAsync(ct);
        var got = await actual.EvaluateBatchAsync(inputSets, cancellationToken: ct).ToListAsync(ct);

        Assert.Equal(want.Count, got.Count);
        for (var k = 0; k < want.Count; k++) Assert.Empty(Bitwise.Differences(want[k], got[k]));
    }

    [Fact]
    public async Task TrainingOnThreeSilosEqualsLocalTrainingBitwise()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var local = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
        var expected = await local.DeployAsync("my-model", MyModel(), ct);
        var actual = await silos.Cluster.Client.DeployAsync(silos.Cluster.NewGraphId("my-model"), MyModel(), ct);

        var batch = Enumerable.Range(0, 8).Select(Example).ToList();
        for (var step = 0; step < 10; step++)
            Assert.Equal(await expected.TrainStepAsync(batch, Adam, ct), await actual.TrainStepAsync(batch, Adam, ct));

        Assert.Empty(Bitwise.Differences(await expected.ReadParametersAsync(ct), await actual.ReadParametersAsync(ct)));
    }

    private static Tensor Fill(int rows, int cols, Func<int, int, double> value) =>
        Tensor.OfRows([.. Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Select(j => value(i, j)).ToArray())]);
}
