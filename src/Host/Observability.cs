// Metrics and traces out of the silo through OpenTelemetry: Adjoint's meter and Orleans' own, a
// Prometheus scrape endpoint on loopback, OTLP, the console for development; from Adjoint:Observability.
using Adjoint.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Adjoint.Host;

/// <summary>Where the silo's metrics and traces go (section <c>Adjoint:Observability</c>); nothing by default.</summary>
public sealed class ObservabilitySettings
{
    /// <summary>Serve the metrics for Prometheus at <c>http://127.0.0.1:PORT/metrics</c> (loopback only); null: off.</summary>
    public int? PrometheusPort { get; set; }

    /// <summary>Export metrics and traces over OTLP (gRPC) to this endpoint, e.g. <c>http://127.0.0.1:4317</c>; null: off.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Write metrics and spans to the console (development).</summary>
    public bool Console { get; set; }

    /// <summary>Trace every n-th evaluation of batches that do not say (0: none); spans go to OTLP or the console.</summary>
    public int TraceEvery { get; set; }

    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem() => this switch
    {
        { PrometheusPort: <= 0 or > 65535 } => $"Observability:PrometheusPort {PrometheusPort} is not a valid port",
        { OtlpEndpoint: { } e } when !Uri.TryCreate(e, UriKind.Absolute, out _) => $"Observability:OtlpEndpoint '{e}' is not an absolute URI (http://host:4317)",
        { TraceEvery: < 0 } => $"Observability:TraceEvery must be at least 0, got {TraceEvery}",
        _ => null,
    };

    /// <summary>Whether spans go anywhere (otherwise nothing listens to the activity source and nothing is traced).</summary>
    public bool Traces => OtlpEndpoint is not null || Console;

    /// <summary>Whether metrics go anywhere.</summary>
    public bool Metrics => PrometheusPort is not null || OtlpEndpoint is not null || Console;
}

/// <summary>Registers OpenTelemetry's providers for the settings.</summary>
public static class Observability
{
    /// <summary>Orleans' meter, exported beside Adjoint's.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Adds the metrics and tracing providers the settings ask for (none when they ask for nothing).</summary>
    public static void AddAdjointObservability(this HostApplicationBuilder builder, ObservabilitySettings settings, string instance)
    {
        if (!settings.Metrics && !settings.Traces) return;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("adjoint-host", serviceInstanceId: instance));
        if (settings.Metrics)
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter(Telemetry.Name, OrleansMeter);
                if (settings.PrometheusPort is { } port)
                    metrics.AddPrometheusHttpListener(o =>
                    {
                        o.Host = "127.0.0.1";
                        o.Port = port;
                    });
                if (settings.OtlpEndpoint is { } endpoint) metrics.AddOtlpExporter(o => o.Endpoint = new Uri(endpoint));
                if (settings.Console) metrics.AddConsoleExporter();
            });
        if (settings.Traces)
            otel.WithTracing(tracing =>
            {
                // Adjoint's evaluation and node-step spans; Orleans' own grain-call spans (the client's call
                // to the coordinator carries the caller's trace, see AddActivityPropagation).
                tracing.AddSource(Telemetry.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application");
                if (settings.OtlpEndpoint is { } endpoint) tracing.AddOtlpExporter(o => o.Endpoint = new Uri(endpoint));
                if (settings.Console) tracing.AddConsoleExporter();
            });
    }
}
