using System.Diagnostics;
using Xunit;

namespace Adjoint.Reliability.Tests;

/// <summary>
/// Random programs against the core's public API, as a user's code would call it: ops by name with
/// random (often wrong) arity, ancestors and attributes, leaves of random (often huge, zero or negative)
/// shapes, inputs bound with wrong ids and shapes, values holding NaN and ±∞, then compile, forward,
/// backward and the anomaly checks. Every case either works or fails with one of our errors naming the
/// node, op or shape at fault — never another exception, never a hang.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class CoreFuzzTests(ITestOutputHelper log)
{
    private const int Cases = 100_000;

    // Small limits, so that "huge" is reached without allocating gigabytes.
    private static readonly Limits Small = new(maxNodes: 40, maxTensorElements: 4096);

    private static readonly string[] OpNames = [.. Catalogue.names.Where(n => !Catalogue.leafNames.Contains(n)), "no-such-op", ""];

    [Fact]
    public void HundredThousandRandomProgramsGiveOurErrorsOnly()
    {
        var random = new Random(20261126);
        var outcomes = new Dictionary<string, int>();
        var watch = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < Cases; i++)
        {
            var start = watch.Elapsed;
            var outcome = Run(new Random(random.Next()), out var program);
            var took = watch.Elapsed - start;
            if (took > slowest) slowest = took;
            Assert.True(took < TimeSpan.FromSeconds(5), $"case {i} took {took} (a hang?):\n{program}");
            if (outcome.StartsWith("CRASH", StringComparison.Ordinal)) Assert.Fail($"case {i}: {outcome}\n--- program ---\n{program}");
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        log.WriteLine($"{Cases} programs in {watch.Elapsed.TotalSeconds:F1} s, slowest {slowest.TotalMilliseconds:F1} ms");
        foreach (var (outcome, count) in outcomes.OrderByDescending(o => o.Value)) log.WriteLine($"{count,7} {outcome}");
        // Every layer is reached: programs that build and evaluate, and each kind of rejection. The bound
        // is 4 %: only scale gets attributes here, so every op with a required attribute (reductions'
        // axes, the VJP ops' sizes and kernels) is refused, and their share grows with the catalogue
        // (4,602 of 100,000 evaluate since the VJP ops of the adjoint graph joined the catalogue; 5 % was the bound before).
        Assert.True(outcomes.GetValueOrDefault("evaluated") > Cases / 25, "too few programs evaluated to exercise the engine");
        foreach (var kind in new[] { "ShapeMismatch", "WrongArity", "UnknownOp", "TensorTooLarge", "bind: wrong shape", "non-finite value" })
            Assert.True(outcomes.Keys.Any(k => k.Contains(kind, StringComparison.Ordinal)), $"no case reached '{kind}'");
    }

    /// <summary>One random program; what happened to it, and the program as text for a failure message.</summary>
    private static string Run(Random r, out string program)
    {
        var log = new System.Text.StringBuilder();
        program = "";
        var b = new GraphBuilder(Small);
        var refs = new List<NodeRef>();
        var inputs = new Dictionary<string, Tensor>();
        try
        {
            var leaves = r.Next(1, 4);
            for (var k = 0; k < leaves; k++)
            {
                var (rows, cols) = (Dimension(r), Dimension(r));
                var id = "leaf" + k;
                log.AppendLine($"{id} = {(k % 3 == 0 ? "input" : k % 3 == 1 ? "parameter" : "constant")} {rows}x{cols}");
                if (k % 3 == 0)
                {
                    refs.Add(b.Input(id, rows, cols));
                    if (r.Next(10) > 0) inputs[id] = Value(r, r.Next(8) == 0 ? Dimension(r) : rows, r.Next(8) == 0 ? Dimension(r) : cols);
                }
                else
                {
                    var value = Value(r, rows, cols);
                    refs.Add(k % 3 == 1 ? b.Parameter(id, value) : b.Constant(id, value));
                }
            }
            if (r.Next(20) == 0) inputs["no-such-node"] = Tensor.Scalar(1.0);
            var steps = r.Next(1, 12);
            for (var k = 0; k < steps; k++)
            {
                var op = OpNames[r.Next(OpNames.Length)];
                var arity = r.Next(10) == 0 ? r.Next(0, 4) : Catalogue.compute(op, op == "scale" ? Factor : NoAttributes) is { IsOk: true } made ? made.ResultValue.Arity : 1;
                var args = Enumerable.Range(0, arity).Select(_ => r.Next(20) == 0 ? new NodeRef("ghost", Shape.Scalar, null) : refs[r.Next(refs.Count)]).ToArray();
                var attributes = op == "scale" && r.Next(8) > 0 ? new Dictionary<string, OpAttribute> { ["factor"] = OpAttribute.Of(Number(r)) } : null;
                log.AppendLine($"n{k} = {op}({string.Join(", ", args.Select(a => a.Id))}){(attributes is null ? "" : $" factor={attributes["factor"]}")}");
                refs.Add(b.Apply(op, args, attributes, "n" + k));
            }
            var output = r.Next(10) == 0 ? refs[r.Next(refs.Count)] : refs[^1];
            log.AppendLine($"output {output.Id}; inputs {string.Join(", ", inputs.Select(kv => $"{kv.Key}:{kv.Value.Shape}"))}");
            program = log.ToString();
            var plan = Plan.Compile(b.Build(output));
            var e = new Evaluation(plan);
            try
            {
                e.SetAll(inputs);
            }
            catch (ArgumentException a)
            {
                return Named(a.Message, "bind: " + (a.Message.Contains("does not match") ? "wrong shape" : "not a leaf"));
            }
            catch (KeyNotFoundException k)
            {
                return Named(k.Message, "bind: unknown id");
            }
            Engine.forward(e);
            if (!plan.Shape(plan.Output).IsScalar) return "evaluated";
            Engine.backward(Adjoints.All, e);
            Anomaly.checkValues(e);
            Anomaly.checkAdjoints(e);
            return "evaluated";
        }
        catch (GraphException g)
        {
            program = log.ToString();
            return Named(g.Message, "graph error: " + g.Data0.GetType().Name.Split('+')[^1]);
        }
        catch (EvaluationException x)
        {
            program = log.ToString();
            var kind = x.Reason.Contains("NaN", StringComparison.Ordinal) || x.Reason.Contains("∞", StringComparison.Ordinal) || x.Reason.Contains("inf", StringComparison.OrdinalIgnoreCase)
                ? "non-finite value" : "op failed";
            return Named(x.Message, $"evaluation error ({x.Op}): {kind}");
        }
        catch (Exception x)
        {
            program = log.ToString();
            return $"CRASH: {x.GetType().Name}: {x.Message}\n{x.StackTrace}";
        }
    }

    // A clear error is one line that names a node (by the ids this fuzzer gives) or the graph's limits.
    private static string Named(string message, string outcome) =>
        !message.Contains('\n') && (message.Contains('\'') || message.Contains("node", StringComparison.Ordinal) || message.Contains("limit", StringComparison.Ordinal))
            ? outcome
            : $"CRASH: an error that names nothing: {message}";

    private static readonly Dictionary<string, OpAttribute> Factor = new() { ["factor"] = OpAttribute.Of(1.0) };
    private static readonly Dictionary<string, OpAttribute> NoAttributes = [];

    private static int Dimension(Random r) => r.Next(40) switch
    {
        0 => 0,
        1 => -r.Next(1, 5),
        2 => r.Next(100, 100_000),
        3 => int.MaxValue,
        _ => r.Next(1, 5),
    };

    private static double Number(Random r) => r.Next(40) switch
    {
        0 => double.NaN,
        1 => double.PositiveInfinity,
        2 => double.NegativeInfinity,
        3 => 1e308,
        4 => 0.0,
        _ => r.NextDouble() * 4 - 2,
    };

    private static Tensor Value(Random r, int rows, int cols)
    {
        // A value of a shape the builder will reject is still made, small, with the declared shape's
        // numbers where they fit: what matters is what the core says about it.
        if (rows <= 0 || cols <= 0 || (long)rows * cols > 4096) return Tensor.Zeros(Shape.Scalar);
        var t = new Tensor(rows, cols);
        for (var k = 0; k < t.Data.Length; k++) t.Data[k] = Number(r);
        return t;
    }
}
