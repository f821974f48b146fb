// The distributed engine's structured log events: stable ids and named properties, so that an operator
// can count re-runs, hand-backs, reclaims and resubmits in the silo and client logs (or their JSON form).
using Microsoft.Extensions.Logging;

namespace Adjoint.Grains;

internal static partial class Events
{
    /// <summary>Why evaluations were re-run.</summary>
    public const string SiloLost = "silo lost", TimedOut = "evaluation timeout";

    [LoggerMessage(EventId = 2001, EventName = "EvaluationsRerun", Level = LogLevel.Information,
        Message = "re-running {Count} evaluations of batch {BatchId} (graph '{GraphId}' v{Version}): {Reason}; {Reruns} re-runs in this batch so far")]
    public static partial void Rerun(ILogger logger, int count, Guid batchId, string graphId, int version, string reason, int reruns);

    [LoggerMessage(EventId = 2002, EventName = "BatchHandedBack", Level = LogLevel.Warning,
        Message = "handing batch {BatchId} (graph '{GraphId}' v{Version}) back to its client: {Reason}; {Completed} of {Total} evaluations complete")]
    public static partial void HandBack(ILogger logger, Guid batchId, string graphId, int version, string reason, int completed, int total);

    [LoggerMessage(EventId = 3001, EventName = "StateReclaimed", Level = LogLevel.Information,
        Message = "node {Node} reclaimed the state of {Count} evaluations of coordinator {Coordinator} that heard nothing for {ReclaimAfter} and are no longer in flight")]
    public static partial void Reclaimed(ILogger logger, string node, int count, Guid coordinator, TimeSpan reclaimAfter);

    [LoggerMessage(EventId = 4001, EventName = "BatchResubmitted", Level = LogLevel.Warning,
        Message = "resubmitting batch {BatchId} of graph '{GraphId}' v{Version} as {NewBatchId} to a fresh coordinator (resubmit {Attempt} of at most {MaxResubmits}): {Reason}")]
    public static partial void Resubmit(ILogger logger, Guid batchId, string graphId, int version, Guid newBatchId, int attempt, int maxResubmits, string reason);
}
