// Grain storage that every silo of one in-process test cluster shares, so that a graph's versions and its
// trained parameters survive a stopped silo (the memory storage of UseAdjoint lives in one silo's grains).
using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace Adjoint.Testing;

/// <summary>
/// An <see cref="IGrainStorage"/> over one process-wide table, keyed by the cluster's service id: the silos
/// of one <see cref="AdjointTestCluster"/> see the same records, other clusters in the process do not.
/// Records are deep copies, as a real storage's would be.
/// </summary>
public sealed class SharedStorage(DeepCopier copier, IOptions<ClusterOptions> cluster) : IGrainStorage
{
    private static readonly ConcurrentDictionary<(string Service, string State, GrainId Grain), (object State, string ETag)> Records = new();

    private readonly string _service = cluster.Value.ServiceId;

    /// <summary>The records held for a service id (what its cluster stored and has not cleared).</summary>
    public static int Count(string serviceId) => Records.Keys.Count(k => k.Service == serviceId);

    /// <summary>Drops every record of a service id (the cluster is gone).</summary>
    public static void Forget(string serviceId)
    {
        foreach (var key in Records.Keys.Where(k => k.Service == serviceId)) Records.TryRemove(key, out _);
    }

    /// <inheritdoc/>
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Records.TryGetValue((_service, stateName, grainId), out var record))
        {
            grainState.State = copier.Copy((T)record.State);
            grainState.ETag = record.ETag;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.RecordExists = false;
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var etag = Guid.NewGuid().ToString("N");
        Records[(_service, stateName, grainId)] = (copier.Copy(grainState.State)!, etag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        Records.TryRemove((_service, stateName, grainId), out _);
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}
