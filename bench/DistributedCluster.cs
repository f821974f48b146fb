// In-process Orleans clusters for the distributed benchmarks, configured with UseAdjoint().
using Adjoint.Grains.Hosting;
using Orleans.TestingHost;

namespace Adjoint.Bench;

/// <summary>Silos configured as the host will be.</summary>
public sealed class BenchSilo : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder) => siloBuilder.UseAdjoint();
}

internal static class DistributedCluster
{
    /// <summary>A started cluster of <paramref name="silos"/> silos talking over the given transport.</summary>
    public static async Task<TestCluster> Start(short silos, ConnectionTransportType transport)
    {
        var builder = new TestClusterBuilder(silos);
        builder.AddSiloBuilderConfigurator<BenchSilo>();
        builder.Options.ConnectionTransport = transport;
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}
