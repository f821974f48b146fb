using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Adjoint.Grains;
using Adjoint.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Adjoint.Client;

/// <summary>
/// The entry point: connects to a back end (the local engine, an embedded silo, or a cluster) and
/// deploys graphs to it. Dispose it to stop the embedded silo or close the cluster connection.
/// </summary>
/// <example>
/// <code>
/// await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Embedded });
/// var net = await client.DeployAsync("two-layer", GraphFile.load("examples/two-layer.json"));
/// var g = await net.GradientAsync();
/// Console.WriteLine($"{g.Loss} {g.Adjoint("W1")}");
/// </code>
/// </example>
public sealed class AdjointClient : IAsyncDisposable
{
    private readonly IHost? _host;
    private readonly IServiceProvider? _services;
    private readonly IGrainFactory? _grains;

    private AdjointClient(Backend backend, IHost? host, IServiceProvider? services = null)
    {
        Backend = backend;
        _host = host;
        _services = services ?? host?.Services;
        _grains = _services?.GetRequiredService<IGrainFactory>();
    }

    /// <summary>The back end this client uses.</summary>
    public Backend Backend { get; }

    /// <summary>
    /// The grain factory of the embedded silo or the cluster, for direct use of the grain interfaces
    /// (<see cref="IGraphGrain"/>: describe, placement, versions); null for the local back end.
    /// </summary>
    public IGrainFactory? Grains => _grains;

    /// <summary>Connects to the back end the options name.</summary>
    /// <exception cref="ClusterUnreachableException">The cluster's Redis or gateways could not be reached in time.</exception>
    public static async Task<AdjointClient> ConnectAsync(AdjointClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new AdjointClientOptions();
        if (options.MaxMessageBodySize < MessageSize.Minimum)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxMessageBodySize must be at least {MessageSize.Minimum} bytes, got {options.MaxMessageBodySize}");
        return options.Backend switch
        {
            Backend.Local => new AdjointClient(Backend.Local, null),
            Backend.Embedded => new AdjointClient(Backend.Embedded, await StartEmbeddedAsync(options, cancellationToken)),
            Backend.Cluster => new AdjointClient(Backend.Cluster, await ConnectClusterAsync(options, cancellationToken)),
            _ => throw new ArgumentOutOfRangeException(nameof(options), $"unknown back end {options.Backend}"),
        };
    }

    /// <summary>
    /// A client over an Orleans client or silo that the caller runs and configured with <c>UseAdjoint()</c>
    /// (a TestCluster's client, see Adjoint.Testing): the cluster back end on its services. Disposing it
    /// leaves that client running.
    /// </summary>
    public static AdjointClient ForServices(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return new AdjointClient(Backend.Cluster, null, services);
    }

    /// <summary>
    /// Makes a graph ready to evaluate under an id: compiled locally, or deployed to the silos. On silos
    /// a version is the graph's content: the same graph reuses its version and the parameters trained
    /// into it, however many silos are up (another number only re-partitions it); a changed graph becomes
    /// a new version, and beyond the silos' <c>MaxVersionsPerGraph</c> the least recently deployed
    /// version is freed with its parameters.
    /// </summary>
    /// <exception cref="GraphRejectedException">The cluster's core rejected the graph (message unchanged).</exception>
    public async Task<GradientGraph> DeployAsync(string graphId, Graph graph, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(graphId);
        ArgumentNullException.ThrowIfNull(graph);
        if (_grains is null) return new LocalGraph(graphId, graph);
        var distributed = new DistributedGraph(_grains, graphId)
        {
            MessageSize = MessageSize.Of(_services!),
            Logger = _services!.GetRequiredService<ILoggerFactory>().CreateLogger<DistributedGraph>(),
        };
        var deployed = await distributed.Deploy(graph).WaitAsync(cancellationToken);
        return new ClusterGraph(graphId, graph, distributed, deployed.Version, DeployAsync);
    }

    private IGrainFactory ModelGrains => _grains
        ?? throw new NotSupportedException("the local back end deploys nothing: models live on an embedded silo or a cluster");

    private DistributedGraph Distributed(string graphId) => new(ModelGrains, graphId) { MessageSize = MessageSize.Of(_services!) };

    /// <summary>Every graph with a deployed version, by id, and its versions (from the cluster's model registry).</summary>
    /// <exception cref="NotSupportedException">On the local back end.</exception>
    public async Task<IReadOnlyList<ModelSummary>> ListModelsAsync(CancellationToken cancellationToken = default)
    {
        var models = await ModelGrains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).List().WaitAsync(cancellationToken);
        return [.. models.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new ModelSummary(kv.Key, kv.Value))];
    }

    /// <summary>What a deployed version is (0: the latest): nodes, layout, assignment, the graph as deployed.</summary>
    /// <exception cref="KeyNotFoundException">The graph has no such version.</exception>
    public Task<GraphDescription> DescribeAsync(string graphId, int version = 0, CancellationToken cancellationToken = default) =>
        Distributed(graphId).Grain.Describe(version).WaitAsync(cancellationToken);

    /// <summary>The current (trained) value of every parameter of a version (0: the latest), by node id, read by pages.</summary>
    /// <exception cref="KeyNotFoundException">The graph has no such version.</exception>
    public async Task<IReadOnlyDictionary<string, Tensor>> ReadParametersAsync(string graphId, int version = 0, CancellationToken cancellationToken = default)
    {
        var distributed = Distributed(graphId);
        // One version for every page, even if another is deployed meanwhile.
        if (version == 0) version = (await distributed.Grain.Describe(0).WaitAsync(cancellationToken)).Version;
        var stored = await distributed.ReadParameters(version, cancellationToken);
        return stored.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor());
    }

    /// <summary>
    /// A version (0: the latest) as a graph with its trained parameter values in place of the ones it was
    /// deployed with: <c>GraphFile.save</c> writes it as a file that <c>GraphFile.load</c> reads, and the
    /// local engine computes on it what the cluster computes on the version.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The graph has no such version.</exception>
    public async Task<(GraphDescription Description, Graph Graph)> ExportAsync(string graphId, int version = 0, CancellationToken cancellationToken = default)
    {
        var distributed = Distributed(graphId);
        var description = await distributed.Grain.Describe(version).WaitAsync(cancellationToken);
        var stored = await distributed.ReadParameters(description.Version, cancellationToken);
        var graph = Models.WithValues(GraphFile.parse(description.Json, null), stored.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor()));
        return (description, graph);
    }

    /// <summary>Removes a version (0: the latest) and its parameter values and moments.</summary>
    /// <exception cref="KeyNotFoundException">The graph has no such version.</exception>
    public Task UndeployAsync(string graphId, int version = 0, CancellationToken cancellationToken = default) =>
        Distributed(graphId).Grain.Undeploy(version).WaitAsync(cancellationToken);

    /// <summary>Removes every version of a graph; returns the versions removed.</summary>
    /// <exception cref="KeyNotFoundException">The graph has no deployed version.</exception>
    public Task<int[]> UndeployAllAsync(string graphId, CancellationToken cancellationToken = default) =>
        Distributed(graphId).Grain.UndeployAll().WaitAsync(cancellationToken);

    /// <summary>Loads a graph file and deploys it under its file name.</summary>
    public Task<GradientGraph> LoadAsync(string path, CancellationToken cancellationToken = default) =>
        DeployAsync(Path.GetFileNameWithoutExtension(path), GraphFile.load(path), cancellationToken);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_host is null) return;
        await _host.StopAsync();
        _host.Dispose();
    }

    private static async Task<IHost> StartEmbeddedAsync(AdjointClientOptions options, CancellationToken cancellationToken)
    {
        // Free loopback ports, so that an embedded silo never collides with a dev host or another client.
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var host = Host.CreateDefaultBuilder()
            .UseOrleans(silo => silo.UseLocalhostClustering(siloPort, gatewayPort).UseAdjoint(o => o.MaxMessageBodySize = options.MaxMessageBodySize))
            // An embedded silo lives inside someone else's program: only its errors are theirs to see,
            // and on stderr, so that a command's stdout carries only its results. A lone silo that stops
            // tries to migrate its activations and, there being no other silo, logs "Error while selecting
            // a migration destination" for each (category Orleans.Grain): noise, not an error of theirs.
            .ConfigureLogging(logging => ToStandardError(logging).SetMinimumLevel(LogLevel.Error).AddFilter("Orleans.Grain", LogLevel.Critical))
            .Build();
        await host.StartAsync(cancellationToken);
        return host;
    }

    private static async Task<IHost> ConnectClusterAsync(AdjointClientOptions options, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Redis))
            throw new ArgumentException("the cluster back end needs the Redis connection string of the cluster's membership", nameof(options));
        ConfigurationOptions redis;
        try
        {
            redis = ConfigurationOptions.Parse(options.Redis);
        }
        catch (ArgumentException e)
        {
            throw new ClusterUnreachableException($"'{options.Redis}' is not a Redis connection string: {e.Message}", e);
        }
        redis.AbortOnConnectFail = true;
        redis.ConnectTimeout = (int)Math.Min(int.MaxValue, options.ConnectTimeout.TotalMilliseconds);
        var deadline = DateTime.UtcNow + options.ConnectTimeout;
        await ProbeRedisAsync(options, redis);
        var host = Host.CreateDefaultBuilder()
            .UseOrleansClient(client =>
            {
                client.UseRedisClustering(o => o.ConfigurationOptions = redis);
                client.Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ClusterId = options.ClusterId;
                    o.ServiceId = options.ServiceId;
                });
                // Keep retrying only until the deadline: an unreachable cluster is a clear error, not a hang.
                client.UseConnectionRetryFilter(async (_, ct) =>
                {
                    if (DateTime.UtcNow >= deadline) return false;
                    await Task.Delay(250, ct);
                    return true;
                });
                if (options.MaxMessageBodySize is { } size)
                    client.Configure<Orleans.Configuration.ClientMessagingOptions>(o => o.MaxMessageBodySize = size);
                if (options.TlsCertificatePath is { } path)
                {
                    var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.TlsCertificatePassword);
                    client.UseTls(certificate, tls => tls.AllowAnyRemoteCertificate());
                }
            })
            .ConfigureLogging(logging => ToStandardError(logging).SetMinimumLevel(LogLevel.Critical))
            .Build();
        try
        {
            await host.StartAsync(cancellationToken);
            return host;
        }
        catch (Exception e) when (e is RedisException or OrleansException or SocketException or TimeoutException)
        {
            host.Dispose();
            var why = e.Message.Contains("Could not find any gateway", StringComparison.Ordinal)
                ? $"Redis answers, but no silo of cluster '{options.ClusterId}' (service '{options.ServiceId}') offered a gateway within {options.ConnectTimeout.TotalSeconds:0.#} s; is a silo running with these ids?"
                : e.Message;
            throw new ClusterUnreachableException($"cannot reach the cluster '{options.ClusterId}' through Redis at {options.Redis}: {why}", e);
        }
    }

    // Redis down is the common case of an unreachable cluster: one short connection attempt says so in
    // about RedisProbeTimeout, where Orleans' membership client would retry for twice ConnectTimeout and
    // end with StackExchange.Redis's advice to set abortConnect=false.
    private static async Task ProbeRedisAsync(AdjointClientOptions options, ConfigurationOptions redis)
    {
        var probe = redis.Clone();
        probe.ConnectTimeout = (int)Math.Min(options.RedisProbeTimeout.TotalMilliseconds, options.ConnectTimeout.TotalMilliseconds);
        probe.ConnectRetry = 0;
        probe.AbortOnConnectFail = true;
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(probe, TextWriter.Null);
        }
        catch (RedisConnectionException e)
        {
            // StackExchange.Redis words every failure alike (with advice about abortConnect): a plain
            // socket to the first endpoint says which it was.
            var why = e.FailureType == ConnectionFailureType.AuthenticationFailure ? "authentication failed"
                : await SocketProblem(probe) ?? $"{e.FailureType}";
            throw new ClusterUnreachableException($"cannot reach the cluster '{options.ClusterId}': Redis at {options.Redis}, which holds its membership, is not reachable ({why})", e);
        }
    }

    private static async Task<string?> SocketProblem(ConfigurationOptions redis)
    {
        if (redis.EndPoints.FirstOrDefault() is not { } endpoint) return "no endpoint given";
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(redis.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token);
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return "connection refused";
        }
        catch (SocketException e)
        {
            return e.Message.ToLowerInvariant();
        }
        catch (OperationCanceledException)
        {
            return $"no answer within {redis.ConnectTimeout / 1000.0:0.#} s";
        }
    }

    // The default host logs to the console's stdout; every level goes to stderr instead.
    private static ILoggingBuilder ToStandardError(ILoggingBuilder logging) =>
        logging.ClearProviders().AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}

/// <summary>The cluster could not be reached: Redis, its membership table, or every gateway.</summary>
public sealed class ClusterUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
