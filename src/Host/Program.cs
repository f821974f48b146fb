// The Adjoint silo process: dev mode (one loopback silo, nothing to install) or cluster mode (Redis
// membership and storage). Settings: section "Adjoint" of appsettings.json, ADJOINT__* environment
// variables, and the command line; see HostSettings.
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Adjoint.Grains.Hosting;
using Adjoint.Host;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
    ["--max-in-flight"] = "Adjoint:Limits:MaxEvaluationsInFlightPerClient",
    ["--max-message-size"] = "Adjoint:Limits:MaxMessageBodySize",
    ["--max-versions"] = "Adjoint:Limits:MaxVersionsPerGraph",
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
if (settings.Problem() is { } problem)
{
    Console.Error.WriteLine($"error: {problem}");
    return 1;
}

builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
builder.UseOrleans(silo =>
{
    silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
    {
        o.ClusterId = settings.ClusterId;
        o.ServiceId = settings.ServiceId;
    });
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
            silo.UseKubernetesHosting(); // pod name, IP and cluster id from the pod's environment
        else
            silo.ConfigureEndpoints(Advertised(settings), settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: true);
        silo.UseAdjoint(o =>
        {
            ApplyLimits(o);
            o.UseMemoryStorage = false;
        });
    }
    if (settings.Tls.CertificatePath is { } path)
    {
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, settings.Tls.CertificatePassword);
        silo.UseTls(certificate, tls => tls.AllowAnyRemoteCertificate());
    }
});

// The same caps in dev and cluster mode.
void ApplyLimits(AdjointSiloOptions o)
{
    o.MaxEvaluationsInFlightPerClient = settings.Limits.MaxEvaluationsInFlightPerClient;
    o.MaxQueuedBatchesPerClient = settings.Limits.MaxQueuedBatchesPerClient;
    o.MaxMessageBodySize = settings.Limits.MaxMessageBodySize;
    o.ReclaimAfter = settings.Limits.ReclaimAfter;
    o.MaxVersionsPerGraph = settings.Limits.MaxVersionsPerGraph;
}

using var host = builder.Build();
var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Adjoint.Host");
host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
    log.LogInformation(
        "Adjoint silo started: mode {Mode}, silo port {SiloPort}, gateway port {GatewayPort}, membership {Membership}, storage {Storage}, TLS {Tls}, cluster {ClusterId}/{ServiceId}, limits {InFlight} evaluations in flight and {Queued} waiting batches per client, {MessageSize} bytes per message, {MaxVersions} versions per graph",
        settings.Mode, settings.SiloPort, settings.GatewayPort,
        settings.Mode == HostMode.Dev ? "localhost (development)" : $"Redis at {settings.Redis}",
        settings.Mode == HostMode.Dev ? "in memory" : "Redis",
        settings.Tls.CertificatePath is null ? "off" : "on",
        settings.ClusterId, settings.ServiceId,
        settings.Limits.MaxEvaluationsInFlightPerClient, settings.Limits.MaxQueuedBatchesPerClient, settings.Limits.MaxMessageBodySize, settings.Limits.MaxVersionsPerGraph));
try
{
    await host.RunAsync();
    return 0;
}
catch (Exception e) when (e is RedisConnectionException or OrleansException or SocketException or IOException)
{
    log.LogCritical("{Message}", e.Message);
    return 1;
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
