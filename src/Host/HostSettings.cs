using Adjoint.Grains;
using Adjoint.Grains.Hosting;

namespace Adjoint.Host;

/// <summary>How the silo runs: one loopback silo with nothing to install, or a member of a real cluster.</summary>
public enum HostMode
{
    /// <summary>One silo on 127.0.0.1, localhost clustering, in-memory storage.</summary>
    Dev,
    /// <summary>Redis membership and Redis grain storage; any number of silos.</summary>
    Cluster,
}

/// <summary>
/// The host's settings, the section "Adjoint" of the usual .NET configuration: appsettings.json, then
/// environment variables (<c>ADJOINT__SiloPort=11112</c>), then the command line
/// (<c>--Adjoint:SiloPort 11112</c> or the short forms <c>--silo-port 11112</c>).
/// </summary>
public sealed class HostSettings
{
    /// <summary>Dev (default) or Cluster.</summary>
    public HostMode Mode { get; set; } = HostMode.Dev;

    /// <summary>The Orleans cluster id: silos and clients with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "adjoint";

    /// <summary>The Orleans service id: the key of durable state, stable across redeployments.</summary>
    public string ServiceId { get; set; } = "adjoint";

    /// <summary>The port silos talk to each other on.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>The port clients connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos and clients reach this one at (cluster mode; default: the first non-loopback address).</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>The Redis connection string for membership and storage (cluster mode), e.g. "127.0.0.1:6379".</summary>
    public string? Redis { get; set; }

    /// <summary>Running in a Kubernetes pod (cluster mode): endpoints and ids come from Orleans' Kubernetes hosting.</summary>
    public bool Kubernetes { get; set; }

    /// <summary>TLS for silo-to-silo and client-to-gateway traffic.</summary>
    public TlsSettings Tls { get; set; } = new();

    /// <summary>Caps on the work one client has in flight and on the size of a message.</summary>
    public LimitSettings Limits { get; set; } = new();

    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem() => Mode switch
    {
        HostMode.Cluster when string.IsNullOrWhiteSpace(Redis) =>
            "cluster mode needs a Redis connection: set Adjoint:Redis (ADJOINT__Redis, --redis)",
        _ when SiloPort is <= 0 or > 65535 => $"silo port {SiloPort} is not a valid port",
        _ when GatewayPort is <= 0 or > 65535 => $"gateway port {GatewayPort} is not a valid port",
        _ when SiloPort == GatewayPort => $"silo and gateway ports must differ, both are {SiloPort}",
        _ when Tls.CertificatePath is { } path && !File.Exists(path) => $"TLS certificate '{path}' not found",
        _ when Limits.MaxEvaluationsInFlightPerClient < 1 =>
            $"Limits:MaxEvaluationsInFlightPerClient must be at least 1, got {Limits.MaxEvaluationsInFlightPerClient}",
        _ when Limits.MaxQueuedBatchesPerClient < 0 =>
            $"Limits:MaxQueuedBatchesPerClient must be at least 0, got {Limits.MaxQueuedBatchesPerClient}",
        _ when Limits.MaxVersionsPerGraph < 1 => $"Limits:MaxVersionsPerGraph must be at least 1, got {Limits.MaxVersionsPerGraph}",
        _ when Limits.ReclaimAfter <= TimeSpan.Zero => $"Limits:ReclaimAfter must be positive, got {Limits.ReclaimAfter}",
        _ when Limits.MaxMessageBodySize < MessageSize.Minimum =>
            $"Limits:MaxMessageBodySize must be at least {MessageSize.Minimum} bytes, got {Limits.MaxMessageBodySize}",
        _ => null,
    };
}

/// <summary>A certificate (PKCS#12) that turns on TLS for every connection of the silo.</summary>
public sealed class TlsSettings
{
    /// <summary>Path of a .pfx file; null leaves TLS off.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The .pfx file's password.</summary>
    public string? CertificatePassword { get; set; }
}

/// <summary>
/// Caps that turn overload into clear errors (see <see cref="AdjointSiloOptions"/>). Clients connecting
/// to the cluster should set the same message size (AdjointClientOptions.MaxMessageBodySize).
/// </summary>
public sealed class LimitSettings
{
    /// <summary>The most evaluations one client graph handle has in flight over all its batches; a larger
    /// window is refused, a batch that does not fit beside the running ones waits.</summary>
    public int MaxEvaluationsInFlightPerClient { get; set; } = 10_000;

    /// <summary>The most batches of one client graph handle that wait for room; more are refused.</summary>
    public int MaxQueuedBatchesPerClient { get; set; } = 64;

    /// <summary>The largest message body in bytes (Orleans' MaxMessageBodySize, default 100 MiB).</summary>
    public int MaxMessageBodySize { get; set; } = MessageSize.OrleansDefault;

    /// <summary>How long a node keeps an evaluation's state that hears nothing before it asks the
    /// coordinator whether the evaluation still runs (and drops it if not).</summary>
    public TimeSpan ReclaimAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most versions one graph keeps deployed; a new version beyond it frees the least
    /// recently deployed one and its parameter values.</summary>
    public int MaxVersionsPerGraph { get; set; } = 3;
}
