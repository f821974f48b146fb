// An imported CNN deployed on a 3-silo TestingHost cluster: its gradients equal the local engine's bit for bit.
using System.Diagnostics;
using Adjoint.Client;
using Adjoint.Testing;

namespace Adjoint.Onnx.Tests;

public sealed class DistributedTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("cnn_f32")]
    [InlineData("mixer_f64")]
    public async Task Imported_model_on_three_silos_equals_the_local_engine_bitwise(string name)
    {
        var ct = TestContext.Current.CancellationToken;
        var f = Fixture.Load(name);
        var graph = OnnxImporter.Import(f.ModelPath, f.Options() with { Loss = f.Loss, Target = "target" }).Graph;
        var inputs = new Dictionary<string, Tensor>(f.Inputs) { ["target"] = f.Target };
        await using var cluster = await AdjointTestCluster.StartAsync(3, ct);
        await using var local = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
        var id = cluster.NewGraphId(name);
        var there = await cluster.Client.DeployAsync(id, graph, ct);
        var layout = await cluster.Client.DescribeAsync(id, 0, ct);
        Assert.Equal(3, layout.Partitions);
        Assert.Equal(3, layout.Assignment.Values.Distinct().Count());
        var here = await local.DeployAsync(name, graph, ct);
        var expected = await here.GradientAsync(inputs, Adjoints.All, ct);
        var actual = await there.GradientAsync(inputs, Adjoints.All, ct);
        Assert.Empty(Bitwise.Differences(expected, actual));
        Assert.Equal(f.LossValue, actual.Loss, 1e-12);

        // Forward + backward times, after the runs above warmed both up.
        const int runs = 10;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < runs; i++) await here.GradientAsync(inputs, Adjoints.InputsAndParameters, ct);
        var localMs = clock.Elapsed.TotalMilliseconds / runs;
        clock.Restart();
        for (var i = 0; i < runs; i++) await there.GradientAsync(inputs, Adjoints.InputsAndParameters, ct);
        var clusterMs = clock.Elapsed.TotalMilliseconds / runs;
        output.WriteLine($"{name}: {graph.Count} nodes; forward+backward {localMs:F2} ms locally, {clusterMs:F2} ms on 3 silos");
    }
}
