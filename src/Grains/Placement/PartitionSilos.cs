// Which silo a partition's node grains go to, as the placement director decides it: for the to_silo tag
// of the message metrics, asked only while something listens to them.
using Orleans.Runtime;

namespace Adjoint.Grains;

/// <summary>
/// Partition p → the (p mod count)-th active silo in <see cref="SiloOrder"/>, the rule of
/// <see cref="PartitionPlacementDirector"/>, recomputed when membership changes. It names where a
/// partition is placed now; a grain activated before a membership change may still run elsewhere.
/// </summary>
public sealed class PartitionSilos(IClusterMembershipService membership)
{
    // One immutable snapshot, replaced whole: grains of the silo read it from many threads.
    private sealed record Seen(MembershipVersion Version, string[] Silos);

    private Seen _seen = new(MembershipVersion.MinValue, []);

    /// <summary>The silo address (as text) partition <paramref name="partition"/> is placed on.</summary>
    public string Of(int partition)
    {
        var seen = _seen;
        var snapshot = membership.CurrentSnapshot;
        if (snapshot.Version != seen.Version)
        {
            var active = SiloOrder.Sort(snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress));
            _seen = seen = new Seen(snapshot.Version, [.. active.Select(s => s.ToString())]);
        }
        return seen.Silos.Length == 0 ? "unknown" : seen.Silos[partition % seen.Silos.Length];
    }
}
