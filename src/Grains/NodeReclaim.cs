// Reclaiming a node's evaluation state that nothing will finish: its coordinator went with its silo
// and so did (or gave up) the client that would have told every node to drop it, or a message to
// this node was lost with a silo. Such state would otherwise stay for the activation's lifetime.
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Adjoint.Grains;

public sealed partial class NodeGrain
{
    private IGrainTimer? _reclaim;

    // The first state this activation opens starts a timer; nodes that never hold state keep none.
    private void WatchForStaleState()
    {
        if (_reclaim is not null) return;
        var every = options.ReclaimAfter;
        _reclaim = this.RegisterGrainTimer(Reclaim, new GrainTimerCreationOptions(every, every) { Interleave = true });
    }

    // States that heard nothing for ReclaimAfter are checked with their coordinator, which alone knows
    // whether the evaluation is still in flight (a slow one is, and keeps its state); the rest are
    // dropped and their late messages ignored.
    private async Task Reclaim(CancellationToken cancellationToken)
    {
        if (_live.Count == 0) return;
        var now = Stopwatch.GetTimestamp();
        var stale = _live.Where(kv => Stopwatch.GetElapsedTime(kv.Value.Heard, now) >= options.ReclaimAfter)
            .Select(kv => kv.Key).GroupBy(k => k.Coordinator).ToList();
        foreach (var group in stale)
        {
            int[] inFlight;
            try
            {
                inFlight = await GrainFactory.GetGrain<ICoordinatorGrain>(group.Key).InFlight([.. group.Select(k => k.Index)]);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // No answer (its silo is going, the cluster is busy): ask again next time.
                continue;
            }
            var keep = inFlight.ToHashSet();
            var dropped = group.Where(k => !keep.Contains(k.Index) && _live.Remove(k)).Select(k => k.Index).Order().ToList();
            // As ranges of consecutive numbers: the ignore list is short.
            for (var i = 0; i < dropped.Count;)
            {
                var j = i + 1;
                while (j < dropped.Count && dropped[j] == dropped[j - 1] + 1) j++;
                Ignore(group.Key, dropped[i], j - i);
                i = j;
            }
            if (dropped.Count > 0)
                Events.Reclaimed(ServiceProvider.GetRequiredService<ILogger<NodeGrain>>(), this.GetPrimaryKeyString(), dropped.Count, group.Key, options.ReclaimAfter);
        }
    }
}
