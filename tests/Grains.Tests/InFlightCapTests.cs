// Issue 7, item 4: the cap on one client's evaluations in flight, over all its concurrent batches.
using Adjoint.Tests.Shared;

namespace Adjoint.Grains.Tests;

/// <summary>
/// A window over the cap is refused by name; concurrent batches share the cap (waiting for room) and
/// all complete bitwise equal to the local engine; batches beyond the queue bound are refused by name.
/// </summary>
[Trait("Category", "Reliability")]
[Collection(CappedCollection.Name)]
public sealed class InFlightCapTests(CappedCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly BatchOptions Gradient = new() { Mode = AdjointMode.InputsAndParameters, Window = CappedCluster.InFlight };

    // A chain of 40 nodes from a 1×1 input and a 1×1 parameter: each evaluation takes many hops (so
    // batches overlap), while inputs and results stay small under the cluster's 64 KiB messages.
    private static Graph Chain()
    {
        var b = new GraphBuilder();
        var h = b.Mul(b.Input("x", 1, 1), b.Parameter("w", new Tensor(1, 1, [0.9])));
        for (var i = 0; i < 36; i++) h = i % 2 == 0 ? b.Tanh(h) : b.Sin(h);
        return b.Build(b.Sum(h, "z"));
    }

    private static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> Inputs(int count, int seed) =>
        [.. Enumerable.Range(0, count).Select(i => new Dictionary<string, Tensor> { ["x"] = new Tensor(1, 1, [Math.Sin(seed + i)]) })];

    private async Task<(DistributedGraph Graph, int Version, Graph Core)> Deploy(string name)
    {
        var core = Chain();
        var graph = new DistributedGraph(fixture.Client, $"{name}-{Guid.NewGuid():N}");
        return (graph, (await graph.Deploy(core)).Version, core);
    }

    private static void AssertLocal(Graph core, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> inputs, List<EvaluationResult> results)
    {
        var plan = Plan.Compile(core);
        Assert.Equal(inputs.Count, results.Count);
        for (var i = 0; i < inputs.Count; i++)
            Assert.True(FaultChecks.Same(FaultChecks.Expected(plan, inputs[i]), results[i]), $"evaluation {i} differs from the local engine: {results[i].Failure}");
    }

    [Fact]
    public async Task A_window_over_the_cap_is_refused_naming_the_cap_and_the_window()
    {
        var (graph, version, core) = await Deploy("window");
        var inputs = Inputs(3, 0);
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 9 }, Ct));
        Assert.Equal("a window of 9 evaluations in flight is more than the cap of 8 per client (MaxEvaluationsInFlightPerClient); use a window of at most 8", e.Message);
        // The same handle runs a batch within the cap.
        AssertLocal(core, inputs, await graph.Evaluate(version, inputs, Gradient, Ct));
    }

    [Fact]
    public async Task Concurrent_batches_together_stay_within_the_cap_and_all_complete()
    {
        var (graph, version, core) = await Deploy("share");
        var batches = Enumerable.Range(0, 4).Select(b => Inputs(200, 1000 * b)).ToList();
        // Each batch alone may fill the cap; four at once would hold 32 in flight without it.
        var results = await Task.WhenAll(batches.Select(inputs => graph.Evaluate(version, inputs, Gradient, Ct)));
        for (var b = 0; b < batches.Count; b++) AssertLocal(core, batches[b], results[b]);
        var status = await graph.Coordinator.Status();
        Assert.InRange(status.PeakInFlight, 1, CappedCluster.InFlight);
        Assert.Equal(0, status.InFlight);
        Assert.Equal(0, status.Waiting);
        Assert.Equal(0, await graph.Grain.CountLiveStates(version));
    }

    [Fact]
    public async Task Batches_beyond_the_queue_bound_are_refused_by_name_and_the_rest_complete()
    {
        var (graph, version, core) = await Deploy("queue");
        var inputs = Inputs(300, 0);
        // Warm: every node grain active, so that the burst below arrives while the first batch runs.
        await graph.Evaluate(version, inputs.Take(8), Gradient, Ct);
        // Ten full-window batches at once: one runs, four wait, the rest are refused at arrival.
        var runs = Enumerable.Range(0, 10).Select(_ => graph.Evaluate(version, inputs, Gradient, Ct)).ToList();
        var refused = 0;
        foreach (var run in runs)
        {
            try
            {
                AssertLocal(core, inputs, await run);
            }
            catch (LimitExceededException e)
            {
                refused++;
                Assert.Equal("MaxQueuedBatchesPerClient", e.Limit);
                Assert.Equal(CappedCluster.Queued, e.Value);
                Assert.Equal("4 batches already wait for room under the cap of 8 evaluations in flight per client (MaxEvaluationsInFlightPerClient), the most that may wait (MaxQueuedBatchesPerClient = 4); submit this batch when one has finished", e.Message);
            }
        }
        Assert.InRange(refused, 1, 10 - 1 - CappedCluster.Queued);
        var status = await graph.Coordinator.Status();
        Assert.InRange(status.PeakInFlight, 1, CappedCluster.InFlight);
        Assert.Equal(0, status.Waiting);
        // A refused batch leaves nothing behind: the next one runs.
        AssertLocal(core, inputs, await graph.Evaluate(version, inputs, Gradient, Ct));
    }
}
