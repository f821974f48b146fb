using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary>The command line's exit codes, messages and --json output, run in-process.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Examples(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distributed.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "examples", name);
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void CheckPassesOnTheTwoLayerNet()
    {
        var (code, output, _) = Run("check", Examples("two-layer.json"));
        Assert.Equal(0, code);
        Assert.Contains("Lagrangian residuals", output);
        Assert.EndsWith("ok", output.TrimEnd());
    }

    [Fact]
    public void CheckJsonReportsErrorsBelowTolerance()
    {
        var (code, output, _) = Run("check", Examples("two-layer.json"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("passed").GetBoolean());
        Assert.InRange(root.GetProperty("gradient").GetProperty("maxRelativeError").GetDouble(), 0, 1e-6);
        Assert.Equal(4, root.GetProperty("gradient").GetProperty("inputs").GetArrayLength());
        Assert.InRange(root.GetProperty("residuals").GetProperty("dual").GetDouble(), 0, 1e-12);
    }

    [Fact]
    public void GradJsonGivesTheWarmUpsClosedForm()
    {
        var (code, output, _) = Run("grad", Examples("warmup.json"), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var x = new[] { 0.3, -0.5, 0.8 };
        var z = x.Sum(v => v * v);
        var lambda = doc.RootElement.GetProperty("adjoints").GetProperty("x").EnumerateArray().Select(r => r[0].GetDouble()).ToArray();
        for (var k = 0; k < 3; k++) Assert.Equal(Math.Cos(z) * 2 * x[k], lambda[k], 1e-14);
        Assert.Equal(Math.Sin(z), doc.RootElement.GetProperty("value").GetDouble(), 1e-15);
    }

    [Fact]
    public void GradBindsInputsFromADataFile()
    {
        var data = Write("inputs.json", """{ "x": [[1.0], [2.0], [-1.0]] }""");
        var (code, output, _) = Run("grad", Examples("warmup.json"), "--inputs", data, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(Math.Sin(6.0), doc.RootElement.GetProperty("value").GetDouble(), 1e-15);
    }

    [Fact]
    public void InputsOfTheWrongShapeAreAUserError()
    {
        var data = Write("inputs.json", """{ "x": [[1.0, 2.0]] }""");
        var (code, _, err) = Run("grad", Examples("warmup.json"), "--inputs", data);
        Assert.Equal(1, code);
        Assert.Equal("error: inputs.json:x: value of shape 1x2 does not match the node's shape 3x1", err.Trim());
    }

    [Fact]
    public void AValueForAComputedNodeIsAUserError()
    {
        var data = Write("inputs.json", """{ "z": 1.0 }""");
        var (code, _, err) = Run("grad", Examples("warmup.json"), "--inputs", data);
        Assert.Equal(1, code);
        Assert.Equal("error: inputs.json:z: node 'z' is computed by op 'sqnorm'; only inputs, parameters and constants take values", err.Trim());
    }

    [Fact]
    public void DetectAnomalyNamesTheFirstNodeThatWentNonFinite()
    {
        var data = Write("inputs.json", """{ "x": [[1e200], [0.0], [0.0]] }""");
        Assert.Equal(0, Run("grad", Examples("warmup.json"), "--inputs", data).Code);
        var (code, _, err) = Run("grad", Examples("warmup.json"), "--inputs", data, "--detect-anomaly");
        Assert.Equal(1, code);
        Assert.Equal("error: node 'z': op 'sqnorm' failed: produced Infinity at (0, 0) in the forward pass from finite arguments", err.Trim());
    }

    [Fact]
    public void AnUnknownOpIsAOneLineUserError()
    {
        var file = Write("bad.json", """
            { "format": "adjoint-graph", "version": 1, "output": "y",
              "nodes": [ { "id": "x", "op": "input", "shape": [2, 1] },
                         { "id": "y", "op": "sigmod", "ancestors": ["x"] } ] }
            """);
        var (code, _, err) = Run("check", file);
        Assert.Equal(1, code);
        Assert.Equal("error: nodes[1].op: unknown op 'sigmod' (did you mean 'sigmoid'?)", err.Trim());
    }

    [Fact]
    public void AShapeMismatchNamesTheNodeAndBothShapes()
    {
        var file = Write("shapes.json", """
            { "format": "adjoint-graph", "version": 1, "output": "c",
              "nodes": [ { "id": "a", "op": "input", "shape": [3, 4] },
                         { "id": "b", "op": "input", "shape": [5, 2] },
                         { "id": "c", "op": "matmul", "ancestors": ["a", "b"] } ] }
            """);
        var (code, _, err) = Run("grad", file);
        Assert.Equal(1, code);
        Assert.Contains("nodes[2]: node 'c': shape mismatch in op 'matmul'", err);
        Assert.Contains("3x4", err);
        Assert.Contains("5x2", err);
    }

    [Fact]
    public void AMissingFileIsAUserError()
    {
        var (code, _, err) = Run("check", Path.Combine(_dir, "absent.json"));
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains("absent.json", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void AnUnknownCommandIsAUserError()
    {
        var (code, _, _) = Run("differentiate");
        Assert.Equal(1, code);
    }

    [Fact]
    public void RenderWritesDotWithEveryNodeAndEdge()
    {
        var dot = Path.Combine(_dir, "net.dot");
        var (code, output, _) = Run("render", Examples("two-layer.json"), "-o", dot, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(dot, doc.RootElement.GetProperty("dot").GetString());
        var text = File.ReadAllText(dot);
        Assert.StartsWith("digraph adjoint {", text);
        foreach (var edge in new[] { "\"X\" -> \"XW1\"", "\"W1\" -> \"XW1\"", "\"H\" -> \"HW2\"", "\"r\" -> \"loss\"" })
            Assert.Contains(edge, text);
    }
}
