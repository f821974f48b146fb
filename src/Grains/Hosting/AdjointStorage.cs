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
public sealed class DurableState<T>(IGrainStorage storage, string stateName, GrainId grain) where T : class, new()
{
    private readonly GrainState<T> _state = new(new T());

    /// <summary>The state as last read or written.</summary>
    public T State { get => _state.State ??= new T(); set => _state.State = value; }

    /// <summary>Whether storage held a record when last read.</summary>
    public bool RecordExists => _state.RecordExists;

    /// <summary>Reads the state from storage.</summary>
    public Task Read() => storage.ReadStateAsync(stateName, grain, _state);

    /// <summary>Writes the state to storage.</summary>
    public Task Write() => storage.WriteStateAsync(stateName, grain, _state);

    /// <summary>Removes the state from storage.</summary>
    public Task Clear() => storage.ClearStateAsync(stateName, grain, _state);
}
