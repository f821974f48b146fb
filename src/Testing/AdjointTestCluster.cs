// A ready in-process Orleans cluster running Adjoint, for a user's integration tests (one per test collection).
using Adjoint.Client;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Adjoint.Testing;

/// <summary>
/// An Orleans <see cref="TestCluster"/> of 1 or N silos in this process, each with <c>UseAdjoint()</c> over
/// <see cref="SharedStorage"/> (a graph's versions and parameters survive a stopped silo), and an
/// <see cref="AdjointClient"/> on it. Start one per test collection (a start costs seconds) and give
/// each test its own graph id (<see cref="NewGraphId"/>). Independent of any test framework.
/// </summary>
/// <example>
/// <code>
/// await using var cluster = await AdjointTestCluster.StartAsync(silos: 3);
/// var net = await cluster.Client.DeployAsync(cluster.NewGraphId("net"), graph);
/// var g = await net.GradientAsync(inputs);
/// </code>
/// </example>
public sealed class AdjointTestCluster : IAsyncDisposable
{
    private int _graphs;

    private AdjointTestCluster(TestCluster cluster)
    {
        Cluster = cluster;
        Client = AdjointClient.ForServices(cluster.ServiceProvider);
    }

    /// <summary>The Orleans test cluster (silos, grain factory, stop and start of silos).</summary>
    public TestCluster Cluster { get; }

    /// <summary>The facade on the cluster: deploy, evaluate, train and read parameters as on a real cluster.</summary>
    public AdjointClient Client { get; }

    /// <summary>The cluster's service id, which keys its records in <see cref="SharedStorage"/>.</summary>
    public string ServiceId => Cluster.Options.ServiceId;

    /// <summary>Starts a cluster of <paramref name="silos"/> silos (the first, the primary, holds membership and must stay).</summary>
    public static async Task<AdjointTestCluster> StartAsync(int silos = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(silos, short.MaxValue);
        var builder = new TestClusterBuilder((short)silos);
        builder.Options.ServiceId = $"adjoint-test-{Guid.NewGuid():N}";
        builder.AddSiloBuilderConfigurator<SharedStorageSilo>();
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync(cancellationToken);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return new AdjointTestCluster(cluster);
    }

    /// <summary>A graph id no other test of this cluster has: <paramref name="name"/>, a counter and a random suffix.</summary>
    public string NewGraphId(string name = "graph") => $"{name}-{Interlocked.Increment(ref _graphs)}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Stops the last secondary silo (what a lost silo looks like); its grains' stored state stays.</summary>
    /// <exception cref="InvalidOperationException">Only the primary is left.</exception>
    public Task StopSiloAsync()
    {
        var silo = Cluster.SecondarySilos.LastOrDefault()
            ?? throw new InvalidOperationException("only the primary silo is left, and it holds the cluster's membership");
        return Cluster.StopSiloAsync(silo);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        SharedStorage.Forget(ServiceId);
    }

    // TestCluster creates configurators by type in each silo.
    private sealed class SharedStorageSilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.UseAdjoint(o => o.UseMemoryStorage = false);
            siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(AdjointStorage.DefaultName,
                (sp, _) => ActivatorUtilities.CreateInstance<SharedStorage>(sp));
        }
    }
}
