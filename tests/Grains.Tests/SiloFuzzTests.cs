// Malformed graphs and non-finite inputs thrown at a running silo: every case a clear error, the silo
// keeps serving, and nothing already deployed is lost.
using Adjoint.Tests.Shared;

namespace Adjoint.Grains.Tests;

[Trait("Category", "Reliability")]
[Collection(ThreeSiloCollection.Name)]
public sealed class SiloFuzzTests(ThreeSiloCluster fixture)
{
    private const int Cases = 2_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Example(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name));

    [Fact]
    public async Task MalformedGraphsAreRejectedClearlyAndTheSiloKeepsServing()
    {
        // A graph deployed before the storm, and its gradient, must be the same after it.
        var keeper = new DistributedGraph(fixture.Client, $"keeper-{Guid.NewGuid():N}");
        var twoLayer = GraphFile.parse(Example("two-layer.json"), null);
        var kept = await keeper.Deploy(twoLayer);
        var before = (await keeper.Evaluate(kept.Version, [null], cancellationToken: Ct))[0];

        var seeds = new[] { Example("two-layer.json"), Example("warmup.json") };
        var random = new Random(7);
        var (rejected, deployed, failedEvaluations) = (0, 0, 0);
        for (var i = 0; i < Cases; i++)
        {
            var text = GraphFileMutator.Mutate(seeds[random.Next(seeds.Length)], random);
            var graph = new DistributedGraph(fixture.Client, $"fuzz-{i}");
            DeployResult result;
            try
            {
                result = await graph.Grain.Deploy(text, 0).WaitAsync(TimeSpan.FromSeconds(10), Ct);
            }
            catch (GraphRejectedException e)
            {
                // The core's own message, one line, starting with the JSON path at fault.
                Assert.False(string.IsNullOrWhiteSpace(e.Path), $"case {i}: no path in '{e.Message}'");
                Assert.StartsWith(e.Path + ": ", e.Message);
                Assert.DoesNotContain('\n', e.Message);
                rejected++;
                continue;
            }
            deployed++;
            var outcome = (await graph.Evaluate(result.Version, [null], cancellationToken: Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct))[0];
            if (!outcome.Succeeded)
            {
                Assert.Contains($"node '{outcome.Failure!.Node}'", outcome.Failure.ToString());
                failedEvaluations++;
            }
            await graph.Grain.Undeploy(result.Version);
        }
        Assert.True(rejected > Cases / 2, $"only {rejected} of {Cases} rejected");
        Assert.True(deployed > 20, $"only {deployed} of {Cases} deployed: the engine was hardly exercised");

        var after = (await keeper.Evaluate(kept.Version, [null], cancellationToken: Ct))[0];
        Assert.True(Tensor.BitwiseEqual(before.Output!.ToTensor(), after.Output!.ToTensor()));
        foreach (var (id, lambda) in before.Adjoints)
            Assert.True(Tensor.BitwiseEqual(lambda.ToTensor(), after.Adjoints[id].ToTensor()), $"λ of '{id}' changed");
        Assert.Equal(0, await keeper.Grain.CountLiveStates(kept.Version));
        TestContext.Current.TestOutputHelper?.WriteLine($"{Cases} graphs: {rejected} rejected, {deployed} deployed, {failedEvaluations} evaluations failed cleanly");
    }

    [Fact]
    public async Task NonFiniteInputsGiveNonFiniteResultsNotCrashes()
    {
        var graph = new DistributedGraph(fixture.Client, $"nan-{Guid.NewGuid():N}");
        var core = GraphFile.parse(Example("two-layer.json"), null);
        var version = (await graph.Deploy(core)).Version;
        var inputs = new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e308 }
            .Select(v => (IReadOnlyDictionary<string, Tensor>?)new Dictionary<string, Tensor>
            {
                ["X"] = new Tensor(8, 4, Enumerable.Repeat(v, 32).ToArray()),
            })
            .Append(null)
            .ToList();
        var results = await graph.Evaluate(version, inputs, cancellationToken: Ct);
        Assert.Equal(5, results.Count);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Failure?.ToString()));
        Assert.True(double.IsNaN(results[0].Output!.ToTensor().ScalarValue));
        Assert.True(double.IsFinite(results[4].Output!.ToTensor().ScalarValue));
        Assert.Equal(0, await graph.Grain.CountLiveStates(version));
    }
}
