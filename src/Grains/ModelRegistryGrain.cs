// The model registry: which graphs have versions deployed, kept by the graph grains as they deploy and free them.
using Adjoint.Grains.Hosting;

namespace Adjoint.Grains;

/// <summary>The registry's durable state: every graph with a deployed version, by graph id.</summary>
[GenerateSerializer, Alias("adjoint.model-registry-state.v1")]
public sealed class ModelRegistryState
{
    /// <summary>The versions of each graph, least recently deployed first.</summary>
    [Id(0)] public Dictionary<string, List<VersionSummary>> Models { get; set; } = [];
}

/// <summary>
/// The one registry of the cluster (key <see cref="IModelRegistryGrain.Key"/>): a graph grain tells it its
/// versions after every deploy and undeploy, so that models can be listed without knowing their ids.
/// </summary>
public sealed class ModelRegistryGrain(AdjointStorage storage) : Grain, IModelRegistryGrain
{
    private DurableState<ModelRegistryState> _state = null!;

    /// <inheritdoc/>
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _state = storage.For<ModelRegistryState>(ServiceProvider, "model-registry", this.GetGrainId());
        await _state.Read();
    }

    /// <inheritdoc/>
    public async Task Set(string graphId, VersionSummary[] versions)
    {
        var models = _state.State.Models;
        if (versions.Length == 0 && !models.Remove(graphId)) return;
        if (versions.Length > 0) models[graphId] = [.. versions];
        await _state.Write();
    }

    /// <inheritdoc/>
    public Task<Dictionary<string, VersionSummary[]>> List() =>
        Task.FromResult(_state.State.Models.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()));
}
