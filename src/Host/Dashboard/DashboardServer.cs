// The live web view's HTTP server: Kestrel in the silo's process, serving the page and its JSON and event-stream endpoints.
using System.Net;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adjoint.Host;

/// <summary>
/// A small web application of its own beside the silo (the host stays a generic host): it starts with
/// the host and stops with it, and reads the cluster through the silo's services. Endpoints:
/// <c>/</c> (the page), <c>/api/graphs</c>, <c>/api/graphs/{id}?version=N</c>, <c>/api/silos</c>,
/// <c>/api/batches</c>, <c>/api/rate</c> (evaluations/s of the last two minutes) and <c>/api/events</c>
/// (server-sent events: a "sample" each second).
/// </summary>
public sealed class DashboardServer(IPAddress address, int port, ClusterView view, Sampler sampler, ILoggerFactory logs) : IHostedService, IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private WebApplication? _app;

    /// <summary>The page's files, embedded in the host: name → (content type, bytes).</summary>
    private static readonly Dictionary<string, (string Type, byte[] Bytes)> Files = new[]
    {
        ("index.html", "text/html; charset=utf-8"), ("dashboard.js", "text/javascript; charset=utf-8"), ("dashboard.css", "text/css; charset=utf-8"),
    }.ToDictionary(f => f.Item1, f => (f.Item2, Resource(f.Item1)));

    private static byte[] Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"dashboard/{name}")
            ?? throw new InvalidOperationException($"the host lacks its embedded dashboard file '{name}'");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port));
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new Forward(logs));
        var app = builder.Build();
        foreach (var (name, (type, bytes)) in Files)
            app.MapGet(name == "index.html" ? "/" : $"/{name}", () => Results.Bytes(bytes, type));
        app.MapGet("/api/graphs", async () => Results.Json(await view.Graphs(), Json));
        app.MapGet("/api/graphs/{id}", async (string id, int? version) =>
            await view.Graph(id, version ?? 0) is { } graph ? Results.Json(graph, Json)
                : Results.NotFound(new { error = $"graph '{id}' has no version {(version is { } v and not 0 ? v.ToString() : "deployed")}" }));
        app.MapGet("/api/silos", async () => Results.Json(await view.Silos(), Json));
        app.MapGet("/api/batches", async () => Results.Json((await view.Boards()).SelectMany(b => b.Batches).OrderBy(b => b.Started), Json));
        app.MapGet("/api/rate", () => Results.Json(sampler.History(), Json));
        app.MapGet("/api/events", Events);
        await app.StartAsync(cancellationToken);
        _app = app;
        HostEvents.DashboardStarted(logs.CreateLogger("Adjoint.Host"), $"http://{(address.Equals(IPAddress.Any) ? "0.0.0.0" : address)}:{port}/");
    }

    // Server-sent events: one "sample" per second until the page goes away or the host stops.
    private async Task Events(HttpContext context)
    {
        var closed = context.RequestAborted;
        if (sampler.Subscribe(closed) is not { } samples)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync($"at most {Sampler.MaxSubscribers} event streams are open at once", closed);
            return;
        }
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.FlushAsync(closed);
        try
        {
            await foreach (var sample in samples.ReadAllAsync(closed))
            {
                await context.Response.WriteAsync($"event: sample\ndata: {JsonSerializer.Serialize(sample, Json)}\n\n", closed);
                await context.Response.Body.FlushAsync(closed);
            }
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
            // The page closed.
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app) await app.StopAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_app is { } app) await app.DisposeAsync();
    }

    // The web application's logs go to the host's loggers (which the host, not it, disposes).
    private sealed class Forward(ILoggerFactory logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => logs.CreateLogger(categoryName);

        public void Dispose() { }
    }
}

/// <summary>Registration of the web view in the host.</summary>
public static class DashboardServices
{
    /// <summary>Serves the live web view on <paramref name="address"/>:<paramref name="port"/> beside the silo.</summary>
    public static IServiceCollection AddDashboard(this IServiceCollection services, IPAddress address, int port)
    {
        services.AddSingleton<NodeTimes>();
        services.AddSingleton<ClusterView>();
        services.AddSingleton<Sampler>();
        services.AddHostedService(s => s.GetRequiredService<Sampler>());
        services.AddHostedService(s => ActivatorUtilities.CreateInstance<DashboardServer>(s, address, port));
        return services;
    }
}
