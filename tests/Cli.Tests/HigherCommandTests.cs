using System.Text.Json;
using Xunit;

namespace Adjoint.Cli.Tests;

/// <summary>`hvp`, `jvp` and `render --adjoint`: closed forms, the back ends' bits, and the one-line errors.</summary>
public sealed class HigherCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adjoint-hvp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The warm-up f = sin(s), s = ‖x‖², at the file's x: ∇f = 2cos(s) x, H = 2cos(s) I − 4 sin(s) x xᵀ.
    private static readonly double[] X = [0.3, -0.5, 0.8];
    private static readonly double S = X.Sum(v => v * v);

    private static double[] Column(JsonElement e) => [.. e.EnumerateArray().Select(r => r[0].GetDouble())];

    private string Npz(string name, params (string Id, int[] Dims, double[] Data)[] arrays)
    {
        var path = Path.Combine(_dir, name);
        Adjoint.Npz.writeFile(path, arrays.Select(a => KeyValuePair.Create(a.Id, new NpyArray(a.Dims, a.Data))));
        return path;
    }

    [Fact]
    public void HvpOfTheWarmUpIsItsClosedFormHessianTimesV()
    {
        double[] v = [0.7, 0.2, -0.4];
        var (code, output, error) = CliRun.Invoke("hvp", CliRun.Examples("warmup.json"), "--vector", Npz("v.npz", ("x", [3, 1], v)), "--json", "--local");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var hv = Column(doc.RootElement.GetProperty("hvp").GetProperty("x"));
        var xv = X.Zip(v, (a, b) => a * b).Sum();
        for (var i = 0; i < 3; i++)
            Assert.Equal(2 * Math.Cos(S) * v[i] - 4 * Math.Sin(S) * X[i] * xv, hv[i], 1e-14);
        Assert.Equal(["x"], doc.RootElement.GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public void JvpOfTheWarmUpIsTheDirectionalDerivative()
    {
        var (code, output, error) = CliRun.Invoke("jvp", CliRun.Examples("warmup.json"), "--tangent", "{\"x\": [[1], [2], [3]]}", "--json", "--local");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(2 * Math.Cos(S) * (X[0] + 2 * X[1] + 3 * X[2]), doc.RootElement.GetProperty("jvp").GetDouble(), 1e-14);
        // Of another node: s = ‖x‖² has J v = 2 xᵀv.
        (code, output, error) = CliRun.Invoke("jvp", CliRun.Examples("warmup.json"), "--tangent", "{\"x\": [[1], [2], [3]]}", "--of", "z", "--json", "--local");
        Assert.True(code == 0, error);
        using var of = JsonDocument.Parse(output);
        Assert.Equal(2 * (X[0] + 2 * X[1] + 3 * X[2]), of.RootElement.GetProperty("jvp").GetDouble(), 1e-14);
    }

    [Fact]
    public void HvpAndJvpOnTheEmbeddedSiloEqualTheLocalEngineBitwise()
    {
        var net = CliRun.Examples("two-layer.json");
        var rng = new Random(5);
        double[] Random(int n) => [.. Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1)];
        var v = Npz("v.npz", ("W1", [4, 4], Random(16)), ("W2", [4, 1], Random(4)));
        foreach (var command in new[] { "hvp", "jvp" })
        {
            var flag = command == "hvp" ? "--vector" : "--tangent";
            var local = CliRun.Invoke(command, net, flag, v, "--json", "--local");
            var embedded = CliRun.Invoke(command, net, flag, v, "--json");
            Assert.True(local.Code == 0, local.Err);
            Assert.True(embedded.Code == 0, embedded.Err);
            using var a = JsonDocument.Parse(local.Out);
            using var b = JsonDocument.Parse(embedded.Out);
            Assert.Equal("Embedded", b.RootElement.GetProperty("backend").GetString());
            // Numbers are written in round-trip form: equal text is equal bits.
            Assert.Equal(a.RootElement.GetProperty(command).GetRawText(), b.RootElement.GetProperty(command).GetRawText());
        }
    }

    [Fact]
    public void AVectorOfTheWrongShapeIsOneLineNamingTheNodeAndBothShapes()
    {
        var (code, output, error) = CliRun.Invoke("hvp", CliRun.Examples("two-layer.json"), "--vector", Npz("bad.npz", ("W1", [4, 4], new double[16]), ("W2", [3, 1], new double[3])), "--local");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal("error: bad.npz: node 'W2': vector of shape 3x1 does not match the node's shape 4x1", error.TrimEnd());
    }

    [Fact]
    public void AMissingVectorForATargetAndANodeThatIsNoTargetAreOneLineErrors()
    {
        var net = CliRun.Examples("two-layer.json");
        var w2 = Npz("w2.npz", ("W2", [4, 1], new double[4]));
        var missing = CliRun.Invoke("hvp", net, "--vector", w2, "--wrt", "W1,W2", "--local");
        Assert.Equal(1, missing.Code);
        Assert.Equal("error: w2.npz: node 'W1': no vector given for this target (shape 4x4)", missing.Err.TrimEnd());
        var computed = CliRun.Invoke("jvp", net, "--tangent", Npz("h.npz", ("H", [8, 4], new double[32])), "--local");
        Assert.Equal(1, computed.Code);
        Assert.Equal("error: h.npz: node 'H' is not a float64 input or parameter of the graph; vectors are given for those only", computed.Err.TrimEnd());
    }

    [Fact]
    public void RenderAdjointDrawsTheBackwardNodesWithTheirAdjoints()
    {
        var dot = Path.Combine(_dir, "net.adjoint.dot");
        var (code, _, error) = CliRun.Invoke("render", CliRun.Examples("two-layer.json"), "--adjoint", "-o", dot);
        Assert.True(code == 0, error);
        var text = File.ReadAllText(dot);
        foreach (var id in new[] { "W1", "W2", "X", "loss" })
            Assert.Contains($"\"{id}\" [label=\"{id}\\n", text);
        Assert.Contains("λ W1\\n", text);
        Assert.Contains("λ W2\\n", text);
        Assert.Contains("fillcolor=\"#fde2e2\"", text);
    }
}
