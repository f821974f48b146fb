// What a node records of its steps: step durations for the metrics, step timings for a timed
// evaluation's result, spans for a traced one. Nothing is measured unless one of them is asked for.
using System.Diagnostics;

namespace Adjoint.Grains;

/// <summary>When a node step began, if anything measures it.</summary>
internal static class StepClock
{
    /// <summary>A Stopwatch timestamp when the step is measured (the evaluation is observed, or a listener
    /// wants step durations); 0 when it is not, so that an unobserved step reads no clock.</summary>
    public static long Begin(EvalContext context) =>
        context.Observe is not null || Telemetry.TimesSteps ? Stopwatch.GetTimestamp() : 0;
}

public sealed partial class NodeGrain
{
    // A step that began at `began` (a Stopwatch timestamp) has ended: its duration goes to the metrics,
    // its timing to the coordinator (a timed evaluation), its span to the trace (a traced one).
    private void StepEnded(EvalContext context, bool backward, long began, long bytesIn)
    {
        var elapsed = Stopwatch.GetElapsedTime(began);
        Telemetry.Step(backward, _op.Name, _siloName, elapsed.TotalMilliseconds);
        if (context.Observe is not { } observe) return;
        var end = DateTime.UtcNow;
        var start = end - elapsed;
        var bytesOut = backward ? AdjointBytesOut(context.Reporting) : ValueBytesOut(context.Reporting);
        if (observe.Timing)
            Report(context, ReportKind.Timing, timing: new StepTiming(
                _plan.Ids[_p], backward, start.Ticks, elapsed.Ticks, _siloName, bytesIn, bytesOut));
        if (observe.TraceParent is { } parent && Telemetry.Source.HasListeners()
            && ActivityContext.TryParse(parent, null, isRemote: true, out var evaluation))
            Span(context, backward, evaluation, start, end, bytesIn, bytesOut);
    }

    // One span of the evaluation's trace: a child of the evaluation's span, started and ended at the
    // step's times. The grain's own Activity.Current (Orleans' call activity, if any) is left as it was.
    private void Span(EvalContext context, bool backward, ActivityContext evaluation, DateTime start, DateTime end, long bytesIn, long bytesOut)
    {
        var previous = Activity.Current;
        var pass = backward ? "backward" : "forward";
        using (var span = Telemetry.Source.StartActivity(pass, ActivityKind.Internal, evaluation, startTime: start))
        {
            if (span is not null)
            {
                span.DisplayName = $"{pass} {_plan.Ids[_p]}";
                span.SetTag("adjoint.node", _plan.Ids[_p]);
                span.SetTag("adjoint.op", _op.Name);
                span.SetTag("adjoint.pass", pass);
                span.SetTag("adjoint.silo", _siloName);
                span.SetTag("adjoint.graph", _graph.GraphId);
                span.SetTag("adjoint.evaluation", context.Index);
                span.SetTag("adjoint.bytes_in", bytesIn);
                span.SetTag("adjoint.bytes_out", bytesOut);
                span.SetEndTime(end);
            }
        }
        Activity.Current = previous;
    }

    private long ValueBytes(int p) => 8L * _plan.Shape(p).LongCount;

    // What the forward step received: z of every ancestor slot.
    private long ArgumentBytes()
    {
        long bytes = 0;
        foreach (var a in _args) bytes += ValueBytes(a);
        return bytes;
    }

    // What the forward step sent: z_i to each successor edge, and to the coordinator if reported.
    private long ValueBytesOut(Reporting reporting) =>
        ValueBytes(_p) * (_successors.Length + (reporting.ReportsValue(_plan, _p) ? 1 : 0));

    // What the backward step sent: a VJP term to each ancestor slot that needs an adjoint, and λ_i if reported.
    private long AdjointBytesOut(Reporting reporting)
    {
        long bytes = reporting.ReportsAdjoint(_plan, _p) ? ValueBytes(_p) : 0;
        foreach (var a in _args)
            if (reporting.ComputesAdjoint(_plan, a)) bytes += ValueBytes(a);
        return bytes;
    }
}
