// The host's structured log events: stable ids and named properties, for operators and log queries.
using Microsoft.Extensions.Logging;

namespace Adjoint.Host;

internal static partial class HostEvents
{
    [LoggerMessage(EventId = 1001, EventName = "SiloStarted", Level = LogLevel.Information,
        Message = "Adjoint silo started: mode {Mode}, silo port {SiloPort}, gateway port {GatewayPort}, listening on {ListenAddress}, membership {Membership}, storage {Storage}, TLS {Tls}, cluster {ClusterId}/{ServiceId}, limits {InFlight} evaluations in flight and {Queued} waiting batches per client, {MessageSize} bytes per message, {MaxVersions} versions per graph, failure detection: probe every {ProbeTimeout} x {MissedProbes} missed, {Votes} votes, heartbeat stale after {StaleAfter}")]
    public static partial void Started(ILogger logger, HostMode mode, int siloPort, int gatewayPort, string listenAddress, string membership,
        string storage, string tls, string clusterId, string serviceId, int inFlight, int queued, int messageSize, int maxVersions,
        TimeSpan probeTimeout, int missedProbes, int votes, TimeSpan staleAfter);

    [LoggerMessage(EventId = 1002, EventName = "SignalReceived", Level = LogLevel.Information,
        Message = "Adjoint silo received {Signal}")]
    public static partial void Signal(ILogger logger, string signal);

    [LoggerMessage(EventId = 1003, EventName = "SiloStopping", Level = LogLevel.Information,
        Message = "Adjoint silo stopping (silo port {SiloPort}): leaving the cluster, handing back batches")]
    public static partial void Stopping(ILogger logger, int siloPort);

    [LoggerMessage(EventId = 1004, EventName = "SiloStopped", Level = LogLevel.Information,
        Message = "Adjoint silo stopped (silo port {SiloPort}) after {ElapsedMs:F0} ms")]
    public static partial void Stopped(ILogger logger, int siloPort, double elapsedMs);

    [LoggerMessage(EventId = 1005, EventName = "SiloFailed", Level = LogLevel.Critical,
        Message = "Adjoint silo failed: {Reason}")]
    public static partial void Failed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1006, EventName = "DashboardStarted", Level = LogLevel.Information,
        Message = "Adjoint dashboard listening on {Url}")]
    public static partial void DashboardStarted(ILogger logger, string url);
}
