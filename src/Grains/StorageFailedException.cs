// Grain storage (Redis in a cluster) refused a read or a write. Raised in place of the storage
// provider's own exception, whose type a client need not have loaded (Orleans.Persistence.Redis is a
// silo assembly): a client would otherwise see a TypeLoadException instead of "Redis is down".
namespace Adjoint;

/// <summary>
/// Storage failed while reading or writing the durable state of <see cref="What"/>; the message names
/// it, the operation, and the storage's own error. Nothing the grain serves changed: a write that failed
/// is not seen (see <c>DurableState.Write</c>), so the operation can be retried once storage is back.
/// </summary>
[GenerateSerializer, Alias("adjoint.storage-failed.v1")]
public sealed class StorageFailedException : Exception
{
    /// <summary>What failed and why, by name.</summary>
    public StorageFailedException(string what, string operation, string reason)
        : base($"{what}: storage failed to {operation} its state ({reason}); nothing changed, retry when storage is back")
    {
        What = what;
        Operation = operation;
        Reason = reason;
    }

    /// <summary>Whose state: e.g. "parameter 'W1' of graph 'net' v3".</summary>
    [Id(0)] public string What { get; init; }

    /// <summary>"read", "write" or "clear".</summary>
    [Id(1)] public string Operation { get; init; }

    /// <summary>The storage's own error: its exception type and message.</summary>
    [Id(2)] public string Reason { get; init; }
}
