// Adjoint's meter and activity source, and its instruments: one place for every name a dashboard,
// a Prometheus scrape or a MeterListener looks for.
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Adjoint.Grains;

/// <summary>
/// The meter and activity source "Adjoint". Grains record through the helpers below, which check
/// <see cref="Instrument.Enabled"/> first and pass tags as value pairs: with no listener a measurement
/// costs one branch and allocates nothing.
/// </summary>
public static class Telemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "Adjoint";

    /// <summary>The meter every instrument below belongs to.</summary>
    public static readonly Meter Meter = new(Name);

    /// <summary>The source of traced evaluations' spans (one per evaluation, one per node step).</summary>
    public static readonly ActivitySource Source = new(Name);

    /// <summary>Evaluations started (first attempts; re-runs are counted apart). Tag graph.</summary>
    public static readonly Counter<long> EvaluationsStarted = Meter.CreateCounter<long>("adjoint.evaluations.started", "{evaluation}", "Evaluations started");
    /// <summary>Evaluations completed. Tags graph, outcome (ok | failed).</summary>
    public static readonly Counter<long> EvaluationsCompleted = Meter.CreateCounter<long>("adjoint.evaluations.completed", "{evaluation}", "Evaluations completed");
    /// <summary>Evaluations in flight. Tag graph.</summary>
    public static readonly UpDownCounter<long> EvaluationsInFlight = Meter.CreateUpDownCounter<long>("adjoint.evaluations.in_flight", "{evaluation}", "Evaluations in flight");
    /// <summary>Evaluations re-run after a lost silo or a timeout. Tag graph.</summary>
    public static readonly Counter<long> EvaluationsReruns = Meter.CreateCounter<long>("adjoint.evaluations.reruns", "{evaluation}", "Evaluations re-run after a fault");
    /// <summary>Node steps that failed. Tag op.</summary>
    public static readonly Counter<long> NodeFailures = Meter.CreateCounter<long>("adjoint.node.failures", "{failure}", "Node steps that failed");
    /// <summary>Forward step time of a node (its op's forward and the sends). Tags op, silo.</summary>
    public static readonly Histogram<double> ForwardDuration = Meter.CreateHistogram<double>("adjoint.node.forward.duration", "ms", "Forward step time of a node");
    /// <summary>Backward step time of a node (λ's sum, the VJPs and the sends). Tags op, silo.</summary>
    public static readonly Histogram<double> BackwardDuration = Meter.CreateHistogram<double>("adjoint.node.backward.duration", "ms", "Backward step time of a node");
    /// <summary>Work messages sent (starts, values, VJP terms). Tags from_silo, to_silo.</summary>
    public static readonly Counter<long> MessagesSent = Meter.CreateCounter<long>("adjoint.messages.sent", "{message}", "Work messages sent");
    /// <summary>Estimated bytes of the work messages sent. Tags from_silo, to_silo.</summary>
    public static readonly Counter<long> MessagesBytes = Meter.CreateCounter<long>("adjoint.messages.bytes", "By", "Bytes of the work messages sent");
    /// <summary>Grain activations alive. Tags silo, kind (node | coordinator | graph).</summary>
    public static readonly UpDownCounter<long> GrainActivations = Meter.CreateUpDownCounter<long>("adjoint.grain.activations", "{activation}", "Grain activations alive");

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    /// <summary>An evaluation's first attempt started.</summary>
    public static void Started(string graph)
    {
        if (EvaluationsStarted.Enabled) EvaluationsStarted.Add(1, Tag("graph", graph));
        if (EvaluationsInFlight.Enabled) EvaluationsInFlight.Add(1, Tag("graph", graph));
    }

    /// <summary>An evaluation completed, well or with a failure.</summary>
    public static void Completed(string graph, bool ok)
    {
        if (EvaluationsCompleted.Enabled) EvaluationsCompleted.Add(1, Tag("graph", graph), Tag("outcome", ok ? "ok" : "failed"));
        if (EvaluationsInFlight.Enabled) EvaluationsInFlight.Add(-1, Tag("graph", graph));
    }

    /// <summary>An evaluation left in flight without completing (its batch was cancelled, timed out or handed back).</summary>
    public static void Dropped(string graph)
    {
        if (EvaluationsInFlight.Enabled) EvaluationsInFlight.Add(-1, Tag("graph", graph));
    }

    /// <summary>Evaluations re-run.</summary>
    public static void Reruns(string graph, int count)
    {
        if (EvaluationsReruns.Enabled) EvaluationsReruns.Add(count, Tag("graph", graph));
    }

    /// <summary>A node step failed.</summary>
    public static void Failed(string op)
    {
        if (NodeFailures.Enabled) NodeFailures.Add(1, Tag("op", op));
    }

    /// <summary>Whether step durations are measured at all (a listener wants either histogram).</summary>
    public static bool TimesSteps => ForwardDuration.Enabled || BackwardDuration.Enabled;

    /// <summary>A node step took <paramref name="milliseconds"/>.</summary>
    public static void Step(bool backward, string op, string silo, double milliseconds)
    {
        var histogram = backward ? BackwardDuration : ForwardDuration;
        if (histogram.Enabled) histogram.Record(milliseconds, Tag("op", op), Tag("silo", silo));
    }

    /// <summary>Whether messages are counted at all.</summary>
    public static bool CountsMessages => MessagesSent.Enabled || MessagesBytes.Enabled;

    /// <summary>One work message of about <paramref name="bytes"/> went from one silo to another.</summary>
    public static void Sent(string from, string to, long bytes)
    {
        if (MessagesSent.Enabled) MessagesSent.Add(1, Tag("from_silo", from), Tag("to_silo", to));
        if (MessagesBytes.Enabled) MessagesBytes.Add(bytes, Tag("from_silo", from), Tag("to_silo", to));
    }

    /// <summary>A grain of a kind was activated (+1) or deactivated (−1) on a silo.</summary>
    public static void Activation(string silo, string kind, int change)
    {
        if (GrainActivations.Enabled) GrainActivations.Add(change, Tag("silo", silo), Tag("kind", kind));
    }
}
