// Durable state for graphs and parameters, in the grain storage that UseAdjoint names.
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace Adjoint.Grains.Hosting;

/// <summary>The name of the grain storage the Adjoint grains use.</summary>
public sealed class AdjointStorage(string name)
{
    /// <summary>"adjoint".</summary>
    public const string DefaultName = "adjoint";

    /// <summary>The storage name.</summary>
    public string Name { get; } = name;

    /// <summary>A durable state of one grain in that storage.</summary>
    public DurableState<T> For<T>(IServiceProvider services, string stateName, GrainId grain) where T : class, new() =>
        new(services.GetRequiredKeyedService<IGrainStorage>(Name), stateName, grain);
}

/// <summary>
/// One grain's durable state, read only when the grain asks: node grains that are not parameters never
/// touch storage (what an IPersistentState injected into every node would do at each activation).
/// </summary>
/// <remarks>
/// <see cref="Write(T)"/> is atomic for the grain: the state it sees changes only after storage took
/// the new one. A write that failed may still have landed (a timeout after Redis applied it), so the
/// state is then <see cref="Stale"/> until read again; callers read it again before they next use it.
/// A write in flight does not make the state stale: an interleaving call (an [AlwaysInterleave] method
/// during a deploy) that refreshed then would read storage's older state and, landing after the write,
/// put it back — the graph index lost a version that way. For the same reason a read adopts what it
/// read only if no write landed while it was on its way.
/// </remarks>
public sealed class DurableState<T>(IGrainStorage storage, string stateName, GrainId grain) where T : class, new()
{
    private readonly GrainState<T> _state = new(new T());
    // Counts the writes and clears that landed, so that a read overtaken by one drops what it read.
    private long _landed;

    /// <summary>The state as last read or written.</summary>
    public T State => _state.State ??= new T();

    /// <summary>Whether storage held a record when last read.</summary>
    public bool RecordExists => _state.RecordExists;

    /// <summary>Whether the last write or read failed, so that storage may hold another state than <see cref="State"/>.</summary>
    public bool Stale { get; private set; }

    /// <summary>Reads the state from storage (unless a write lands while the read is on its way: then
    /// the written state stands).</summary>
    public async Task Read()
    {
        var landed = _landed;
        var read = new GrainState<T>(new T());
        await Failing(() => storage.ReadStateAsync(stateName, grain, read));
        if (_landed == landed) Adopt(read);
    }

    /// <summary>Reads the state again if a failed write or read left it <see cref="Stale"/>.</summary>
    public Task Refresh() => Stale ? Read() : Task.CompletedTask;

    /// <summary>Writes <paramref name="next"/> to storage; only then is it <see cref="State"/>.</summary>
    public async Task Write(T next)
    {
        var written = new GrainState<T>(next) { ETag = _state.ETag, RecordExists = _state.RecordExists };
        await Failing(() => storage.WriteStateAsync(stateName, grain, written));
        written.RecordExists = true;
        _landed++;
        Adopt(written);
    }

    /// <summary>Writes the state as it stands (for callers that changed <see cref="State"/> in place).</summary>
    public Task Write() => Write(State);

    /// <summary>Removes the state from storage.</summary>
    public async Task Clear()
    {
        await Failing(() => storage.ClearStateAsync(stateName, grain, _state));
        _landed++;
        _state.State = new T();
        Stale = false;
    }

    // A storage call that failed leaves the state stale: it may or may not have landed. (A function, since
    // a provider may throw before it returns a task.)
    private async Task Failing(Func<Task> io)
    {
        try
        {
            await io();
        }
        catch
        {
            Stale = true;
            throw;
        }
    }

    private void Adopt(GrainState<T> from)
    {
        _state.State = from.State ?? new T();
        _state.ETag = from.ETag;
        _state.RecordExists = from.RecordExists;
        Stale = false;
    }
}
