using Xunit;

namespace Adjoint.Reliability.Tests;

/// <summary>Caps on graph and tensor size: a clear error at validation instead of exhausting memory.</summary>
[Trait("Category", "Reliability")]
public sealed class LimitsTests
{
    private static string File(string shape, string extra = "") => $$"""
        { "format": "adjoint-graph", "version": 1, "output": "s",
          "nodes": [ { "id": "x", "op": "input", "shape": {{shape}} }{{extra}},
                     { "id": "s", "op": "sum", "ancestors": ["x"] } ] }
        """;

    [Theory]
    [InlineData("[100000, 100000]", "100000x100000")]
    [InlineData("[2147483647, 2147483647]", "2147483647x2147483647")]
    public void AHugeDeclaredDimensionIsRejectedAtItsShape(string shape, string shown)
    {
        var e = Assert.Throws<GraphFile.GraphFileException>(() => GraphFile.parse(File(shape), null));
        Assert.Equal($"nodes[0].shape: node 'x': a value of shape {shown} has more than the limit of 134217728 elements", e.Message);
    }

    [Fact]
    public void AHugeComputedValueIsRejectedAtTheNodeThatMakesIt()
    {
        var b = new GraphBuilder();
        var column = b.Input("column", 200_000, 1);
        var row = b.Input("row", 1, 200_000);
        var e = Assert.Throws<GraphException>(() => b.MatMul(column, row, "outer"));
        Assert.Equal("node 'outer': a value of shape 200000x200000 has more than the limit of 134217728 elements", e.Message);
    }

    [Fact]
    public void ABuilderChecksItsLimitsAsNodesAreAdded()
    {
        var b = new GraphBuilder(new Limits(maxNodes: 2, maxTensorElements: 10));
        var x = b.Input("x", 2, 5);
        Assert.Equal("node 'y': a value of shape 2x10 has more than the limit of 10 elements",
            Assert.Throws<GraphException>(() => b.Input("y", 2, 10)).Message);
        b.Sum(x, "s");
        Assert.Equal("the graph has 3 nodes, more than the limit of 2",
            Assert.Throws<GraphException>(() => b.Neg(x, "n")).Message);
    }

    [Fact]
    public void LimitsAreConfigurable()
    {
        var tight = new Limits(maxNodes: 1, maxTensorElements: 4);
        var tooMany = Assert.Throws<GraphFile.GraphFileException>(() => GraphFile.parseWith(tight, File("[2, 2]"), null));
        Assert.Equal("nodes: the graph has 2 nodes, more than the limit of 1", tooMany.Message);
        var roomy = new Limits(maxNodes: 2, maxTensorElements: 4);
        Assert.Equal(2, GraphFile.parseWith(roomy, File("[2, 2]"), null).Count);
        var tooBig = Assert.Throws<GraphFile.GraphFileException>(() => GraphFile.parseWith(roomy, File("[2, 3]"), null));
        Assert.Contains("node 'x': a value of shape 2x3 has more than the limit of 4 elements", tooBig.Message);
    }
}
