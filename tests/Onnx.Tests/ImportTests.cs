// Imported fixtures against the references: forward values against ONNX Runtime on the same inputs,
// gradients against PyTorch's stored ones.
namespace Adjoint.Onnx.Tests;

public sealed class ImportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names => new(Fixture.Names);

    /// <summary>ONNX Runtime's CPU Conv is float32 only (NotImplemented for a double Conv), so the float64
    /// CNN's forward is held to PyTorch's float64 output alone.</summary>
    internal static bool OrtLacksDoubleConv(string name) => name == "cnn_f64";

    static Tensor Forward(Graph graph, IReadOnlyDictionary<string, Tensor> inputs) =>
        Engine.evaluate(Plan.Compile(graph), inputs).Output;

    [Theory]
    [MemberData(nameof(Names))]
    public void Forward_equals_onnx_runtime(string name)
    {
        var f = Fixture.Load(name);
        var imported = OnnxImporter.Import(f.ModelPath, f.Options());
        var ours = Forward(imported.Graph, f.Inputs);
        var torchError = Fixture.RelativeError(ours, f.Output);
        if (OrtLacksDoubleConv(name))
            output.WriteLine($"{name}: {imported.Graph.Count} nodes; ONNX Runtime has no double Conv kernel; vs PyTorch float64 {torchError:E2}");
        else
        {
            var ort = Fixture.RunOrt(f.ModelPath, f.Inputs, f.IntegerInputs, f.Float64)[0];
            var error = Fixture.RelativeError(ours, ort);
            output.WriteLine($"{name}: {imported.Graph.Count} nodes; vs ONNX Runtime {error:E2}, vs PyTorch float64 {torchError:E2}");
            Assert.True(error <= (f.Float64 ? 1e-12 : 1e-5), $"{name}: relative error {error:E3} against ONNX Runtime");
        }
        // Our float64 evaluation of the float32 parameters is the float64 reference PyTorch computed.
        Assert.True(torchError <= 1e-12, $"{name}: relative error {torchError:E3} against PyTorch float64");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Gradients_equal_pytorch(string name)
    {
        var f = Fixture.Load(name);
        var imported = OnnxImporter.Import(f.ModelPath, f.Options() with { Loss = f.Loss, Target = "target" });
        var inputs = new Dictionary<string, Tensor>(f.Inputs) { ["target"] = f.Target };
        var e = Engine.gradient(Adjoints.InputsAndParameters, Plan.Compile(imported.Graph), inputs);
        Assert.True(Math.Abs(e.Output.Data[0] - f.LossValue) <= 1e-12 * Math.Abs(f.LossValue), $"loss {e.Output.Data[0]:R} vs PyTorch {f.LossValue:R}");
        var worst = 0.0;
        foreach (var (id, reference) in f.Gradients)
        {
            var error = Fixture.AbsoluteError(e.Adjoint(id), reference);
            worst = Math.Max(worst, error);
            Assert.True(error <= 1e-10, $"{name}: λ_{id} differs from PyTorch's gradient by {error:E3}");
        }
        Assert.Equal(f.Gradients.Keys.Where(k => !f.Inputs.ContainsKey(k)).Order(), imported.Parameters.Order());
        output.WriteLine($"{name}: {f.Gradients.Count} gradients, largest difference from PyTorch {worst:E2}");
    }

    [Fact]
    public void Dynamic_batch_shape_chain_folds_to_the_static_models_graph()
    {
        // The same mixer exported with a dynamic batch computes its reshape's shape from Shape nodes.
        var dynamic = OnnxImporter.Import(Fixture.Load("mixerdyn_f32").ModelPath, Fixture.Load("mixerdyn_f32").Options());
        var fixedBatch = OnnxImporter.Import(Fixture.Load("mixer_f32").ModelPath);
        Assert.Equal(1, dynamic.OnnxOps["Shape"]);
        Assert.Equal(fixedBatch.Graph.Nodes.Select(n => n.Op.Name), dynamic.Graph.Nodes.Select(n => n.Op.Name));
        Assert.Equal(fixedBatch.Graph.Count, dynamic.Graph.Count);
        Assert.True(dynamic.Folded > fixedBatch.Folded, $"folded {dynamic.Folded} vs {fixedBatch.Folded}");
    }
}
