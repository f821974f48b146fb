// One grain per silo, on that silo, through which a graph grain evicts a freed version from every silo's cache.
using Orleans.Runtime;

namespace Adjoint.Grains;

/// <summary>Evicts from its own silo's <see cref="DeployedGraphCache"/> (key: that silo's address).</summary>
[SiloPlacement]
public sealed class SiloCacheGrain(DeployedGraphCache cache) : Grain, ISiloCacheGrain
{
    /// <inheritdoc/>
    public Task Evict(string graphId, int version)
    {
        cache.Evict(graphId, version);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<bool> Holds(string graphId, int version) => Task.FromResult(cache.Holds(graphId, version));

    /// <summary>The grain of each active silo.</summary>
    public static IEnumerable<ISiloCacheGrain> OnEverySilo(IGrainFactory grains, IClusterMembershipService membership) =>
        membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
            .Select(m => grains.GetGrain<ISiloCacheGrain>(m.SiloAddress.ToParsableString()));
}
