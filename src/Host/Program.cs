// The Adjoint silo process: dev mode (one loopback silo, nothing to install) or cluster mode (Redis
// membership and storage). Settings: section "Adjoint" of appsettings.json, ADJOINT__* environment
// variables, and the command line; see HostSettings.
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using Adjoint.Grains.Hosting;
using Adjoint.Host;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

// appsettings.json is read from beside the executable, wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
// Short forms of the settings people type most.
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--mode"] = "Adjoint:Mode",
    ["--redis"] = "Adjoint:Redis",
    ["--silo-port"] = "Adjoint:SiloPort",
    ["--gateway-port"] = "Adjoint:GatewayPort",
    ["--advertised-address"] = "Adjoint:AdvertisedAddress",
    ["--cluster-id"] = "Adjoint:ClusterId",
    ["--service-id"] = "Adjoint:ServiceId",
    ["--tls-certificate"] = "Adjoint:Tls:CertificatePath",
    ["--tls-password"] = "Adjoint:Tls:CertificatePassword",
    ["--listen-any"] = "Adjoint:ListenOnAnyAddress",
    ["--max-in-flight"] = "Adjoint:Limits:MaxEvaluationsInFlightPerClient",
    ["--max-message-size"] = "Adjoint:Limits:MaxMessageBodySize",
    ["--max-versions"] = "Adjoint:Limits:MaxVersionsPerGraph",
    ["--prometheus-port"] = "Adjoint:Observability:PrometheusPort",
    ["--otlp-endpoint"] = "Adjoint:Observability:OtlpEndpoint",
    ["--trace-every"] = "Adjoint:Observability:TraceEvery",
    ["--dashboard"] = "Adjoint:Dashboard:Port",
    ["--dashboard-address"] = "Adjoint:Dashboard:Address",
});

HostSettings settings;
try
{
    settings = builder.Configuration.GetSection("Adjoint").Get<HostSettings>() ?? new HostSettings();
}
catch (InvalidOperationException e)
{
    // A value that does not convert ("--silo-port abc", "--mode cloud") names its key in the message.
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
if ((settings.Problem() ?? PortsInUse(settings)
    ?? (settings.Dashboard is { Port: { } webPort } web ? PortInUse("dashboard", web.ListenAddress()!, webPort, "--dashboard") : null)) is { } problem)
{
    Console.Error.WriteLine($"error: {problem}");
    return 1;
}

LogWithTimestamps(builder);
builder.AddAdjointObservability(settings.Observability, $"{settings.ClusterId}/{settings.SiloPort}");

builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
builder.UseOrleans(silo =>
{
    silo.Configure<ClusterOptions>(o =>
    {
        o.ClusterId = settings.ClusterId;
        o.ServiceId = settings.ServiceId;
    });
    silo.Configure<ClusterMembershipOptions>(o => ApplyMembership(settings.Membership, o));
    if (settings.Mode == HostMode.Dev)
    {
        // Loopback only: a dev silo is never reachable from another machine.
        silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, serviceId: settings.ServiceId, clusterId: settings.ClusterId);
        silo.UseAdjoint(ApplyLimits);
    }
    else
    {
        var redis = ConfigurationOptions.Parse(settings.Redis!);
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
        silo.AddRedisGrainStorage(AdjointStorage.DefaultName, o => o.ConfigurationOptions = redis);
        if (settings.Kubernetes)
        {
            silo.UseKubernetesHosting(); // pod name, IP and cluster id from the pod's environment
            // Kubernetes hosting listens on 0.0.0.0 unless told otherwise: the pod's own address is enough.
            if (!settings.ListenOnAnyAddress)
                // (after Kubernetes hosting's own post-configuration, which sets the pod's IP)
                silo.Services.PostConfigure<EndpointOptions>(o =>
                {
                    if (o.AdvertisedIPAddress is not { } pod) return;
                    o.SiloListeningEndpoint = new IPEndPoint(pod, o.SiloPort);
                    o.GatewayListeningEndpoint = new IPEndPoint(pod, o.GatewayPort);
                });
        }
        else
            silo.ConfigureEndpoints(Advertised(settings), settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: settings.ListenOnAnyAddress);
        silo.UseAdjoint(o =>
        {
            ApplyLimits(o);
            o.UseMemoryStorage = false;
        });
    }
    // The client's call to a coordinator carries the caller's trace (Orleans' grain-call activities).
    if (settings.Observability.Traces) silo.AddActivityPropagation();
    if (settings.Tls.CertificatePath is { } path)
    {
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, settings.Tls.CertificatePassword);
        silo.UseTls(certificate, tls => tls.AllowAnyRemoteCertificate());
    }
});

if (settings.Dashboard.Port is { } dashboardPort)
    builder.Services.AddDashboard(settings.Dashboard.ListenAddress()!, dashboardPort);

// The same caps in dev and cluster mode.
void ApplyLimits(AdjointSiloOptions o)
{
    o.MaxEvaluationsInFlightPerClient = settings.Limits.MaxEvaluationsInFlightPerClient;
    o.MaxQueuedBatchesPerClient = settings.Limits.MaxQueuedBatchesPerClient;
    o.MaxMessageBodySize = settings.Limits.MaxMessageBodySize;
    o.ReclaimAfter = settings.Limits.ReclaimAfter;
    o.MaxVersionsPerGraph = settings.Limits.MaxVersionsPerGraph;
    o.TraceEvery = settings.Observability.TraceEvery;
}

using var host = builder.Build();
var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Adjoint.Host");
var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
var endpoints = host.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
var membership = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
var stopwatch = new System.Diagnostics.Stopwatch();
lifetime.ApplicationStarted.Register(() => HostEvents.Started(log,
    settings.Mode, settings.SiloPort, settings.GatewayPort,
    settings.Mode == HostMode.Dev ? "127.0.0.1" : (endpoints.SiloListeningEndpoint?.Address ?? endpoints.AdvertisedIPAddress).ToString(),
    settings.Mode == HostMode.Dev ? "localhost (development)" : $"Redis at {settings.Redis}",
    settings.Mode == HostMode.Dev ? "in memory" : "Redis",
    settings.Tls.CertificatePath is null ? "off" : "on",
    settings.ClusterId, settings.ServiceId,
    settings.Limits.MaxEvaluationsInFlightPerClient, settings.Limits.MaxQueuedBatchesPerClient, settings.Limits.MaxMessageBodySize, settings.Limits.MaxVersionsPerGraph,
    membership.ProbeTimeout, membership.NumMissedProbesLimit, membership.NumVotesForDeathDeclaration,
    membership.IAmAliveTablePublishTimeout * membership.NumMissedTableIAmAliveLimit));
lifetime.ApplicationStopping.Register(() =>
{
    stopwatch.Start();
    HostEvents.Stopping(log, settings.SiloPort);
});
lifetime.ApplicationStopped.Register(() => HostEvents.Stopped(log, settings.SiloPort, stopwatch.Elapsed.TotalMilliseconds));
// Which signal asked the silo to stop (the console lifetime then stops it; this only records why).
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => HostEvents.Signal(log, "SIGTERM"));
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => HostEvents.Signal(log, "SIGINT"));
try
{
    await host.RunAsync();
    return 0;
}
catch (Exception e) when (e is RedisConnectionException or OrleansException or SocketException or IOException)
{
    HostEvents.Failed(log, e.Message);
    return 1;
}

// Orleans' ClusterMembershipOptions from Adjoint:Membership.
static void ApplyMembership(MembershipSettings m, ClusterMembershipOptions o)
{
    o.ProbeTimeout = m.ProbeTimeout;
    o.NumMissedProbesLimit = m.NumMissedProbesLimit;
    o.NumProbedSilos = m.NumProbedSilos;
    o.NumVotesForDeathDeclaration = m.NumVotesForDeathDeclaration;
    o.DeathVoteExpirationTimeout = m.DeathVoteExpirationTimeout;
    o.IAmAliveTablePublishTimeout = m.IAmAliveTablePublishTimeout;
    o.NumMissedTableIAmAliveLimit = m.NumMissedTableIAmAliveLimit;
    o.TableRefreshTimeout = m.TableRefreshTimeout;
    o.MaxJoinAttemptTime = m.MaxJoinAttemptTime;
    o.ExtendProbeTimeoutDuringDegradation = m.ExtendProbeTimeoutDuringDegradation;
    o.LocalHealthDegradationMonitoringPeriod = m.LocalHealthDegradationMonitoringPeriod;
}

// Console logs carry UTC ISO 8601 timestamps in the simple (one line per event) and JSON formats, unless
// Logging:Console:FormatterOptions says otherwise.
static void LogWithTimestamps(HostApplicationBuilder builder)
{
    var given = builder.Configuration.GetSection("Logging:Console:FormatterOptions");
    // Without a formatter name the console logger copies its obsolete options (no timestamps) over the
    // formatter's: name the simple one.
    builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName ??= ConsoleFormatterNames.Simple);
    builder.Services.Configure<SimpleConsoleFormatterOptions>(o =>
    {
        if (given["TimestampFormat"] is null) o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
        if (given["UseUtcTimestamp"] is null) o.UseUtcTimestamp = true;
        if (given["SingleLine"] is null) o.SingleLine = true;
    });
    builder.Services.Configure<JsonConsoleFormatterOptions>(o =>
    {
        if (given["TimestampFormat"] is null) o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
        if (given["UseUtcTimestamp"] is null) o.UseUtcTimestamp = true;
    });
}

// A silo started on a port another process holds must not get as far as the membership table: with the
// same address and port and a later generation, Orleans takes the running silo for its own older
// incarnation and declares it dead. So the ports are bound once, here, before Orleans starts.
static string? PortsInUse(HostSettings settings)
{
    // In a pod the network is the pod's own; Orleans' Kubernetes hosting picks the ports.
    if (settings.Kubernetes) return null;
    IPAddress address;
    try
    {
        address = settings.Mode == HostMode.Dev ? IPAddress.Loopback
            : settings.ListenOnAnyAddress ? IPAddress.Any
            : Advertised(settings);
    }
    catch (SocketException e)
    {
        return $"advertised address '{settings.AdvertisedAddress}' does not resolve: {e.Message}";
    }
    return PortInUse("silo", address, settings.SiloPort) ?? PortInUse("gateway", address, settings.GatewayPort);
}

static string? PortInUse(string what, IPAddress address, int port, string? flag = null)
{
    try
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, port));
        socket.Listen();
        return null;
    }
    catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
    {
        return $"{what} port {port} on {address} is in use (another silo or program listens there); stop it or choose another port ({flag ?? $"--{what}-port"})";
    }
    catch (SocketException e)
    {
        return $"cannot listen on {address}:{port} ({what} port): {e.Message}";
    }
}

static IPAddress Advertised(HostSettings settings)
{
    if (settings.AdvertisedAddress is { } text)
        return IPAddress.TryParse(text, out var address)
            ? address
            : Dns.GetHostAddresses(text).First(a => a.AddressFamily == AddressFamily.InterNetwork);
    return Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? IPAddress.Loopback;
}
