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

    /// <summary>Listen on every address of the machine (0.0.0.0) rather than on the advertised address alone
    /// (cluster mode). Refused without TLS: a silo reachable from other networks must not speak plain text.</summary>
    public bool ListenOnAnyAddress { get; set; }

    /// <summary>How fast silos notice each other's death (Orleans' ClusterMembershipOptions).</summary>
    public MembershipSettings Membership { get; set; } = new();

    /// <summary>TLS for silo-to-silo and client-to-gateway traffic.</summary>
    public TlsSettings Tls { get; set; } = new();

    /// <summary>Caps on the work one client has in flight and on the size of a message.</summary>
    public LimitSettings Limits { get; set; } = new();

    /// <summary>Where metrics and traces go (OpenTelemetry): a Prometheus endpoint, OTLP, the console.</summary>
    public ObservabilitySettings Observability { get; set; } = new();
    /// <summary>The live web view (off by default).</summary>
    public DashboardSettings Dashboard { get; set; } = new();

    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem() => Mode switch
    {
        HostMode.Cluster when string.IsNullOrWhiteSpace(Redis) =>
            "cluster mode needs a Redis connection: set Adjoint:Redis (ADJOINT__Redis, --redis)",
        _ when SiloPort is <= 0 or > 65535 => $"silo port {SiloPort} is not a valid port",
        _ when GatewayPort is <= 0 or > 65535 => $"gateway port {GatewayPort} is not a valid port",
        _ when SiloPort == GatewayPort => $"silo and gateway ports must differ, both are {SiloPort}",
        _ when Tls.CertificatePath is { } path && !File.Exists(path) => $"TLS certificate '{path}' not found",
        HostMode.Cluster when ListenOnAnyAddress && Tls.CertificatePath is null =>
            "Adjoint:ListenOnAnyAddress (--listen-any) opens the silo and gateway ports on every network: it needs TLS, set Adjoint:Tls:CertificatePath (--tls-certificate)",
        _ when Membership.Problem() is { } membership => membership,
        _ when Observability.Problem() is { } observability => observability,
        _ when Dashboard.Problem(SiloPort, GatewayPort) is { } dashboard => dashboard,
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

/// <summary>
/// Failure detection (Orleans' <c>ClusterMembershipOptions</c>, same names, Orleans' defaults). A silo
/// probes up to <see cref="NumProbedSilos"/> others every <see cref="ProbeTimeout"/>; after
/// <see cref="NumMissedProbesLimit"/> missed probes it votes the silo dead in the membership table, and
/// <see cref="NumVotesForDeathDeclaration"/> fresh votes (younger than <see cref="DeathVoteExpirationTimeout"/>)
/// declare it dead. When too few silos are left to vote, a silo counts only the silos that have written
/// their heartbeat (every <see cref="IAmAliveTablePublishTimeout"/>) within
/// <see cref="NumMissedTableIAmAliveLimit"/> periods: that staleness period is what a lone survivor, or a
/// silo started alone after all others were killed, waits before one vote suffices. Faster values notice
/// deaths sooner and suspect a silo that is only slow (a GC pause, an overloaded machine) sooner too.
/// </summary>
public sealed class MembershipSettings
{
    /// <summary>The initial timeout of one probe, and the period between probes.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Missed probes in a row after which a silo votes another dead.</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>How many other silos each silo probes.</summary>
    public int NumProbedSilos { get; set; } = 10;

    /// <summary>Fresh votes that declare a silo dead (at most NumProbedSilos).</summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>How long a vote counts.</summary>
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often a silo writes its heartbeat ("I am alive") to the membership table.</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Heartbeat periods without a write after which a silo's row counts as stale.</summary>
    public int NumMissedTableIAmAliveLimit { get; set; } = 3;

    /// <summary>How often a silo reads the whole membership table (besides gossip).</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a silo tries to join (to reach every silo the table calls active) before it gives up.</summary>
    public TimeSpan MaxJoinAttemptTime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Lengthen probe timeouts while this silo itself is unhealthy (slow timers, starved threads),
    /// so that an overloaded silo does not vote healthy ones dead.</summary>
    public bool ExtendProbeTimeoutDuringDegradation { get; set; } = true;

    /// <summary>The minimum period between logs of this silo's own degraded health.</summary>
    public TimeSpan LocalHealthDegradationMonitoringPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem()
    {
        foreach (var (name, value) in new[]
        {
            (nameof(ProbeTimeout), ProbeTimeout), (nameof(DeathVoteExpirationTimeout), DeathVoteExpirationTimeout),
            (nameof(IAmAliveTablePublishTimeout), IAmAliveTablePublishTimeout), (nameof(TableRefreshTimeout), TableRefreshTimeout),
            (nameof(MaxJoinAttemptTime), MaxJoinAttemptTime), (nameof(LocalHealthDegradationMonitoringPeriod), LocalHealthDegradationMonitoringPeriod),
        })
            if (value <= TimeSpan.Zero) return $"Membership:{name} must be positive, got {value}";
        foreach (var (name, value) in new[]
        {
            (nameof(NumMissedProbesLimit), NumMissedProbesLimit), (nameof(NumProbedSilos), NumProbedSilos),
            (nameof(NumVotesForDeathDeclaration), NumVotesForDeathDeclaration), (nameof(NumMissedTableIAmAliveLimit), NumMissedTableIAmAliveLimit),
        })
            if (value < 1) return $"Membership:{name} must be at least 1, got {value}";
        return NumVotesForDeathDeclaration > NumProbedSilos
            ? $"Membership:NumVotesForDeathDeclaration ({NumVotesForDeathDeclaration}) must be at most Membership:NumProbedSilos ({NumProbedSilos})"
            : null;
    }
}
