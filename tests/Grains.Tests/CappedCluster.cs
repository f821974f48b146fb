// A test cluster with tight limits, so that the caps are reached by small, fast batches.
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Adjoint.Grains.Tests;

/// <summary>Two silos with at most 8 evaluations in flight and 4 waiting batches per client, and 64 KiB messages.</summary>
public sealed class CappedCluster : ClusterFixture
{
    public const int InFlight = 8;
    public const int Queued = 4;
    public const int MessageBytes = 64 * 1024;

    /// <inheritdoc/>
    public override short Silos => 2;

    /// <inheritdoc/>
    protected override void Configure(TestClusterBuilder builder)
    {
        builder.AddSiloBuilderConfigurator<CappedSilo>();
        builder.AddClientBuilderConfigurator<CappedClient>();
    }

    public sealed class CappedSilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => siloBuilder.UseAdjoint(o =>
        {
            o.MaxEvaluationsInFlightPerClient = InFlight;
            o.MaxQueuedBatchesPerClient = Queued;
            o.MaxMessageBodySize = MessageBytes;
        });
    }

    public sealed class CappedClient : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.Configure<ClientMessagingOptions>(o => o.MaxMessageBodySize = MessageBytes);
    }
}

[CollectionDefinition(Name)]
public sealed class CappedCollection : ICollectionFixture<CappedCluster>
{
    public const string Name = "capped";
}
