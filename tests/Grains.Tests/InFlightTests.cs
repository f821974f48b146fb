// Ten thousand evaluations in flight: bounded memory and no state left.
namespace Adjoint.Grains.Tests;

/// <summary>Ten thousand evaluations in flight at once: memory stays bounded and no state is left.</summary>
[Trait("Category", "Reliability")]
[Collection(ThreeSiloCollection.Name)]
public sealed class InFlightTests(ThreeSiloCluster fixture)
{
    [Fact]
    public async Task TenThousandEvaluationsInFlightLeaveNoStateAndBoundedMemory()
    {
        var ct = TestContext.Current.CancellationToken;
        var graph = new DistributedGraph(fixture.Client, $"inflight-{Guid.NewGuid():N}");
        var core = GraphFile.parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", "two-layer.json")), null);
        var version = (await graph.Deploy(core)).Version;
        const int count = 10_000;
        var inputs = Enumerable.Range(0, count)
            .Select(i => (IReadOnlyDictionary<string, Tensor>?)new Dictionary<string, Tensor> { ["y"] = new Tensor(8, 1, Enumerable.Repeat(i / (double)count, 8).ToArray()) })
            .ToList();
        GC.Collect();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false));
                await Task.Delay(5, ct);
            }
        }, ct);
        var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = count }, ct);
        sampling.Cancel();
        await sampler;
        Assert.Equal(count, results.Count);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Failure?.ToString()));
        // In order: the loss depends on the input set's index.
        var reference = Engine.gradient(Adjoints.InputsAndParameters, Plan.Compile(core), inputs[count - 1]);
        Assert.True(Tensor.BitwiseEqual(reference.Output, results[count - 1].Output!.ToTensor()));
        Assert.Equal(0, await graph.Grain.CountLiveStates(version));
        var growth = (peak - baseline) / (1024.0 * 1024.0);
        TestContext.Current.TestOutputHelper?.WriteLine($"{count} evaluations in flight: managed heap peak {peak / (1024.0 * 1024.0):F0} MB ({growth:F0} MB above the baseline)");
        // Three silos and the client share this process: all of their in-flight state fits well under 2 GB.
        Assert.InRange(growth, 0, 2048);
    }
}
