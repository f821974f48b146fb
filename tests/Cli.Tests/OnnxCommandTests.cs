using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary><c>adjoint import</c> and <c>adjoint export</c> on the ONNX fixtures of tests/Onnx.Tests, in-process.</summary>
public sealed class OnnxCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-onnx-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string name) => Path.Combine(Path.GetDirectoryName(CliRun.Examples("."))!, "..", "tests", "Onnx.Tests", "fixtures", name);

    private string Temp(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Import_with_a_loss_then_export_prints_what_was_mapped()
    {
        var json = Temp("cnn.json");
        var (code, output, err) = CliRun.Invoke("import", Fixture("cnn_f32.onnx"), "-o", json, "--loss", "cross_entropy", "--target", "label");
        Assert.True(code == 0, err);
        Assert.Contains("opset 13, float", output);
        Assert.Contains("Conv 2", output);
        Assert.Contains("8 parameters (219 elements)", output);
        Assert.Contains("output 'loss': cross_entropy of the model's output 'y' 2x3 and 'label'", output);
        var graph = GraphFile.load(json);
        // The file holds the imported graph exactly: ids such as '/conv1/Conv_output_0', int64 labels, values bit for bit.
        Assert.Equal(Adjoint.Onnx.OnnxImporter.Import(Fixture("cnn_f32.onnx"), new Adjoint.Onnx.ImportOptions { Loss = "cross_entropy", Target = "label" }).Graph, graph);
        Assert.Equal("loss", graph.Output);
        Assert.Equal(ElementType.Int64, graph.ElementTypeOf("label"));

        var onnx = Temp("cnn.onnx");
        (code, output, err) = CliRun.Invoke("export", json, "-o", onnx);
        Assert.True(code == 0, err);
        Assert.Contains("output 'y'", output);
        Assert.Contains("8 parameters as initializers (219 elements)", output);
        Assert.Contains("Conv 2", output);
        Assert.Equal(new FileInfo(onnx).Length.ToString(), output.Split(' ')[5]);

        (code, output, _) = CliRun.Invoke("import", onnx, "-o", Temp("again.json"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(17, doc.RootElement.GetProperty("opset").GetInt32());
        Assert.Equal(8, doc.RootElement.GetProperty("parameters").GetInt32());
        Assert.Equal("y", doc.RootElement.GetProperty("output").GetString());
    }

    [Fact]
    public void Import_with_a_values_side_file_loads_as_the_same_graph()
    {
        var json = Temp("mixer.json");
        var (code, output, err) = CliRun.Invoke("import", Fixture("mixer_f64.onnx"), "-o", json, "--values", "mixer.npz");
        Assert.True(code == 0, err);
        Assert.Contains("wrote mixer.npz: the values of 8 parameters and constants", output);
        Assert.DoesNotContain("\"value\"", File.ReadAllText(json));
        var expected = Adjoint.Onnx.OnnxImporter.Import(Fixture("mixer_f64.onnx")).Graph;
        Assert.Equal(expected, GraphFile.load(json));
        (code, _, err) = CliRun.Invoke("import", Fixture("mixer_f64.onnx"), "-o", json, "--values", "../mixer.npz");
        Assert.Equal(1, code);
        Assert.Contains("give a file name ending in .npz", err);
    }

    [Fact]
    public void Import_without_a_loss_says_the_output_is_not_a_scalar()
    {
        var (code, output, _) = CliRun.Invoke("import", Fixture("mlp_f64.onnx"), "-o", Temp("mlp.json"));
        Assert.Equal(0, code);
        Assert.Contains("opset 11, double", output);
        Assert.Contains("output 'y' 3x3 is not a scalar: give --loss cross_entropy|mse --target NAME to train it", output);
        (code, output, _) = CliRun.Invoke("import", Fixture("mlp_f64.onnx"), "-o", Temp("mlpc.json"), "--constants");
        Assert.Equal(0, code);
        Assert.Contains("0 parameters (0 elements)", output);
    }

    [Fact]
    public void Bad_models_and_graphs_are_one_line_errors_with_exit_code_1()
    {
        var cut = Temp("cut.onnx");
        var bytes = File.ReadAllBytes(Fixture("mlp_f32.onnx"));
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        void Refused(string expected, params string[] args)
        {
            var (code, output, err) = CliRun.Invoke(args);
            Assert.Equal(1, code);
            Assert.Equal("", output);
            Assert.StartsWith("error: ", err);
            Assert.Contains(expected, err);
            Assert.Single(err.TrimEnd().Split('\n'));
        }
        Refused("cut.onnx: not an ONNX model", "import", cut, "-o", Temp("x.json"));
        Refused("cannot read the file", "import", Temp("absent.onnx"), "-o", Temp("x.json"));
        Refused("--dim 'batch': give NAME=N", "import", Fixture("mlp_f32.onnx"), "-o", Temp("x.json"), "--dim", "batch");

        var solve = Temp("solve.json");
        File.WriteAllText(solve, """
            {"format": "adjoint-graph", "version": 2, "output": "s", "nodes": [
              {"id": "A", "op": "parameter", "shape": [2, 2], "value": [[2, 0], [0, 3]]},
              {"id": "b", "op": "input", "shape": [2, 1], "value": [[1], [1]]},
              {"id": "s", "op": "solve", "ancestors": ["A", "b"]}]}
            """);
        Refused("solve.json: export: node 's' (op 'solve'): this op has no ONNX export", "export", solve, "-o", Temp("s.onnx"));
        Refused("no node 'nope'", "export", solve, "-o", Temp("s.onnx"), "--node", "nope");
        var (parseCode, _, _) = CliRun.Invoke("import", Fixture("mlp_f32.onnx"), "-o", Temp("x.json"), "--loss", "hinge");
        Assert.Equal(1, parseCode);
    }
}
