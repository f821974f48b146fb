// Export against ONNX Runtime: imported fixtures exported again run in ORT as the originals do, and a
// model fine-tuned on the embedded silo runs in ORT with its fine-tuned outputs.
using Adjoint.Client;
using Microsoft.FSharp.Core;

namespace Adjoint.Onnx.Tests;

public sealed class ExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names => new(Fixture.Names);

    static string Write(byte[] model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"adjoint-export-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model);
        return path;
    }

    static Tensor Forward(Graph graph, IReadOnlyDictionary<string, Tensor> inputs) => Engine.evaluate(Plan.Compile(graph), inputs).Output;

    [Theory]
    [MemberData(nameof(Names))]
    public void Import_export_round_trip_runs_in_onnx_runtime_as_the_original(string name)
    {
        var f = Fixture.Load(name);
        var imported = OnnxImporter.Import(f.ModelPath, f.Options());
        var exported = OnnxExporter.Export(imported.Graph, new ExportOptions { FloatType = imported.FloatType });
        var path = Write(exported.Model);
        try
        {
            // Our graph of the exported model computes bit for bit what the imported one does.
            var again = OnnxImporter.Import(path);
            Assert.True(Tensor.BitwiseEqual(Forward(imported.Graph, f.Inputs), Forward(again.Graph, f.Inputs)), $"{name}: re-imported export differs");
            Assert.Equal(imported.Parameters.Order(), again.Parameters.Order());
            if (ImportTests.OrtLacksDoubleConv(name)) return;
            var original = Fixture.RunOrt(f.ModelPath, f.Inputs, f.IntegerInputs, f.Float64)[0];
            var ours = Fixture.RunOrt(path, f.Inputs, f.IntegerInputs, f.Float64)[0];
            var error = Fixture.RelativeError(ours, original);
            output.WriteLine($"{name}: exported {exported.OnnxOps.Values.Sum()} ONNX nodes, {exported.Parameters} parameters, {exported.Constants} constants; ORT on it vs ORT on the original {error:E2}");
            Assert.True(error <= (f.Float64 ? 1e-12 : 1e-6), $"{name}: ORT on the export differs from ORT on the original by {error:E3}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Model_fine_tuned_on_the_embedded_silo_runs_in_onnx_runtime_with_its_fine_tuned_outputs()
    {
        var f = Fixture.Load("cnn_f32");
        var imported = OnnxImporter.Import(f.ModelPath, f.Options() with { Loss = "cross_entropy", Target = "target" });
        var batch = new Dictionary<string, Tensor>(f.Inputs) { ["target"] = f.Target };
        await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Embedded }, TestContext.Current.CancellationToken);
        var net = await client.DeployAsync($"onnx-finetune-{Guid.NewGuid():N}", imported.Graph, TestContext.Current.CancellationToken);
        var losses = new List<double>();
        for (var step = 0; step < 20; step++)
            losses.Add(await net.TrainStepAsync([batch], new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 }, TestContext.Current.CancellationToken));
        var trained = await net.ReadParametersAsync(TestContext.Current.CancellationToken);
        var tuned = Graph.Create(imported.Graph.Nodes.Select(n => trained.TryGetValue(n.Id, out var v) && n.Op.Kind == OpKind.Parameter
            ? new Node(n.Id, n.Op, n.Ancestors, FSharpOption<Tensor>.Some(v)) : n), imported.Graph.Output);
        var ours = Engine.evaluate(Plan.Compile(tuned), batch).Value(imported.ModelOutput);
        var before = Engine.evaluate(Plan.Compile(imported.Graph), batch).Value(imported.ModelOutput);
        var exported = OnnxExporter.Export(tuned);
        Assert.Equal(imported.ModelOutput, exported.Output);
        var path = Write(exported.Model);
        try
        {
            var ort = Fixture.RunOrt(path, f.Inputs, f.IntegerInputs, false)[0];
            var error = Fixture.RelativeError(ours, ort);
            var moved = Fixture.RelativeError(before, ort);
            output.WriteLine($"loss {losses[0]:F6} -> {losses[^1]:F6} in 20 Adam steps; ORT on the export vs fine-tuned graph {error:E2}; vs the model before training {moved:E2}");
            Assert.True(losses[^1] < losses[0] * 0.9, "training did not lower the loss");
            Assert.True(error <= 1e-5, $"ORT on the exported fine-tuned model differs by {error:E3}");
            Assert.True(moved > 1e-3, "the exported outputs are the untrained model's");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Op_without_an_onnx_export_names_the_node()
    {
        var b = new GraphBuilder();
        var a = b.Parameter("A", Tensor.Of(Shape.Of(2, 2), [2.0, 0.0, 0.0, 3.0]));
        var x = b.Input("x", Shape.Of(2, 1));
        var g = b.Build(b.Solve(a, x, "s"));
        var ex = Assert.Throws<OnnxException>(() => OnnxExporter.Export(g));
        Assert.Equal("export: node 's' (op 'solve'): this op has no ONNX export (docs/onnx.md lists the ops that have one)", ex.Message);
    }
}
