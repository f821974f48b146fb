// Silo placement: a grain keyed by a silo's address runs on that silo (for per-silo chores such as cache eviction).
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Adjoint.Grains;

/// <summary>The placement strategy of grains keyed by a silo address (<c>SiloAddress.ToParsableString()</c>).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.silo-placement.v1")]
public sealed class SiloPlacement : PlacementStrategy
{
    /// <summary>The one instance.</summary>
    public static readonly SiloPlacement Instance = new();
}

/// <summary>Places a grain class by <see cref="SiloPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPlacementAttribute() : PlacementAttribute(SiloPlacement.Instance);

/// <summary>The silo the key names; if it is gone, any (what the grain does there is then harmless).</summary>
public sealed class SiloPlacementDirector : IPlacementDirector
{
    /// <inheritdoc/>
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString();
        var silos = SiloOrder.Sort(context.GetCompatibleSilos(target));
        return Task.FromResult(silos.FirstOrDefault(s => s.ToParsableString() == key) ?? silos[0]);
    }
}
