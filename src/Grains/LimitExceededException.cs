// A configured limit that stops work which would be valid under a higher one (retry later, or raise it).
namespace Adjoint;

/// <summary>
/// Work was refused because a configured limit is reached: <see cref="Limit"/> names the setting and
/// <see cref="Value"/> its value; the message says what was asked and what to do.
/// </summary>
[GenerateSerializer, Alias("adjoint.limit-exceeded.v1")]
public sealed class LimitExceededException : Exception
{
    /// <summary>The setting at fault, its value, and the message.</summary>
    public LimitExceededException(string limit, long value, string message) : base(message)
    {
        Limit = limit;
        Value = value;
    }

    /// <summary>The setting's name, e.g. MaxQueuedBatchesPerClient.</summary>
    [Id(0)] public string Limit { get; init; }

    /// <summary>The setting's value.</summary>
    [Id(1)] public long Value { get; init; }
}
