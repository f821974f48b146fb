// A client lost mid-batch: nothing left behind, and the batch can be run again.
using Microsoft.Extensions.DependencyInjection;

namespace Adjoint.Grains.Tests;

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
