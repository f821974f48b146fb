// Node forward and backward time by op, as this process's "Adjoint" meter measures it, for shading the web view's DAGs.
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Adjoint.Host;

/// <summary>
/// Listens to the instruments <c>adjoint.node.forward.duration</c> and <c>adjoint.node.backward.duration</c>
/// (milliseconds, tag <c>op</c>) of the meter "Adjoint", when the silo publishes them, and keeps their sum
/// and count per op. Nothing is published: the view then shades no node. What the silos of other processes
/// measure is not seen here (their own hosts' views show it).
/// </summary>
public sealed class NodeTimes : IDisposable
{
    /// <summary>The meter the silo publishes its measurements on.</summary>
    public const string MeterName = "Adjoint";
    private const string Forward = "adjoint.node.forward.duration", Backward = "adjoint.node.backward.duration";

    private sealed class Sum
    {
        public double ForwardMs, BackwardMs;
        public long Forwards, Backwards;
    }

    private readonly ConcurrentDictionary<string, Sum> _byOp = new();
    private readonly MeterListener _listener = new();

    /// <summary>Starts listening.</summary>
    public NodeTimes()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && instrument.Name is Forward or Backward) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double ms, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var op = "";
        foreach (var tag in tags)
            if (tag.Key == "op") op = tag.Value?.ToString() ?? "";
        var sum = _byOp.GetOrAdd(op, _ => new Sum());
        lock (sum)
        {
            if (instrument.Name == Forward) { sum.ForwardMs += ms; sum.Forwards++; }
            else { sum.BackwardMs += ms; sum.Backwards++; }
        }
    }

    /// <summary>Mean forward and backward time of one node step, by op, of the ops measured so far.</summary>
    public Dictionary<string, OpTime> Read()
    {
        var result = new Dictionary<string, OpTime>();
        foreach (var (op, sum) in _byOp)
            lock (sum)
                result[op] = new OpTime(sum.Forwards == 0 ? 0 : sum.ForwardMs / sum.Forwards,
                    sum.Backwards == 0 ? 0 : sum.BackwardMs / sum.Backwards, sum.Forwards + sum.Backwards);
        return result;
    }

    /// <inheritdoc/>
    public void Dispose() => _listener.Dispose();
}

/// <summary>An op's mean node step times in milliseconds, and how many steps they average.</summary>
public sealed record OpTime(double ForwardMs, double BackwardMs, long Steps);
