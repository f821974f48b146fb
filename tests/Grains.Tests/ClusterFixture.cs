// One in-process Orleans test cluster per collection (start costs seconds): 1 silo and 3 silos.
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Adjoint.Grains.Tests;

/// <summary>Silos configured exactly as the host will be: UseAdjoint().</summary>
public sealed class AdjointSilo : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder) => siloBuilder.UseAdjoint();
}

/// <summary>A started test cluster of <see cref="Silos"/> silos.</summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    /// <summary>The number of silos.</summary>
    public abstract short Silos { get; }

    /// <summary>The cluster.</summary>
    public TestCluster Cluster { get; private set; } = null!;

    /// <summary>The cluster's own client.</summary>
    public IClusterClient Client => Cluster.Client;

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        // Pool every buffer, not only large ones, so that the bitwise checks cover buffer reuse.
        TensorPool.MinElements = 1;
        var builder = new TestClusterBuilder(Silos);
        Configure(builder);
        // Real sockets, so that a second client can connect through the gateways.
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    /// <summary>How the silos (and the cluster's client) are configured: UseAdjoint() by default.</summary>
    protected virtual void Configure(TestClusterBuilder builder) => builder.AddSiloBuilderConfigurator<AdjointSilo>();

    /// <summary>Another client of the same cluster, connected through the silos' gateways.</summary>
    public async Task<IHost> StartSecondClient()
    {
        var gateways = Cluster.Silos.Select(s => s.GatewayAddress.Endpoint).ToArray();
        var host = new HostBuilder()
            .UseOrleansClient(client => client
                .UseStaticClustering(gateways)
                .Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = Cluster.Options.ClusterId;
                    o.ServiceId = Cluster.Options.ServiceId;
                }))
            .Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

/// <summary>One silo.</summary>
public sealed class OneSiloCluster : ClusterFixture
{
    /// <inheritdoc/>
    public override short Silos => 1;
}

/// <summary>Three silos.</summary>
public sealed class ThreeSiloCluster : ClusterFixture
{
    /// <inheritdoc/>
    public override short Silos => 3;
}

[CollectionDefinition(Name)]
public sealed class OneSiloCollection : ICollectionFixture<OneSiloCluster>
{
    public const string Name = "1 silo";
}

[CollectionDefinition(Name)]
public sealed class ThreeSiloCollection : ICollectionFixture<ThreeSiloCluster>
{
    public const string Name = "3 silos";
}
