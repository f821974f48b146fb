using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary><c>adjoint ops</c>: the catalogue as the command lists it, which must be the catalogue itself.</summary>
public sealed class OpsCommandTests
{
    [Fact]
    public void The_json_list_has_every_catalogue_op_once_with_its_attributes()
    {
        var (code, stdout, stderr) = CliRun.Invoke("ops", "--json");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        using var doc = JsonDocument.Parse(stdout);
        var ops = doc.RootElement.GetProperty("ops").EnumerateArray().ToList();
        Assert.Equal(Catalogue.names.ToList(), ops.Select(o => o.GetProperty("name").GetString()).ToList());
        foreach (var e in Catalogue.entries)
        {
            var o = ops.Single(x => x.GetProperty("name").GetString() == e.Name);
            Assert.Equal(e.Arity, o.GetProperty("arity").GetString());
            Assert.Equal(e.ShapeRule, o.GetProperty("shapeRule").GetString());
            Assert.Equal(e.Attributes.Select(a => a.Name), o.GetProperty("attributes").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
        }
        var factor = ops.Single(o => o.GetProperty("name").GetString() == "scale").GetProperty("attributes")[0];
        Assert.Equal("number", factor.GetProperty("type").GetString());
        Assert.True(factor.GetProperty("required").GetBoolean());
    }

    [Fact]
    public void The_text_list_names_every_op_with_its_shape_rule_and_one_op_can_be_asked_for()
    {
        var (code, stdout, _) = CliRun.Invoke("ops");
        Assert.Equal(0, code);
        foreach (var e in Catalogue.entries)
        {
            Assert.Contains($"\n{e.Name} ", "\n" + stdout);
            Assert.Contains($"shape: {e.ShapeRule}", stdout);
        }
        var one = CliRun.Invoke("ops", "scale");
        Assert.Equal(0, one.Code);
        Assert.StartsWith("scale  (1)  c·x", one.Out);
        Assert.Contains("factor: number (required)", one.Out);
    }

    [Fact]
    public void An_unknown_op_is_a_one_line_error_with_exit_code_1()
    {
        var (code, stdout, stderr) = CliRun.Invoke("ops", "sigmod");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal("error: unknown op 'sigmod' (did you mean 'sigmoid'?)", stderr.Trim());
    }
}
