// The batch board the live web view reads: a running batch is listed with its progress, and completions are counted.
namespace Adjoint.Grains.Tests;

/// <summary>
/// Each silo's board (<see cref="ISiloBoardGrain"/>) lists the batches its coordinators run, with
/// progress that only grows up to the batch's size, and leaves them off once they end; the silos'
/// completion counters grow by exactly the evaluations completed.
/// </summary>
[Collection(ThreeSiloCollection.Name)]
public sealed class BatchBoardTests(ThreeSiloCluster fixture)
{
    private async Task<SiloBoard[]> Boards() =>
        await Task.WhenAll(fixture.Cluster.Silos.Select(s => fixture.Client.GetGrain<ISiloBoardGrain>(s.SiloAddress.ToParsableString()).Read()));

    [Fact]
    public async Task ARunningBatchIsListedWithItsProgressAndLeavesWhenDone()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = $"board-{Guid.NewGuid():N}";
        var graph = new DistributedGraph(fixture.Client, id);
        var core = GraphFile.parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", "two-layer.json")), null);
        var version = (await graph.Deploy(core)).Version;
        const int count = 1500;
        var inputs = Enumerable.Range(0, count).Select(_ => (IReadOnlyDictionary<string, Tensor>?)null).ToList();
        var before = (await Boards()).Sum(b => b.Completed);
        var run = graph.Evaluate(version, inputs, new BatchOptions { Window = 2 }, ct);
        var seen = new List<BatchSummary>();
        while (!run.IsCompleted)
        {
            seen.AddRange((await Boards()).SelectMany(b => b.Batches).Where(b => b.GraphId == id));
            await Task.Delay(5, ct);
        }
        var results = await run;
        Assert.All(results, r => Assert.True(r.Succeeded, r.Failure?.ToString()));
        Assert.NotEmpty(seen);
        Assert.All(seen, b =>
        {
            Assert.Equal(version, b.Version);
            Assert.Equal(count, b.Total);
            Assert.InRange(b.Completed, 0, count);
            Assert.InRange(b.InFlight, 0, 2);
            Assert.Equal(0, b.Failed);
        });
        Assert.Single(seen.Select(b => b.Batch).Distinct());
        // Progress read later is never less (one coordinator writes it; reads see its writes in order).
        Assert.Equal(seen.Select(b => b.Completed).Order(), seen.Select(b => b.Completed));
        Assert.True(seen[^1].Completed > seen[0].Completed, $"the batch's progress did not move while it ran: {seen[0].Completed} .. {seen[^1].Completed}");
        var after = await Boards();
        Assert.DoesNotContain(after.SelectMany(b => b.Batches), b => b.GraphId == id);
        Assert.Equal(before + count, after.Sum(b => b.Completed));
    }
}
