// The per-silo board of batches in progress and evaluations completed, which coordinators update and the live web view reads.
using System.Collections.Concurrent;

namespace Adjoint.Grains;

/// <summary>
/// What the coordinators of one silo are doing, kept where they run so that updating it costs a field
/// write, not a message: each running batch's progress, and counters of evaluations completed and failed
/// since the silo started. Read at a coarse rate through <see cref="ISiloBoardGrain"/> (the live web
/// view, once a second). Bounded by the batches running on the silo (each coordinator's admission caps
/// them), and a batch leaves the board when its Run ends, however it ends.
/// </summary>
public sealed class BatchBoard
{
    private readonly ConcurrentDictionary<Guid, BatchProgress> _running = new();
    private long _completed;
    private long _failed;

    /// <summary>Puts a batch on the board; the coordinator updates the handle and removes it with <see cref="Remove"/>.</summary>
    public BatchProgress Add(Guid batch, string graphId, int version, int total, int window, Guid coordinator)
    {
        var progress = new BatchProgress(batch, graphId, version, total, window, coordinator, DateTime.UtcNow);
        _running[batch] = progress;
        return progress;
    }

    /// <summary>Takes a batch off the board.</summary>
    public void Remove(Guid batch) => _running.TryRemove(batch, out _);

    /// <summary>Counts one evaluation completed (failed or not) on this silo.</summary>
    public void Completed(BatchProgress progress, bool failed)
    {
        Interlocked.Increment(ref _completed);
        if (failed) Interlocked.Increment(ref _failed);
        progress.Count(failed);
    }

    /// <summary>The most batches one read returns (the oldest first): a page, not a dump of a silo under siege.</summary>
    public const int MaxListed = 200;

    /// <summary>The board now, as the wire record the board grain returns.</summary>
    public SiloBoard Read(string silo) => new(silo, Interlocked.Read(ref _completed), Interlocked.Read(ref _failed),
        [.. _running.Values.OrderBy(p => p.Started).Take(MaxListed).Select(p => p.Snapshot(silo))], _running.Count);
}

/// <summary>One running batch's progress, written by its coordinator (one thread at a time: a grain turn) and read from any thread.</summary>
public sealed class BatchProgress(Guid batch, string graphId, int version, int total, int window, Guid coordinator, DateTime started)
{
    private int _completed;
    private int _failed;
    private int _inFlight;
    private int _reruns;

    /// <summary>When the coordinator took the batch.</summary>
    public DateTime Started { get; } = started;

    internal void Count(bool failed)
    {
        Volatile.Write(ref _completed, _completed + 1);
        if (failed) Volatile.Write(ref _failed, _failed + 1);
    }

    /// <summary>Sets the evaluations in flight now.</summary>
    public void InFlight(int count) => Volatile.Write(ref _inFlight, count);

    /// <summary>Counts re-runs (after a lost silo or a timeout).</summary>
    public void Rerun(int count) => Volatile.Write(ref _reruns, _reruns + count);

    /// <summary>The progress as a wire record.</summary>
    public BatchSummary Snapshot(string silo) => new(batch, graphId, version, total, Volatile.Read(ref _completed),
        Volatile.Read(ref _failed), Volatile.Read(ref _inFlight), Volatile.Read(ref _reruns), window, coordinator, silo, Started);
}
