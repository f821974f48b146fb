// The adaptive evaluation timeout (issue 12, item 1): 10 s before a first evaluation completes, then
// 10 × the moving average of completed latencies, never under 2 s; a fixed timeout wins; neither: none.
using System.Diagnostics;
using Adjoint.Grains;

namespace Adjoint.Grains.Tests;

public sealed class EvaluationDeadlinesTests
{
    private static BatchRequest Request(TimeSpan? fixedTimeout, bool adaptive) => new()
    {
        GraphId = "g", Version = 1, Inputs = [], EvaluationTimeout = fixedTimeout, AdaptiveEvaluationTimeout = adaptive,
    };

    // A completion whose attempt started `seconds` ago.
    private static void Complete(EvaluationDeadlines deadlines, double seconds)
    {
        var now = Stopwatch.GetTimestamp();
        deadlines.Completed(now - (long)(seconds * Stopwatch.Frequency), now);
    }

    [Fact]
    public void Before_any_completion_the_adaptive_timeout_is_the_initial_one()
    {
        Assert.Equal(EvaluationDeadlines.Initial, new EvaluationDeadlines().For(Request(null, adaptive: true)));
    }

    [Fact]
    public void Fast_evaluations_give_the_floor_and_slow_ones_ten_times_their_latency()
    {
        var deadlines = new EvaluationDeadlines();
        for (var i = 0; i < 50; i++) Complete(deadlines, 0.01);
        Assert.Equal(EvaluationDeadlines.Floor, deadlines.Adaptive);
        for (var i = 0; i < 400; i++) Complete(deadlines, 3.0);
        Assert.InRange(deadlines.Adaptive.TotalSeconds, 29.9, 30.1);
    }

    [Fact]
    public void A_fixed_timeout_wins_and_without_either_there_is_none()
    {
        var deadlines = new EvaluationDeadlines();
        Complete(deadlines, 1.0);
        Assert.Equal(TimeSpan.FromSeconds(5), deadlines.For(Request(TimeSpan.FromSeconds(5), adaptive: true)));
        Assert.Null(deadlines.For(Request(null, adaptive: false)));
    }
}
