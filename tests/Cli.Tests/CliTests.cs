using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary>The command line's exit codes, messages and --json output, run in-process.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Examples(string name) => CliRun.Examples(name);

    /// <summary>Runs the CLI in-process; evaluating commands use the local engine unless the test says otherwise.</summary>
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var evaluating = args.Length > 0 && args[0] is "grad" or "check" or "demo";
        var backendGiven = args.Contains("--cluster") || args.Contains("--local") || args.Contains("--embedded");
        return CliRun.Invoke(evaluating && !backendGiven ? [.. args, "--local"] : args.Where(a => a != "--embedded").ToArray());
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
        Assert.Equal("error: node 'z': op 'sqnorm' failed: produced Infinity in the forward pass from finite arguments", err.Trim());
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
    public void TheEmbeddedSiloGivesTheLocalEnginesBits()
    {
        var local = Run("grad", Examples("two-layer.json"), "--all", "--json");
        var embedded = Run("grad", Examples("two-layer.json"), "--all", "--json", "--embedded");
        Assert.Equal(0, local.Code);
        Assert.Equal(0, embedded.Code);
        // JSON numbers are written round-trip ("R"), so equal text is equal bits.
        Assert.Equal(local.Out, embedded.Out);
    }

    [Fact]
    public void ABatchOfInputSetsGivesOneResultEachInOrder()
    {
        var data = Write("batch.json", """[ { "x": [[1.0], [0.0], [0.0]] }, { "x": [[0.0], [2.0], [0.0]] }, { "x": [[0.0], [0.0], [3.0]] } ]""");
        var (code, output, _) = Run("grad", Examples("warmup.json"), "--inputs", data, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var values = doc.RootElement.EnumerateArray().Select(r => r.GetProperty("value").GetDouble()).ToArray();
        Assert.Equal(new[] { Math.Sin(1.0), Math.Sin(4.0), Math.Sin(9.0) }, values);
    }

    [Fact]
    public void PartitionReportsPartsCostsAndCutBytes()
    {
        var (code, output, _) = Run("partition", Examples("two-layer.json"), "--silos", "2", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var parts = doc.RootElement.GetProperty("parts").EnumerateArray().ToArray();
        Assert.Equal(2, parts.Length);
        Assert.Equal(9, parts.Sum(p => p.GetProperty("nodes").GetInt32()));
        Assert.True(doc.RootElement.GetProperty("cutBytes").GetInt64() > 0);
        Assert.InRange(doc.RootElement.GetProperty("balance").GetDouble(), 1.0, 2.0);
    }

    [Fact]
    public void AnUnreachableClusterIsAOneLineUserError()
    {
        // Redis refusing the connection is known at once: not after Orleans' retries, and without
        // StackExchange.Redis's advice about abortConnect (issue 12, item 6: 20.8 s before).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, _, err) = Run("grad", Examples("warmup.json"), "--cluster", "127.0.0.1:1");
        Assert.Equal(1, code);
        Assert.Equal("error: cannot reach the cluster 'adjoint': Redis at 127.0.0.1:1, which holds its membership, is not reachable (connection refused)", err.Trim());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"took {clock.Elapsed}");
    }

    [Fact]
    public void ResultsOverTheMessageSizeAreAUserErrorInTheCommandLinesWords()
    {
        // 60x60 values and adjoints (28.8 KB each): with --all one evaluation's results are over 64 KiB,
        // without it (the inputs' adjoints, 480 bytes each) they fit. Issue 12, item 6: this was an
        // internal error with a stack trace (exit 2) advising an API mode.
        var column = string.Join(", ", Enumerable.Range(0, 60).Select(i => $"[{i / 60.0}]"));
        var row = "[" + string.Join(", ", Enumerable.Range(0, 60).Select(i => $"{1 - i / 60.0}")) + "]";
        var file = Write("outer.json", $$"""
            { "format": "adjoint-graph", "version": 1, "output": "s", "nodes": [
              { "id": "column", "op": "input", "shape": [60, 1], "value": [{{column}}] },
              { "id": "row", "op": "input", "shape": [1, 60], "value": [{{row}}] },
              { "id": "outer", "op": "matmul", "ancestors": ["column", "row"] },
              { "id": "t", "op": "tanh", "ancestors": ["outer"] },
              { "id": "s", "op": "sum", "ancestors": ["t"] } ] }
            """);
        var (code, output, err) = Run("grad", file, "--all", "--embedded", "--max-message-size", "65536");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: the results of one evaluation take ", err);
        Assert.EndsWith("more than the message size limit of 65536 bytes (MaxMessageBodySize); ask for fewer results (grad without --all returns only the inputs' and parameters' adjoints) or raise the limit (--max-message-size here, Limits:MaxMessageBodySize on the silos)", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
        var (fits, _, fitsErr) = Run("grad", file, "--embedded", "--max-message-size", "65536", "--json");
        Assert.True(fits == 0, fitsErr);
    }

    [Fact]
    public void TheDemoChecksTrainsAndWritesItsPictures()
    {
        var (code, output, err) = Run("demo", "--embedded", "--out", _dir, "--steps", "20", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("bitwiseEqualToLocal").GetBoolean());
        Assert.InRange(root.GetProperty("gradientCheckMaxRelativeError").GetDouble(), 0, 1e-6);
        var losses = root.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray();
        Assert.Equal(20, losses.Length);
        Assert.True(losses[^1] < losses[0]);
        Assert.True(new FileInfo(Path.Combine(_dir, "loss.png")).Length > 1000);
        Assert.StartsWith("digraph adjoint {", File.ReadAllText(Path.Combine(_dir, "two-layer.dot")));
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
