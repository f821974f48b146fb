// Timing helpers: warm-up, repetitions, medians, and interleaved pairs for ratios.
using System.Diagnostics;

namespace Adjoint.Bench;

internal static class Measure
{
    public static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    /// <summary>Milliseconds of one call.</summary>
    public static double Once(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>Median milliseconds of <paramref name="reps"/> calls after <paramref name="warmup"/>.</summary>
    public static double Ms(Action action, int warmup, int reps, Action? between = null)
    {
        for (var i = 0; i < warmup; i++) action();
        var times = new double[reps];
        for (var i = 0; i < reps; i++)
        {
            between?.Invoke();
            times[i] = Once(action);
        }
        return Median(times);
    }

    /// <summary>
    /// The subject and the reference timed alternately, so that a neighbour's load hits both alike:
    /// median milliseconds of each, and the median of the per-pair ratios subject ÷ reference.
    /// </summary>
    public static (double Subject, double Reference, double Ratio) Pair(Action subject, Action reference, int warmup, int reps, Action? between = null)
    {
        for (var i = 0; i < warmup; i++)
        {
            subject();
            reference();
        }
        var s = new double[reps];
        var r = new double[reps];
        for (var i = 0; i < reps; i++)
        {
            if (i % 2 == 0)
            {
                between?.Invoke();
                s[i] = Once(subject);
                between?.Invoke();
                r[i] = Once(reference);
            }
            else
            {
                between?.Invoke();
                r[i] = Once(reference);
                between?.Invoke();
                s[i] = Once(subject);
            }
        }
        return (Median(s), Median(r), Median(s.Zip(r, (a, b) => a / b)));
    }
}
