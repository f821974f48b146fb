// UseAdjoint(): the one silo configuration shared by the host, the embedded dev silo and test clusters.
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace Adjoint.Grains.Hosting;

/// <summary>Options of the Adjoint silo configuration.</summary>
public sealed class AdjointSiloOptions
{
    /// <summary>The grain storage holding graphs and parameter values.</summary>
    public string StorageName { get; set; } = AdjointStorage.DefaultName;

    /// <summary>Register an in-memory storage under <see cref="StorageName"/> (dev mode and tests); false when
    /// the host configures a durable one (Redis) itself.</summary>
    public bool UseMemoryStorage { get; set; } = true;

    /// <summary>
    /// A node holding an evaluation's state that has heard nothing of it for this long asks the
    /// evaluation's coordinator whether it still runs it, and drops it if not (its coordinator was lost
    /// with its silo, and so was its client, or a message was lost). Checked every this long.
    /// </summary>
    public TimeSpan ReclaimAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The most evaluations one client (one coordinator: a client graph handle) has in flight, over all
    /// its concurrent batches. A batch whose window is larger is refused with an ArgumentException; a batch
    /// that does not fit beside the running ones waits for room. Default 10,000, the count the reliability
    /// tests hold in flight with bounded memory.
    /// </summary>
    public int MaxEvaluationsInFlightPerClient { get; set; } = 10_000;

    /// <summary>The most batches of one client that wait for room; one more is refused with a
    /// <see cref="LimitExceededException"/>. Default 64.</summary>
    public int MaxQueuedBatchesPerClient { get; set; } = 64;

    /// <summary>
    /// The largest message body in bytes (Orleans' <c>SiloMessagingOptions.MaxMessageBodySize</c>); null
    /// leaves Orleans' setting (100 MiB by default). Clients should use the same value.
    /// </summary>
    public int? MaxMessageBodySize { get; set; }

    /// <summary>
    /// The most versions one graph keeps deployed. Deploying a new version beyond it frees the least
    /// recently deployed one: its record, its parameter values and Adam moments (trained values lost;
    /// export them first), its cached plans on every silo. Default 3: an edit can be rolled back two steps,
    /// and a graph's storage and silo memory stay bounded however often it is edited.
    /// </summary>
    public int MaxVersionsPerGraph { get; set; } = 3;

    /// <summary>
    /// Trace every n-th evaluation of a batch that does not say (<see cref="BatchRequest.TraceEvery"/>) as a
    /// distributed trace of the activity source "Adjoint", while something listens to it; 0 (the default):
    /// none. An evaluation not traced carries no trace context and records no span.
    /// </summary>
    public int TraceEvery { get; set; }
}

/// <summary>The Adjoint silo configuration.</summary>
public static class AdjointSiloBuilderExtensions
{
    /// <summary>
    /// Configures a silo for the distributed engine: the per-silo graph cache, the partition placement
    /// director, the grain storage for graphs and parameters, and the limits.
    /// </summary>
    public static ISiloBuilder UseAdjoint(this ISiloBuilder builder, Action<AdjointSiloOptions>? configure = null)
    {
        var options = new AdjointSiloOptions();
        configure?.Invoke(options);
        if (options.ReclaimAfter <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(configure), options.ReclaimAfter, "AdjointSiloOptions.ReclaimAfter must be positive");
        if (options.MaxEvaluationsInFlightPerClient < 1)
            throw new ArgumentOutOfRangeException(nameof(configure), $"MaxEvaluationsInFlightPerClient must be at least 1, got {options.MaxEvaluationsInFlightPerClient}");
        if (options.MaxQueuedBatchesPerClient < 0)
            throw new ArgumentOutOfRangeException(nameof(configure), $"MaxQueuedBatchesPerClient must be at least 0, got {options.MaxQueuedBatchesPerClient}");
        if (options.TraceEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(configure), $"TraceEvery must be at least 0, got {options.TraceEvery}");
        if (options.MaxVersionsPerGraph < 1)
            throw new ArgumentOutOfRangeException(nameof(configure), $"MaxVersionsPerGraph must be at least 1, got {options.MaxVersionsPerGraph}");
        if (options.MaxMessageBodySize is { } size)
        {
            if (size < MessageSize.Minimum)
                throw new ArgumentOutOfRangeException(nameof(configure), $"MaxMessageBodySize must be at least {MessageSize.Minimum} bytes, got {size}");
            builder.Configure<SiloMessagingOptions>(o => o.MaxMessageBodySize = size);
        }
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(services => MessageSize.Of(services));
        builder.Services.AddSingleton(new AdjointStorage(options.StorageName));
        builder.Services.AddSingleton<DeployedGraphCache>();
        builder.Services.AddSingleton<PartitionSilos>();
        builder.Services.AddSingleton<BatchBoard>();
        builder.Services.AddPlacementDirector<PartitionPlacement, PartitionPlacementDirector>();
        builder.Services.AddPlacementDirector<SiloPlacement, SiloPlacementDirector>();
        // Orleans' binary form, not its default JSON: a state then takes what it takes in a message (a
        // tensor 8 bytes a double, not some 20 characters), which the graph grain checks at deployment
        // because the in-memory storage writes each state to its storage grain in one message.
        if (options.UseMemoryStorage)
            builder.AddMemoryGrainStorage(options.StorageName, o => o.Configure<Serializer>((m, serializer) => m.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer)));
        return builder;
    }
}
