// Partition placement: node grains of partition p go to the p-th active silo in a stable order.
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Adjoint.Grains;

/// <summary>The placement strategy of node grains: by the partition in their key.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.partition-placement.v1")]
public sealed class PartitionPlacement : PlacementStrategy
{
    /// <summary>The one instance.</summary>
    public static readonly PartitionPlacement Instance = new();
}

/// <summary>Places a grain class by <see cref="PartitionPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PartitionPlacementAttribute() : PlacementAttribute(PartitionPlacement.Instance);

/// <summary>Partition p → the (p mod count)-th compatible silo in <see cref="SiloOrder"/>.</summary>
public sealed class PartitionPlacementDirector : IPlacementDirector
{
    /// <inheritdoc/>
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        IReadOnlyList<SiloAddress> silos;
        try
        {
            silos = SiloOrder.Sort(context.GetCompatibleSilos(target));
        }
        catch (OrleansException) when (context.LocalSiloStatus == SiloStatus.Active)
        {
            // A silo that has just (re)started does not yet know which silos host node grains, itself
            // included ("No active nodes are compatible"): Orleans would drop the one-way message that
            // needs the activation. It runs node grains, so the node goes here until its view is complete.
            return Task.FromResult(context.LocalSilo);
        }
        var (_, _, _, partition, _) = NodeKey.Parse(target.GrainIdentity.Key.ToString()!);
        return Task.FromResult(silos[partition % silos.Count]);
    }
}

/// <summary>The stable order of silos partitions are numbered in: by IP address, port, then generation.</summary>
public static class SiloOrder
{
    /// <summary>The silos sorted.</summary>
    public static IReadOnlyList<SiloAddress> Sort(IEnumerable<SiloAddress> silos) =>
        silos.OrderBy(s => s.Endpoint.Address.ToString(), StringComparer.Ordinal)
            .ThenBy(s => s.Endpoint.Port)
            .ThenBy(s => s.Generation)
            .ToList();
}
