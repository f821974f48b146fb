// One 3-silo cluster for the whole collection: a start costs seconds, a test costs milliseconds.
using Adjoint.Testing;

namespace Adjoint.Examples.IntegrationTests;

/// <summary>The collection's cluster: three silos with UseAdjoint() over shared storage.</summary>
public sealed class ThreeSilos : IAsyncLifetime
{
    /// <summary>The running cluster.</summary>
    public AdjointTestCluster Cluster { get; private set; } = null!;

    /// <inheritdoc/>
    public async ValueTask InitializeAsync() => Cluster = await AdjointTestCluster.StartAsync(silos: 3, TestContext.Current.CancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}

/// <summary>Tests that share <see cref="ThreeSilos"/>.</summary>
[CollectionDefinition(nameof(ThreeSilosCollection))]
public sealed class ThreeSilosCollection : ICollectionFixture<ThreeSilos>;
