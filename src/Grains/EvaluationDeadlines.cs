// When a coordinator takes an evaluation for lost and re-runs it: after the batch's fixed evaluation
// timeout, or after one adapted to the latency it observes. A one-way work message dropped with a
// stopping or dead silo (or by an activation that failed) is noticed by nothing else.
using System.Diagnostics;

namespace Adjoint.Grains;

/// <summary>
/// The evaluation timeouts of one coordinator. A batch with <see cref="BatchRequest.EvaluationTimeout"/>
/// uses it; one with <see cref="BatchRequest.AdaptiveEvaluationTimeout"/> uses
/// max(<see cref="Floor"/>, <see cref="Multiple"/> × L), where L is a moving average of the latency of
/// this coordinator's completed evaluations (start to last report, window queueing included), and
/// <see cref="Initial"/> until one has completed. Each timed-out attempt of an evaluation waits twice as
/// long as the one before (the caller doubles), so an evaluation that is merely slow is re-run a few
/// times at most and then completes.
/// </summary>
internal sealed class EvaluationDeadlines
{
    /// <summary>The least adaptive timeout: far above a scheduling or GC pause on a loaded machine, and
    /// short beside the seconds Orleans takes to declare a killed silo dead.</summary>
    public static readonly TimeSpan Floor = TimeSpan.FromSeconds(2);

    /// <summary>How many typical latencies an evaluation may take before it counts as lost.</summary>
    public const int Multiple = 10;

    /// <summary>The adaptive timeout before any evaluation has completed: the first ones also activate
    /// every node grain (about 20 s for a graph of 60,000 nodes), and a re-run of one that was only
    /// slow costs a second pass over grains that are active by then.</summary>
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(10);

    // Weight of the newest latency in the moving average: about the last 16 evaluations count.
    private const double Weight = 1.0 / 16;

    private double _typicalSeconds = double.NaN;

    /// <summary>The latency an evaluation's completed attempt took, from its start.</summary>
    public void Completed(long startedTimestamp, long now)
    {
        var seconds = Stopwatch.GetElapsedTime(startedTimestamp, now).TotalSeconds;
        _typicalSeconds = double.IsNaN(_typicalSeconds) ? seconds : _typicalSeconds + Weight * (seconds - _typicalSeconds);
    }

    /// <summary>The adaptive timeout now.</summary>
    public TimeSpan Adaptive =>
        double.IsNaN(_typicalSeconds) ? Initial : TimeSpan.FromSeconds(Math.Max(Floor.TotalSeconds, Multiple * _typicalSeconds));

    /// <summary>The timeout of a batch's first attempts (null: its evaluations are re-run only when a silo leaves).</summary>
    public TimeSpan? For(BatchRequest request) =>
        request.EvaluationTimeout ?? (request.AdaptiveEvaluationTimeout ? Adaptive : null);
}
