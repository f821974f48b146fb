using System.Diagnostics;
using Adjoint.Tests.Shared;
using Xunit;

namespace Adjoint.Reliability.Tests;

/// <summary>
/// Malformed graph files thrown at the loader and, when they load, at the engine: every case either
/// works or fails with one of our errors, whose message names a JSON path, node, op or shape — never
/// another exception, never a hang.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class LoaderFuzzTests(ITestOutputHelper log)
{
    private const int Cases = 100_000;

    private static readonly string[] Seeds =
        new[] { "warmup.json", "two-layer.json" }.Select(f => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", f)))
        .Append(Generated.SoftmaxNet)
        .ToArray();

    [Fact]
    public void HundredThousandMutatedFilesGiveOurErrorsOnly()
    {
        var random = new Random(20261125);
        var outcomes = new Dictionary<string, int>();
        var watch = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < Cases; i++)
        {
            var text = GraphFileMutator.Mutate(Seeds[random.Next(Seeds.Length)], random);
            var start = watch.Elapsed;
            var outcome = Classify(text);
            var took = watch.Elapsed - start;
            if (took > slowest) slowest = took;
            Assert.True(took < TimeSpan.FromSeconds(5), $"case {i} took {took} (a hang?):\n{text}");
            if (outcome.StartsWith("CRASH", StringComparison.Ordinal))
                Assert.Fail($"case {i}: {outcome}\n--- file ---\n{text}");
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        log.WriteLine($"{Cases} cases in {watch.Elapsed.TotalSeconds:F1} s, slowest {slowest.TotalMilliseconds:F1} ms");
        foreach (var (outcome, count) in outcomes.OrderByDescending(o => o.Value)) log.WriteLine($"{count,7} {outcome}");
        // The mutations must actually reach every layer: some files load, many are rejected by the loader.
        Assert.True(outcomes.GetValueOrDefault("loaded") > 100, "too few mutated files loaded to exercise the engine");
        Assert.True(outcomes.Where(o => o.Key.StartsWith("file error", StringComparison.Ordinal)).Sum(o => o.Value) > Cases / 2);
    }

    /// <summary>What happens to one file: loaded (and evaluated), or which of our errors it gave.</summary>
    private static string Classify(string text)
    {
        Graph graph;
        try
        {
            graph = GraphFile.parse(text, null);
        }
        catch (GraphFile.GraphFileException e)
        {
            if (string.IsNullOrWhiteSpace(e.Path) || !e.Message.StartsWith(e.Path + ": ", StringComparison.Ordinal) || e.Message.Contains('\n'))
                return $"CRASH: a file error that is not one clear line naming its path: {e.Message}";
            var kind = e.Path == "$" ? "$" : e.Path.Split('[', '.')[0];
            return $"file error at {kind}";
        }
        catch (Exception e)
        {
            return $"CRASH in the loader: {e}";
        }
        try
        {
            var plan = Plan.Compile(graph);
            var evaluation = Engine.evaluate(plan, null);
            if (evaluation.Output.IsScalar) Engine.backward(Adjoints.All, evaluation);
            return "loaded";
        }
        catch (EvaluationException e)
        {
            return e.Message.Contains($"node '{e.Node}'", StringComparison.Ordinal) && !e.Message.Contains('\n')
                ? "evaluation error"
                : $"CRASH: an evaluation error that does not name its node in one line: {e.Message}";
        }
        catch (GraphException e)
        {
            return e.Message.Contains('\'') && !e.Message.Contains('\n') ? "graph error" : $"CRASH: a graph error that names nothing: {e.Message}";
        }
        catch (Exception e)
        {
            return $"CRASH in the engine: {e}";
        }
    }
}
