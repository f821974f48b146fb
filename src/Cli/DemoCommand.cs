using System.Diagnostics;
using System.Text.Json.Nodes;
using Adjoint.Client;
using Spectre.Console;

namespace Adjoint.Cli;

/// <summary>
/// <c>adjoint demo</c>: the seed's two-layer net ‖σ(XW1)W2 − y‖² on an embedded silo, its distributed
/// gradient checked against the local engine and finite differences, then trained in the parameter
/// grains, with a loss curve and a picture of the graph.
/// </summary>
internal static class DemoCommand
{
    public static async Task<int> RunAsync(string examples, string outDir, int steps, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Interactive = InteractionSupport.Detect });
        // Redirected output has no terminal width: do not wrap lines at Spectre's default of 80.
        if (Console.IsOutputRedirected || stdout != Console.Out) console.Profile.Width = 160;
        void Say(string markup) { if (!json) console.MarkupLine(markup); }
        if (steps < 1) throw new UserError($"--steps must be at least 1, got {steps}");
        if (File.Exists(outDir)) throw new UserError($"--out '{outDir}' is a file; give a folder (it is made if missing)");
        Directory.CreateDirectory(outDir);
        var graph = GraphFile.load(Path.Combine(examples, "two-layer.json"));
        var plan = Plan.Compile(graph);

        var watch = Stopwatch.StartNew();
        await using var client = await backend.ConnectAsync(cancellationToken);
        Say($"[bold]Adjoint demo[/]: the seed's two-layer net ||sigma(X W1) W2 - y||^2, {graph.Count} nodes, GEMM {Engine.gemmBackend}");
        Say($"  {client.Backend} back end ready in {watch.Elapsed.TotalSeconds:F1} s");
        var net = await client.DeployAsync("two-layer-demo", graph, cancellationToken);
        // On a cluster the version keeps what an earlier demo trained into it: every run starts from the
        // file's parameters (and fresh Adam moments), which the checks below compare against.
        foreach (var n in graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter))
            await net.WriteParameterAsync(n.Id, n.Value!.Value, cancellationToken);

        // 1. The distributed gradient against the local engine, bit for bit.
        var distributed = await net.EvaluateBatchAsync([null], new BatchOptions { ReportValues = true }, cancellationToken: cancellationToken)
            .SingleAsync(cancellationToken);
        distributed.EnsureSucceeded();
        var local = Engine.gradient(Adjoints.All, plan, null);
        var compared = 0;
        var equal = true;
        for (var p = 0; p < plan.Count; p++)
        {
            if (local.AdjointAt(p) is not { } lambda) continue;
            compared++;
            equal &= distributed.Adjoints.TryGetValue(plan.Ids[p], out var d) && Tensor.BitwiseEqual(lambda, d);
        }
        Say($"  loss z_n = {distributed.Loss:R}");
        Say($"  {client.Backend} adjoints vs local engine: {(equal ? "[green]bitwise equal[/]" : "[red]DIFFERENT[/]")} ({compared} adjoints)");

        // 2. Finite differences and the Lagrangian certificate of the distributed (z, λ).
        var check = Checks.gradientCheck(plan, null);
        var values = Enumerable.Range(0, plan.Count).Select(p => distributed.Values[plan.Ids[p]]).ToArray();
        var adjoints = Enumerable.Range(0, plan.Count).Select(p => distributed.Adjoints.GetValueOrDefault(plan.Ids[p])!).ToArray();
        var residuals = Checks.residuals(plan, values, adjoints);
        Say($"  gradient check vs central differences: max relative error {check.MaxRelativeError:E2}");
        Say($"  Lagrangian residuals: primal {residuals.Primal:E2}, dual {residuals.Dual:E2}");

        // 3. Training: Adam steps applied in the parameter grains, each on a mini-batch of 4 input sets.
        var data = Dataset(graph, 4 * steps);
        var optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.05 };
        var losses = new List<double>();
        async Task TrainAsync(ProgressTask? task)
        {
            for (var s = 0; s < steps; s++)
            {
                losses.Add(await net.TrainStepAsync(data.Skip(4 * s).Take(4), optimizer, cancellationToken));
                if (task is not null)
                {
                    task.Increment(1);
                    task.Description = $"training (loss {losses[^1]:F4})";
                }
            }
        }
        watch.Restart();
        if (json) await TrainAsync(null);
        else
            await console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(ctx => TrainAsync(ctx.AddTask("training", maxValue: steps)));
        Say($"  {steps} Adam steps in the parameter grains in {watch.Elapsed.TotalSeconds:F1} s: loss {losses[0]:F4} -> {losses[^1]:F4}");
        // The curve is not the z_n above: it is trained on data of its own, so that there is something to learn.
        Say("  (trained on mini-batches of 4 random X with y = tanh(X a) for a hidden teacher a, not on the file's X and y)");

        // 4. Pictures.
        var png = Path.Combine(outDir, "loss.png");
        var noPlot = Plots.TrySavePng(png, 800, 500, plot =>
        {
            plot.Add.Scatter(Enumerable.Range(0, losses.Count).Select(i => (double)i).ToArray(), losses.ToArray());
            plot.Title("two-layer net: training loss (Adam, mini-batches of 4)");
            plot.XLabel("step");
            plot.YLabel("mean loss");
        });
        var dot = Path.Combine(outDir, "two-layer.dot");
        File.WriteAllText(dot, Dot.toDot(graph));
        var svg = Commands.TryRenderSvg(dot);
        Say(noPlot is null ? $"  wrote {png}" : $"  [yellow]{Markup.Escape(noPlot)}[/]");
        Say($"  wrote {dot}{(svg is null ? " (install Graphviz's dot for an SVG)" : $" and {svg}")}");

        var passed = equal && check.MaxRelativeError < 1e-6 && residuals.Primal < 1e-12 && residuals.Dual < 1e-12 && losses[^1] < losses[0];
        if (json)
            Output.Json(stdout, new JsonObject
            {
                ["backend"] = client.Backend.ToString(), ["loss"] = distributed.Loss, ["bitwiseEqualToLocal"] = equal,
                ["adjointsCompared"] = compared, ["gradientCheckMaxRelativeError"] = check.MaxRelativeError,
                ["residuals"] = new JsonObject { ["primal"] = residuals.Primal, ["dual"] = residuals.Dual },
                ["losses"] = new JsonArray(losses.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
                ["png"] = noPlot is null ? Path.GetFullPath(png) : null, ["pngSkipped"] = noPlot, ["dot"] = Path.GetFullPath(dot), ["svg"] = svg is null ? null : Path.GetFullPath(svg),
                ["passed"] = passed,
            });
        else
            Say(passed ? "[green]all checks passed[/]" : "[red]CHECK FAILED[/]");
        return passed ? 0 : 2;
    }

    /// <summary>
    /// Mini-batches drawn from a fixed teacher: y = tanh(X a) for a hidden a, so that the net has
    /// something to learn; seeded, so every run trains on the same data.
    /// </summary>
    private static List<IReadOnlyDictionary<string, Tensor>?> Dataset(Graph graph, int count)
    {
        var shapeX = graph.ShapeOf("X");
        var random = new Random(16);
        var teacher = Enumerable.Range(0, shapeX.Cols).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var sets = new List<IReadOnlyDictionary<string, Tensor>?>(count);
        for (var i = 0; i < count; i++)
        {
            var x = new Tensor(shapeX.Rows, shapeX.Cols);
            for (var k = 0; k < x.Count; k++) x.Data[k] = random.NextDouble() * 2 - 1;
            var y = new Tensor(shapeX.Rows, 1);
            for (var r = 0; r < shapeX.Rows; r++)
                y.Data[r] = Math.Tanh(Enumerable.Range(0, shapeX.Cols).Sum(c => x[r, c] * teacher[c]));
            sets.Add(new Dictionary<string, Tensor> { ["X"] = x, ["y"] = y });
        }
        return sets;
    }
}
