// Malformed graphs and non-finite inputs thrown at a running silo: every case a clear error, the silo
// keeps serving, and nothing already deployed is lost.
using Adjoint.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;

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

/// <summary>A client that disappears mid-batch leaves nothing behind; reconnected, it runs the batch again.</summary>
[Trait("Category", "Reliability")]
[Collection(ThreeSiloCollection.Name)]
public sealed class ClientLossTests(ThreeSiloCluster fixture)
{
    [Fact]
    public async Task AClientThatDisconnectsMidBatchLeavesNoStateAndCanRunItAgain()
    {
        var ct = TestContext.Current.CancellationToken;
        var core = Graphs.RandomDag(seed: 11, size: 150);
        var inputs = Enumerable.Range(0, 400).Select(s => Graphs.RandomInputs(core, s)).ToList();
        var options = new BatchOptions { Mode = AdjointMode.All, Window = 32 };
        var id = $"client-loss-{Guid.NewGuid():N}";
        int version;
        {
            var host = await fixture.StartSecondClient();
            var graph = new DistributedGraph(host.Services.GetRequiredService<IClusterClient>(), id);
            version = (await graph.Deploy(core)).Version;
            var batch = graph.Evaluate(version, inputs, options, ct);
            // Wait until node grains hold evaluation state, then drop the client without a goodbye.
            var keeper = new DistributedGraph(fixture.Client, id);
            var liveAtDrop = 0;
            for (var i = 0; i < 500 && liveAtDrop == 0; i++)
            {
                liveAtDrop = await keeper.Grain.CountLiveStates(version);
                if (liveAtDrop == 0) await Task.Delay(2, ct);
            }
            host.Dispose();
            Assert.True(liveAtDrop > 0 && !batch.IsCompletedSuccessfully, "the client was not dropped mid-batch");
            try { await batch.WaitAsync(TimeSpan.FromSeconds(30), ct); }
            catch (Exception e) when (e is not TimeoutException) { /* the client is gone: its call fails */ }
        }
        var survivor = new DistributedGraph(fixture.Client, id);
        // Whatever the lost client started is finished or freed by the cluster: poll until no state is left.
        var live = -1;
        for (var i = 0; i < 300 && live != 0; i++)
        {
            live = await survivor.Grain.CountLiveStates(version);
            if (live != 0) await Task.Delay(100, ct);
        }
        Assert.Equal(0, live);
        // A client that comes back runs the whole batch, with the local engine's results.
        var results = await survivor.Evaluate(version, inputs, options, ct);
        var plan = Plan.Compile(core);
        for (var i = 0; i < inputs.Count; i += 37)
            Local.AssertEqual(plan, inputs[i], results[i], options.Mode, values: false);
        Assert.Equal(0, await survivor.Grain.CountLiveStates(version));
    }
}
