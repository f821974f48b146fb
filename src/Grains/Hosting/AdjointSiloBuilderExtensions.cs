// UseAdjoint(): the one silo configuration shared by the host, the embedded dev silo and test clusters.
using Microsoft.Extensions.DependencyInjection;

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
}

/// <summary>The Adjoint silo configuration.</summary>
public static class AdjointSiloBuilderExtensions
{
    /// <summary>
    /// Configures a silo for the distributed engine: the per-silo graph cache, the partition placement
    /// director, and the grain storage for graphs and parameters.
    /// </summary>
    public static ISiloBuilder UseAdjoint(this ISiloBuilder builder, Action<AdjointSiloOptions>? configure = null)
    {
        var options = new AdjointSiloOptions();
        configure?.Invoke(options);
        if (options.ReclaimAfter <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(configure), options.ReclaimAfter, "AdjointSiloOptions.ReclaimAfter must be positive");
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new AdjointStorage(options.StorageName));
        builder.Services.AddSingleton<DeployedGraphCache>();
        builder.Services.AddPlacementDirector<PartitionPlacement, PartitionPlacementDirector>();
        if (options.UseMemoryStorage) builder.AddMemoryGrainStorage(options.StorageName);
        return builder;
    }
}
