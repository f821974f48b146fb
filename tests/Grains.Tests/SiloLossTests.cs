// Issue 7, item 1: a silo stopped while a batch of 1,000 gradient evaluations is in flight. Every
// evaluation completes, bitwise equal to the local engine; no parameter changes; the extra time is reported.
using System.Collections.Concurrent;
using System.Diagnostics;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;
using static Adjoint.Tests.Shared.FaultChecks;

namespace Adjoint.Grains.Tests;

/// <summary>
/// Test-only grain storage shared by every in-process silo of a test cluster, so that graphs and
/// parameters survive a silo (TestCluster's memory storage is held by grains and goes with their silo;
/// the host uses Redis).
/// </summary>
public sealed class SharedTestStorage(DeepCopier copier) : IGrainStorage
{
    private static readonly ConcurrentDictionary<(string, GrainId), (object State, string ETag)> Records = new();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Records.TryGetValue((stateName, grainId), out var record))
        {
            grainState.State = copier.Copy((T)record.State);
            grainState.ETag = record.ETag;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.RecordExists = false;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var etag = Guid.NewGuid().ToString("N");
        Records[(stateName, grainId)] = (copier.Copy(grainState.State)!, etag);
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

/// <summary>UseAdjoint() over <see cref="SharedTestStorage"/>, reclaiming orphaned evaluation state after 1 s
/// (state whose messages were lost with a silo: the tests wait for none to be left).</summary>
public sealed class SharedStorageSilo : ISiloConfigurator
{
    /// <summary>A started cluster of three such silos on real sockets, as the silo-loss tests need it.</summary>
    public static async Task<TestCluster> StartThree(CancellationToken ct)
    {
        var builder = new TestClusterBuilder(3);
        builder.AddSiloBuilderConfigurator<SharedStorageSilo>();
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        var cluster = builder.Build();
        await cluster.DeployAsync(ct);
        return cluster;
    }

    public void Configure(ISiloBuilder siloBuilder)
    {
        siloBuilder.UseAdjoint(o =>
        {
            o.UseMemoryStorage = false;
            o.ReclaimAfter = TimeSpan.FromSeconds(1);
        });
        siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(AdjointStorage.DefaultName,
            (sp, _) => new SharedTestStorage(sp.GetRequiredService<DeepCopier>()));
    }
}

[Trait("Category", "Reliability")]
public sealed class SiloLossTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_silo_stopped_mid_batch_loses_no_evaluation_and_no_parameter()
    {
        TensorPool.MinElements = 1;
        // The fault-free reference: the local engine, computed before any silo runs.
        var reference = Graphs.RandomDag(seed: 21, size: 150);
        var expected = Enumerable.Range(0, 1000).Select(s => Expected(Plan.Compile(reference), Graphs.RandomInputs(reference, s))).ToList();
        await using var cluster = await SharedStorageSilo.StartThree(Ct);
        try
        {
            var core = Graphs.RandomDag(seed: 21, size: 150);
            var graph = new DistributedGraph(cluster.Client, $"silo-loss-{Guid.NewGuid():N}");
            var version = (await graph.Deploy(core)).Version;
            Assert.Equal(3, (await graph.Grain.Describe(version)).Partitions);
            var inputs = Enumerable.Range(0, 1000).Select(s => Graphs.RandomInputs(core, s)).ToList();
            var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 64, EvaluationTimeout = TimeSpan.FromSeconds(1) };
            var before = await graph.Grain.ReadParameters(version);

            // Fault-free: warm up, then time one batch.
            await graph.Evaluate(version, inputs.Take(100).ToList(), options, Ct);
            var clock = Stopwatch.StartNew();
            var clean = await graph.Evaluate(version, inputs, options, Ct);
            var faultFree = clock.Elapsed;
            for (var i = 0; i < inputs.Count; i++)
                Assert.True(Same(expected[i], clean[i]), $"fault-free evaluation {i} differs from the local engine");

            // Stop a silo that is not the primary (it holds the test cluster's membership table), while
            // the batch is in flight; the coordinator's own silo if it is a secondary one, else another.
            var status = await graph.Coordinator.Status();
            var secondaries = cluster.SecondarySilos.ToList();
            var victim = secondaries.FirstOrDefault(s => s.SiloAddress.ToString() != status.Silo) ?? secondaries[0];
            var coordinatorLost = victim.SiloAddress.ToString() == status.Silo;
            clock.Restart();
            var run = graph.Evaluate(version, inputs, options, Ct);
            await Task.Delay(faultFree / 3, Ct);
            Assert.False(run.IsCompleted, "the batch finished before the silo stopped");
            var stopping = cluster.StopSiloAsync(victim, Ct);
            var results = await run;
            var withFault = clock.Elapsed;
            await stopping;

            AssertAllSame(expected, clean, results);
            AssertParametersUnchanged(before, await graph.Grain.ReadParameters(version));
            await AssertNoStateLeft(graph, version, TimeSpan.FromSeconds(5), Ct);
            var reruns = coordinatorLost ? 0 : (await graph.Coordinator.Status()).Reruns;
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"1000 evaluations completed with a silo stopped mid-batch ({(coordinatorLost ? "coordinator's silo: batch resubmitted by the client" : "coordinator re-ran lost evaluations")}); " +
                $"re-runs {reruns}, resubmits {graph.Resubmits}; fault-free {faultFree.TotalMilliseconds:F0} ms, with fault {withFault.TotalMilliseconds:F0} ms, extra {(withFault - faultFree).TotalMilliseconds:F0} ms");
            if (!coordinatorLost) Assert.True(reruns > 0, "no evaluation was re-run");
        }
        finally
        {
            await cluster.StopAllSilosAsync(Ct);
        }
    }
}
