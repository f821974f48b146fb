// The command-line paths a new user found ending in stack traces, wrong exit codes or unhelpful text
// (issue 15, item 5): each asserts its message and exit code.
using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

public sealed class CliPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-cli-paths-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Examples(string name) => CliRun.Examples(name);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Invoke(args);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    // log(x) summed, with x unbound in the file.
    private string Unbound() => Write("unbound.json", """
        { "format": "adjoint-graph", "version": 1, "output": "s", "nodes": [
          { "id": "x", "op": "input", "shape": [2, 1] },
          { "id": "f", "op": "log", "ancestors": ["x"] },
          { "id": "s", "op": "sum", "ancestors": ["f"] } ] }
        """);

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    public void Demo_refuses_a_step_count_below_one(string steps)
    {
        var (code, output, err) = Run("demo", "--local", "--steps", steps, "--out", _dir);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal($"error: --steps must be at least 1, got {steps}", err.Trim());
    }

    [Fact]
    public void Demo_refuses_an_out_folder_that_is_a_file()
    {
        var file = Write("taken", "");
        var (code, _, err) = Run("demo", "--local", "--out", file);
        Assert.Equal(1, code);
        Assert.Equal($"error: --out '{file}' is a file; give a folder (it is made if missing)", err.Trim());
    }

    [Fact]
    public void A_check_that_does_not_pass_has_its_own_exit_code()
    {
        // relu at its kink: the VJP's [x > 0] gives 0, central differences 0.5.
        var file = Write("kink.json", """
            { "format": "adjoint-graph", "version": 1, "output": "s", "nodes": [
              { "id": "x", "op": "input", "shape": [1, 1], "value": 0 },
              { "id": "r", "op": "relu", "ancestors": ["x"] },
              { "id": "s", "op": "sum", "ancestors": ["r"] } ] }
            """);
        var (code, output, err) = Run("check", file, "--local");
        Assert.Equal(3, code);
        Assert.Equal("", err);
        Assert.StartsWith("FAILED: max relative error 1.00E+000", output.Trim().Split('\n')[^1]);
    }

    [Fact]
    public void Check_and_grad_take_inline_inputs_and_an_unbound_input_says_to_pass_them()
    {
        var file = Unbound();
        var (code, _, err) = Run("grad", file, "--local");
        Assert.Equal(1, code);
        Assert.Equal("error: node 'x': input of shape 2x1 has no value; give it one in the graph file or with --inputs '{\"x\": …}'", err.Trim());
        (code, _, err) = Run("check", file, "--local");
        Assert.Equal(1, code);
        Assert.StartsWith("error: node 'x': input of shape 2x1 has no value", err);

        var (checkCode, checkOut, checkErr) = Run("check", file, "--local", "--inputs", """{"x": [[0.5], [2]]}""");
        Assert.True(checkCode == 0, checkErr);
        Assert.Contains("output 's' = 0 ", checkOut);
        var (gradCode, gradOut, gradErr) = Run("grad", file, "--local", "--inputs", """{"x": [[0.5], [2]]}""");
        Assert.True(gradCode == 0, gradErr);
        // Small tensors are printed with their values, not only a norm.
        Assert.Contains("lambda x            [[2], [0.5]]", gradOut);
        (code, _, err) = Run("check", file, "--local", "--inputs", """[{"x": [[0.5], [2]]}]""");
        Assert.Equal(1, code);
        Assert.Equal("error: --inputs: check takes one set of input values (a JSON object), not a list", err.Trim());
    }

    [Fact]
    public void NaN_and_infinities_are_written_as_JSON_strings()
    {
        var (code, output, err) = Run("grad", Unbound(), "--local", "--json", "--inputs", """{"x": [[0], [1]]}""");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal("-Infinity", doc.RootElement.GetProperty("value").GetString());
        var x = doc.RootElement.GetProperty("adjoints").GetProperty("x");
        Assert.Equal("Infinity", x[0][0].GetString());
        Assert.Equal(1.0, x[1][0].GetDouble());
    }

    [Fact]
    public void Partition_names_the_nodes_of_each_part()
    {
        var (code, output, _) = Run("partition", Examples("two-layer.json"), "--silos", "2");
        Assert.Equal(0, code);
        var lines = output.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        var ids = lines.Skip(1).SelectMany(l => l[(l.LastIndexOf(": ", StringComparison.Ordinal) + 2)..].Split(", ")).Select(s => s.Trim()).Order();
        Assert.Equal(["H", "HW2", "W1", "W2", "X", "XW1", "loss", "r", "y"], ids.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Render_writes_beside_the_graph_file()
    {
        var file = Path.Combine(_dir, "warmup.json");
        File.Copy(Examples("warmup.json"), file);
        var (code, output, err) = Run("render", file, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(Path.Combine(_dir, "warmup.dot"), doc.RootElement.GetProperty("dot").GetString());
        Assert.True(File.Exists(Path.Combine(_dir, "warmup.dot")));
        Assert.False(File.Exists(Path.Combine(Environment.CurrentDirectory, "warmup.dot")));
    }
}
