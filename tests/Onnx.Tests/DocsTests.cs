// docs/onnx.md's table of mapped ONNX ops against the importer's own list.
namespace Adjoint.Onnx.Tests;

public sealed class DocsTests
{
    [Fact]
    public void Docs_list_exactly_the_onnx_ops_the_importer_maps()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distributed.sln"))) dir = dir.Parent;
        var docs = File.ReadAllText(Path.Combine(dir!.FullName, "docs", "onnx.md"));
        var table = docs[docs.IndexOf("## ONNX ops mapped", StringComparison.Ordinal)..docs.IndexOf("## Loss for training", StringComparison.Ordinal)];
        var listed = table.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal))
            .SelectMany(l => l.Split('|')[1].Split(',').Select(o => o.Trim())).ToHashSet();
        var missing = Mapper.Supported.Where(op => !listed.Contains(op)).ToList();
        Assert.True(missing.Count == 0, $"docs/onnx.md does not list {string.Join(", ", missing)}");
        listed.Remove("ONNX op");
        var claimed = listed.Where(op => !Mapper.Supported.Contains(op)).ToList();
        Assert.True(claimed.Count == 0, $"docs/onnx.md lists {string.Join(", ", claimed)}, which the importer does not map");
    }
}
