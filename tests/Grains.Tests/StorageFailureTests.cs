// Issue 12, item 2: training state is never half-written. Storage fails in the middle of an optimizer
// step (the write refused, or applied and then reported as failed, as a Redis timeout can): the grain
// keeps serving what storage holds, the failure names the parameter and the storage error, and the
// step retried under its id is applied exactly once — parameters and Adam moments equal one local step.
using System.Collections.Concurrent;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Adjoint.Grains.Tests;

/// <summary>
/// Test-only grain storage that fails writes on demand, for the parameter grains of one graph: the next
/// write of a node either is refused, or lands and then throws (the answer lost after storage applied it).
/// </summary>
public sealed class FlakyStorage(DeepCopier copier) : IGrainStorage
{
    public enum Fault { Refuse, LandThenThrow }

    private static readonly ConcurrentDictionary<(string, GrainId), (object State, string ETag)> Records = new();

    /// <summary>Faults armed for the next write of a grain whose key ends with "/" + node id and starts with the graph id.</summary>
    public static readonly ConcurrentDictionary<(string Graph, string Node), Fault> Armed = new();

    private static bool Take(GrainId grain, out Fault fault)
    {
        var key = grain.Key.ToString()!;
        foreach (var armed in Armed.Keys)
            if (key.StartsWith(armed.Graph + "/", StringComparison.Ordinal) && key.EndsWith("/" + armed.Node, StringComparison.Ordinal)
                && Armed.TryRemove(armed, out fault))
                return true;
        fault = default;
        return false;
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Records.TryGetValue((stateName, grainId), out var record))
        {
            grainState.State = copier.Copy((T)record.State);
            grainState.ETag = record.ETag;
            grainState.RecordExists = true;
        }
        else grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var faulty = Take(grainId, out var fault);
        if (faulty && fault == Fault.Refuse) throw new IOException("storage unreachable (injected)");
        // ETags checked as Redis checks them: a writer that missed a write must read again first.
        if (Records.TryGetValue((stateName, grainId), out var record) && record.ETag != grainState.ETag)
            throw new InconsistentStateException($"etag mismatch for {grainId}", record.ETag, grainState.ETag);
        var etag = Guid.NewGuid().ToString("N");
        Records[(stateName, grainId)] = (copier.Copy(grainState.State)!, etag);
        if (faulty) throw new TimeoutException("storage answer lost after the write (injected)");
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        Records.TryRemove((stateName, grainId), out _);
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}

/// <summary>One silo over <see cref="FlakyStorage"/>.</summary>
public sealed class FlakyStorageCluster : ClusterFixture
{
    /// <inheritdoc/>
    public override short Silos => 1;

    /// <inheritdoc/>
    protected override void Configure(TestClusterBuilder builder) => builder.AddSiloBuilderConfigurator<Silo>();

    public sealed class Silo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.UseAdjoint(o => o.UseMemoryStorage = false);
            siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(AdjointStorage.DefaultName,
                (sp, _) => new FlakyStorage(sp.GetRequiredService<DeepCopier>()));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class FlakyStorageCollection : ICollectionFixture<FlakyStorageCluster>
{
    public const string Name = "flaky storage";
}

[Collection(FlakyStorageCollection.Name)]
[Trait("Category", "Reliability")]
public sealed class StorageFailureTests(FlakyStorageCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly OptimizerSettings Adam = new() { Kind = OptimizerKind.Adam, LearningRate = 0.05 };

    // The two-layer net deployed, and the gradient of one batch with the local engine's Adam steps.
    private async Task<(DistributedGraph Graph, int Version, Dictionary<string, TensorData> Gradients, Dictionary<string, Tensor> Initial)> Setup()
    {
        var core = Graphs.TwoLayer();
        var graph = new DistributedGraph(fixture.Client, $"flaky-{Guid.NewGuid():N}");
        var version = (await graph.Deploy(core)).Version;
        var inputs = Enumerable.Range(0, 4).Select(i => new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) }).ToList();
        var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct);
        var initial = core.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value!.Value);
        return (graph, version, DistributedGraph.SumParameterAdjoints(results, initial.Keys), initial);
    }

    // k local Adam steps with the same gradient, from the initial values.
    private static Dictionary<string, Tensor> LocalSteps(Dictionary<string, Tensor> initial, Dictionary<string, TensorData> gradients, int k)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (id, theta0) in initial)
        {
            var (theta, moments) = (theta0, AdamMoments.Zero(theta0.Shape));
            for (var i = 0; i < k; i++) (theta, moments) = Optimizer.adam(Adam.ToAdam(), moments, theta, gradients[id].ToTensor());
            result[id] = theta;
        }
        return result;
    }

    private static async Task AssertParameters(DistributedGraph graph, int version, Dictionary<string, Tensor> expected, string when)
    {
        var stored = await graph.Grain.ReadParameters(version);
        foreach (var (id, value) in expected)
            Assert.True(Tensor.BitwiseEqual(value, stored[id].ToTensor()), $"{when}: parameter {id} differs");
    }

    [Fact]
    public async Task A_refused_write_changes_nothing_and_the_retried_step_counts_once()
    {
        var (graph, version, gradients, initial) = await Setup();
        var step = Guid.NewGuid();
        FlakyStorage.Armed[(graph.GraphId, "W2")] = FlakyStorage.Fault.Refuse;
        var e = await Assert.ThrowsAsync<StorageFailedException>(() => graph.Step(version, Adam, gradients, step, Ct));
        Assert.Equal($"parameter 'W2' of graph '{graph.GraphId}' v{version}: storage failed to write its state (IOException: storage unreachable (injected)); nothing changed, retry when storage is back", e.Message);

        // W1 took the step; W2 serves what storage holds, the initial value.
        var one = LocalSteps(initial, gradients, 1);
        await AssertParameters(graph, version, new() { ["W1"] = one["W1"], ["W2"] = initial["W2"] }, "after the failure");

        // The same step again: W1 skips it, W2 applies it once; a further step equals two local steps,
        // so no Adam moment counted the failed attempt.
        await graph.Step(version, Adam, gradients, step, Ct);
        await AssertParameters(graph, version, one, "after the retry");
        await graph.Step(version, Adam, gradients, Guid.NewGuid(), Ct);
        await AssertParameters(graph, version, LocalSteps(initial, gradients, 2), "after a second step");
    }

    [Fact]
    public async Task A_write_that_landed_but_failed_is_not_applied_twice_and_evaluations_see_it()
    {
        var (graph, version, gradients, initial) = await Setup();
        var step = Guid.NewGuid();
        FlakyStorage.Armed[(graph.GraphId, "W1")] = FlakyStorage.Fault.LandThenThrow;
        var e = await Assert.ThrowsAsync<StorageFailedException>(() => graph.Step(version, Adam, gradients, step, Ct));
        Assert.Contains("parameter 'W1'", e.Message);
        Assert.Contains("TimeoutException", e.Message);

        // Storage holds the stepped W1: an evaluation reads it again rather than use the value it had.
        var one = LocalSteps(initial, gradients, 1);
        var x = new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(9) };
        var result = (await graph.Evaluate(version, [x], new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct)).Single();
        var plan = Plan.Compile(Graphs.TwoLayer());
        var bound = new Dictionary<string, Tensor>(x) { ["W1"] = one["W1"], ["W2"] = one["W2"] };
        Local.AssertEqual(plan, bound, result, AdjointMode.InputsAndParameters, false);

        // Retried: W1 finds the step applied and skips it (its etag is current again, so no mismatch).
        await graph.Step(version, Adam, gradients, step, Ct);
        await AssertParameters(graph, version, one, "after the retry");
        await graph.Step(version, Adam, gradients, Guid.NewGuid(), Ct);
        await AssertParameters(graph, version, LocalSteps(initial, gradients, 2), "after a second step");
    }
}
