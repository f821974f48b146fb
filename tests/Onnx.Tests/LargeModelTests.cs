// A measurement on a model too large to commit (fixtures/make_large.py writes it): import time, forward vs
// ONNX Runtime, forward+backward ms locally and on 3 silos, bitwise equal. Runs when ADJOINT_ONNX_LARGE
// names the model: ADJOINT_ONNX_LARGE=/tmp/resnet.onnx Adjoint.Onnx.Tests -class Adjoint.Onnx.Tests.LargeModelTests
using System.Diagnostics;
using Adjoint.Client;
using Adjoint.Testing;

namespace Adjoint.Onnx.Tests;

public sealed class LargeModelTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Large_model_imports_equals_onnx_runtime_and_runs_on_three_silos_bitwise()
    {
        var path = Environment.GetEnvironmentVariable("ADJOINT_ONNX_LARGE");
        if (string.IsNullOrEmpty(path)) Assert.Skip("ADJOINT_ONNX_LARGE names no model (fixtures/make_large.py writes one)");
        var ct = TestContext.Current.CancellationToken;
        var model = OnnxImporter.Import(path);
        var r = OnnxImporter.Import(path, new ImportOptions { Loss = "cross_entropy", Target = "target" });
        var x = r.Graph.ShapeOf("x");
        var random = new Random(5);
        var inputs = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.Of(x, Enumerable.Range(0, x.Count).Select(_ => (double)(float)(random.NextDouble() * 2 - 1)).ToArray()),
        };
        var ours = Engine.evaluate(Plan.Compile(model.Graph), inputs).Output;
        var ort = Fixture.RunOrt(path, inputs, new Dictionary<string, bool>(), false)[0];
        var error = Fixture.RelativeError(ours, ort);
        var exported = Path.Combine(Path.GetTempPath(), $"large-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(exported, OnnxExporter.Export(model.Graph).Model);
        var roundTrip = Fixture.RelativeError(Fixture.RunOrt(exported, inputs, new Dictionary<string, bool>(), false)[0], ort);
        File.Delete(exported);
        inputs["target"] = Tensor.Of(r.Graph.ShapeOf("target"), Enumerable.Range(0, r.Graph.ShapeOf("target").Count).Select(i => (double)(i % ours.Shape.Dim(1))).ToArray());

        await using var cluster = await AdjointTestCluster.StartAsync(3, ct);
        await using var local = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
        var here = await local.DeployAsync("large", r.Graph, ct);
        var there = await cluster.Client.DeployAsync(cluster.NewGraphId("large"), r.Graph, ct);
        Assert.Empty(Bitwise.Differences(await here.GradientAsync(inputs, Adjoints.InputsAndParameters, ct), await there.GradientAsync(inputs, Adjoints.InputsAndParameters, ct)));
        const int runs = 5;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < runs; i++) await here.GradientAsync(inputs, Adjoints.InputsAndParameters, ct);
        var localMs = clock.Elapsed.TotalMilliseconds / runs;
        clock.Restart();
        for (var i = 0; i < runs; i++) await there.GradientAsync(inputs, Adjoints.InputsAndParameters, ct);
        var clusterMs = clock.Elapsed.TotalMilliseconds / runs;
        output.WriteLine($"{Path.GetFileName(path)}: {r.OnnxOps.Values.Sum()} ONNX nodes -> {r.Graph.Count} graph nodes, {r.Parameters.Count} parameters ({r.ParameterElements} elements), "
            + $"{r.Bytes} bytes imported in {model.Seconds:F3} s (second import {r.Seconds:F3} s); forward vs ORT {error:E2}, exported in ORT vs the original in ORT {roundTrip:E2}; "
            + $"forward+backward {localMs:F1} ms locally, {clusterMs:F1} ms on 3 silos (bitwise equal)");
        Assert.True(error <= 1e-5, $"forward differs from ONNX Runtime by {error:E3}");
        Assert.True(roundTrip <= 1e-6, $"the exported model in ONNX Runtime differs by {roundTrip:E3}");
    }
}
