using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
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

    private static readonly string[] Replacements =
    [
        "\"sigmod\"", "\"matmul\"", "\"parameter\"", "\"input\"", "\"scale\"", "\"solve\"", "\"\"", "null", "true", "{}", "[]",
        "[[]]", "[1]", "[0, 3]", "[-1, 2]", "[2147483647, 2147483647]", "[100000, 100000]", "[3.5, 1]", "1e999", "-1e999",
        "NaN", "\"NaN\"", "Infinity", "0", "-0", "1e-320", "123456789012345678901234567890", "\"X\"", "\"loss\"",
        "[\"X\", \"X\"]", "[\"nope\"]", "{\"factor\": 2}", "{\"factor\": \"2\"}", "2", "99",
    ];

    [Fact]
    public void HundredThousandMutatedFilesGiveOurErrorsOnly()
    {
        var random = new Random(20261125);
        var outcomes = new Dictionary<string, int>();
        var watch = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < Cases; i++)
        {
            var text = Mutate(Seeds[random.Next(Seeds.Length)], random);
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

    /// <summary>
    /// Three in four cases edit the JSON tree (replace a value, drop a field, duplicate or drop a list
    /// item) so that the file stays JSON and reaches validation and the engine; the rest damage the text
    /// (truncation, deleted or duplicated spans, stray characters, swapped tokens).
    /// </summary>
    private static string Mutate(string seed, Random random)
    {
        if (random.Next(4) != 0)
        {
            var root = JsonNode.Parse(seed)!;
            for (var e = random.Next(1, 4); e > 0; e--) MutateTree(root, random);
            return root.ToJsonString();
        }
        var text = seed;
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits && text.Length > 0; e++)
        {
            var at = random.Next(text.Length);
            text = random.Next(5) switch
            {
                0 => text[..at],
                1 => text.Remove(at, Math.Min(random.Next(1, 12), text.Length - at)),
                2 => text.Insert(at, text.Substring(at, Math.Min(random.Next(1, 40), text.Length - at))),
                3 => text.Insert(at, ((char)random.Next(32, 127)).ToString()),
                _ => ReplaceToken(text, at, Replacements[random.Next(Replacements.Length)]),
            };
        }
        return text;
    }

    private static void MutateTree(JsonNode root, Random random)
    {
        var all = new List<JsonNode>();
        void Walk(JsonNode? n)
        {
            if (n is null) return;
            all.Add(n);
            if (n is JsonObject o) foreach (var kv in o.ToList()) Walk(kv.Value);
            if (n is JsonArray a) foreach (var item in a.ToList()) Walk(item);
        }
        Walk(root);
        var target = all[random.Next(1, all.Count)];
        var parent = target.Parent;
        var token = Replacements[random.Next(Replacements.Length)];
        // NaN and Infinity are not JSON; in a tree they can only stand as strings.
        var replacement = token is "NaN" or "Infinity" ? JsonValue.Create(token) : JsonNode.Parse(token);
        switch (parent, random.Next(3))
        {
            case (JsonObject o, 0):
                o.Remove(o.First(kv => ReferenceEquals(kv.Value, target)).Key);
                break;
            case (JsonObject o, _):
                o[o.First(kv => ReferenceEquals(kv.Value, target)).Key] = replacement;
                break;
            case (JsonArray a, 0):
                a.RemoveAt(a.IndexOf(target));
                break;
            case (JsonArray a, 1):
                a.Insert(a.IndexOf(target), target.DeepClone());
                break;
            case (JsonArray a, _):
                a[a.IndexOf(target)] = replacement;
                break;
        }
    }

    /// <summary>Replaces the JSON value (string, number or bracketed list) at or after a position.</summary>
    private static string ReplaceToken(string text, int at, string replacement)
    {
        var start = text.IndexOfAny(['"', '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], at);
        if (start < 0) return text;
        var end = start + 1;
        if (text[start] == '"')
        {
            end = text.IndexOf('"', start + 1);
            if (end < 0) return text;
            end++;
        }
        else if (text[start] == '[')
        {
            var depth = 0;
            for (end = start; end < text.Length; end++)
            {
                if (text[end] == '[') depth++;
                else if (text[end] == ']' && --depth == 0) { end++; break; }
            }
        }
        else
        {
            while (end < text.Length && "0123456789.eE+-".Contains(text[end])) end++;
        }
        return new StringBuilder(text).Remove(start, end - start).Insert(start, replacement).ToString();
    }
}
