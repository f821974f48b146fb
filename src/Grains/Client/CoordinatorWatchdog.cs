// A batch's Run awaits a coordinator on some silo. When that silo dies, a client connected through
// another gateway is not told: the call would wait for its one-hour response timeout. The watchdog asks
// the coordinator about the batch now and then; a fresh activation (the old one went with its silo)
// does not know it, and the batch is resubmitted.
namespace Adjoint.Grains;

internal static class CoordinatorWatchdog
{
    /// <summary>How long one check may take before it counts as no answer (not as a loss: a silo under
    /// load answers late).</summary>
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs the batch; throws <see cref="CoordinatorLostException"/> when two checks in a row
    /// find the coordinator no longer knows it.</summary>
    public static async Task<List<EvaluationResult>> Run(
        ICoordinatorGrain coordinator, BatchRequest request, TimeSpan? period, CancellationToken cancellationToken)
    {
        var run = coordinator.Run(request);
        if (period is not { } every) return await run;
        var unknown = 0;
        while (true)
        {
            var finished = await Task.WhenAny(run, Task.Delay(every, cancellationToken));
            if (finished == run || cancellationToken.IsCancellationRequested) return await run;
            bool knows;
            try
            {
                knows = await coordinator.Knows(request.Id).WaitAsync(CheckTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                continue;
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The check itself failed (its silo is going): no answer counts as "unknown".
                knows = false;
            }
            if (knows)
            {
                unknown = 0;
                continue;
            }
            // One "unknown" may be a Run still on its way; a second, a period later, is not.
            if (++unknown < 2 || run.IsCompleted) continue;
            // The abandoned call may still fail later (its silo's death reported at last): observe it.
            _ = run.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            throw new CoordinatorLostException(request.Id, "a fresh activation of its grain does not know the batch");
        }
    }
}
