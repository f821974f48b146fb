// The C# samples run and say what they should, and the README's snippets are their code, verbatim.
using Adjoint.Client;
using Adjoint.Examples;

namespace Adjoint.Samples.Tests;

public sealed class SampleTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public async Task TheTrainingSampleLearnsTheSameParametersOnLocalAndEmbedded()
    {
        var output = new StringWriter();
        var directory = Path.Combine(Path.GetTempPath(), $"adjoint-sample-{Guid.NewGuid():N}");
        try
        {
            var exit = await TrainingSample.MainAsync(output, directory, TestContext.Current.CancellationToken);
            var text = output.ToString();
            Assert.True(exit == 0, text);
            Assert.Contains("Local and Embedded trained the same parameters bit for bit: yes", text);
            Assert.Contains("Embedded: 1 model(s); 'two-layer' v1, 9 nodes", text);
            // The exported graph carries the trained values: the local engine on it gives the trained loss.
            var trained = GraphFile.load(Path.Combine(directory, "two-layer-trained.json"));
            var local = Engine.evaluate(Plan.Compile(trained), TrainingSample.Example(0));
            Assert.True(local.Output.ScalarValue < 2.0, text);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TheCoreSampleGivesTheClosedForm()
    {
        var (value, lambdaW) = CoreSample.Gradient();
        var h = 1 / (1 + Math.Exp(0.5));
        Assert.Equal(2 * h * h, value, 1e-15);
        Assert.Equal((1 + 3) * 2 * h * h * (1 - h), lambdaW[0, 0], 1e-15);
    }

    [Fact]
    public void TheBroadcastingSampleAgreesWithCentralDifferences()
    {
        var plan = CoreSample.Broadcasting();
        var random = new Random(5);
        var x = new Tensor(Shape.Of(2, 3, 4), [.. Enumerable.Range(0, 24).Select(_ => random.NextDouble() * 2 - 1)]);
        var inputs = new Dictionary<string, Tensor> { ["X"] = x };
        var e = Engine.gradient(Adjoints.All, plan, inputs);
        Assert.Equal(Shape.Of(2, 3, 4), e.Adjoint("X").Shape);
        Assert.Equal(Shape.Of(4), e.Adjoint("w").Shape);
        Assert.Equal(Shape.Scalar, e.Adjoint("c").Shape);
        // The rank-0 parameter's λ against (f(c + h) − f(c − h)) / 2h, summed over every broadcast element.
        double At(double c)
        {
            var probe = Engine.bind(plan, inputs);
            probe.Set("c", Tensor.Scalar(c));
            Engine.forward(probe);
            return probe.Output.ScalarValue;
        }
        const double h = 1e-6;
        var numeric = (At(0.1 + h) - At(0.1 - h)) / (2 * h);
        Assert.True(Math.Abs(numeric - e.Adjoint("c").ScalarValue) <= 1e-8 * Math.Max(1, Math.Abs(numeric)), $"λ_c {e.Adjoint("c").ScalarValue} vs {numeric}");
    }

    [Fact]
    public async Task TheHigherSampleGivesTheClosedFormW2BlockAndTheGradientsDirectionalDerivative()
    {
        var ct = TestContext.Current.CancellationToken;
        var graph = GraphFile.load(Path.Combine(Root, "examples", "two-layer.json"));
        await using var local = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Local }, ct);
        await using var embedded = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Embedded }, ct);
        var (hv, jv) = await HigherSample.ProductsAsync(local, graph, ct);
        var (hvSilo, jvSilo) = await HigherSample.ProductsAsync(embedded, graph, ct);
        Assert.All(hv, kv => Assert.True(Tensor.BitwiseEqual(kv.Value, hvSilo[kv.Key]), $"Hv of '{kv.Key}' differs on the embedded silo"));
        Assert.True(Tensor.BitwiseEqual(jv, jvSilo));
        // f = ‖σ(X W1) W2 − y‖²: H_W2W2 = 2 HᵀH, so Hv is 2 Hᵀ (column 0 of H); J v = λ_W2[0].
        var x = graph.Node("X").Value.Value;
        var w1 = graph.Node("W1").Value.Value;
        var h = new double[8, 4];
        for (var i = 0; i < 8; i++)
            for (var j = 0; j < 4; j++)
                h[i, j] = 1 / (1 + Math.Exp(-Enumerable.Range(0, 4).Sum(k => x[i, k] * w1[k, j])));
        for (var j = 0; j < 4; j++)
            Assert.Equal(2 * Enumerable.Range(0, 8).Sum(i => h[i, j] * h[i, 0]), hv["W2"][j, 0], 1e-13);
        var gradient = await (await local.DeployAsync("net", graph, ct)).GradientAsync(null, Adjoints.InputsAndParameters, ct);
        Assert.Equal(gradient.Adjoint("W2")[0, 0], jv.ScalarValue, 1e-13);
    }

    [Theory]
    [InlineData("examples/csharp/Training/TrainingSample.cs", "facade")]
    [InlineData("examples/csharp/Training/CoreSample.cs", "core")]
    [InlineData("examples/csharp/Training/CoreSample.cs", "operators")]
    [InlineData("examples/csharp/Training/HigherSample.cs", "higher")]
    public void TheReadmeQuotesTheSampleVerbatim(string file, string region)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, file));
        var start = Array.FindIndex(lines, l => l.Trim() == $"// <{region}>");
        var end = Array.FindIndex(lines, l => l.Trim() == $"// </{region}>");
        Assert.True(start >= 0 && end > start, $"{file} has no region '{region}'");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        var snippet = string.Join("\n", body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
        var readme = File.ReadAllText(Path.Combine(Root, "README.md")).ReplaceLineEndings("\n");
        Assert.True(readme.Contains(snippet, StringComparison.Ordinal), $"README.md does not quote {file}'s region '{region}' verbatim:\n{snippet}");
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Distributed.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no Distributed.sln above {AppContext.BaseDirectory}");
    }
}
