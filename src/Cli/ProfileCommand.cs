// `adjoint profile FILE`: one evaluation (or a batch) with timing on: per node forward and backward time,
// silo and bytes, the critical path with its share of the wall time, the slowest edges, a Chrome trace.
using System.Text.Json.Nodes;
using Adjoint.Client;
using StepTiming = Adjoint.Grains.StepTiming;

namespace Adjoint.Cli;

/// <summary>The profile command; the mathematics (step DAG, critical path) is the core's <see cref="Profile"/>.</summary>
internal static class ProfileCommand
{
    /// <summary>Edges listed as the slowest.</summary>
    private const int SlowestEdges = 5;

    public static async Task<int> Run(string file, string? inputsText, int batchSize, string? tracePath, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        if (backend.Backend == Backend.Local)
            throw new UserError("profile measures the node grains: run it on the embedded silo (the default) or a cluster (--cluster), not --local");
        if (batchSize < 1) throw new UserError($"--batch must be at least 1, got {batchSize}");
        var graph = GraphFile.load(file);
        var plan = Plan.Compile(graph);
        if (!graph.ShapeOf(graph.Output).IsScalar)
            throw new UserError($"output '{graph.Output}' is {graph.ShapeOf(graph.Output)}, not a scalar: profile times the forward and backward passes of a scalar output");
        IReadOnlyDictionary<string, Tensor>? bound = null;
        if (inputsText is not null)
        {
            var (sets, isBatch) = Commands.ReadInputSets(inputsText, graph);
            if (isBatch) throw new UserError("--inputs: profile takes one set of input values (a JSON object); --batch N repeats it");
            bound = sets[0];
        }
        Commands.RequireBound(graph, bound);
        await using var client = await backend.ConnectAsync(cancellationToken);
        var deployed = await client.DeployAsync(Commands.GraphId(file), graph, cancellationToken);
        // One untimed evaluation first: it activates the node grains, which would otherwise dominate the profile.
        await deployed.EvaluateBatchAsync([bound], new BatchOptions(), cancellationToken: cancellationToken).ToListAsync(cancellationToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var results = await deployed.EvaluateBatchAsync(Enumerable.Repeat(bound, batchSize), new BatchOptions { Timing = true, Window = Math.Min(batchSize, 1000) }, cancellationToken: cancellationToken)
            .ToListAsync(cancellationToken);
        var batchWall = clock.Elapsed;
        foreach (var r in results) r.EnsureSucceeded();

        // Microseconds from the batch's first step: small numbers, exact in a double.
        var origin = results.SelectMany(r => r.Timings).Select(t => t.StartTicks).DefaultIfEmpty().Min();
        var evaluations = results.Select(r => r.Timings.Select(t => ToStep(t, origin)).ToArray()).ToList();
        var analyses = evaluations.Select(steps => Profile.analyse(steps, Profile.dependencies(plan, steps))).ToList();
        // With a batch, the evaluation of median wall time stands for it (a typical one, not the slowest).
        var shown = Enumerable.Range(0, analyses.Count).OrderBy(k => analyses[k].Wall).ElementAt(analyses.Count / 2);
        var steps = evaluations[shown];
        var analysis = analyses[shown];
        if (tracePath is not null)
            File.WriteAllText(tracePath, TraceEvents.Of(plan, [.. results.Select(r => r.Timings)]).ToJsonString());
        var silos = steps.Select(s => s.Silo).Distinct().Order(StringComparer.Ordinal).ToList();
        var nodes = NodeRows(plan, steps);
        string Name(int k) => $"{(steps[k].Backward ? "backward" : "forward")} {steps[k].Node}";
        if (json)
        {
            JsonObject StepJson(int k) => new() { ["node"] = steps[k].Node, ["pass"] = steps[k].Backward ? "backward" : "forward", ["silo"] = steps[k].Silo, ["micros"] = steps[k].Duration };
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["backend"] = client.Backend.ToString(), ["evaluations"] = batchSize, ["shownEvaluation"] = shown,
                ["batchMillis"] = batchWall.TotalMilliseconds, ["wallMicros"] = analysis.Wall,
                ["silos"] = new JsonArray([.. silos.Select(s => (JsonNode?)JsonValue.Create(s))]),
                ["nodes"] = new JsonArray([.. nodes.Select(n => (JsonNode?)new JsonObject
                {
                    ["node"] = n.Node, ["op"] = n.Op, ["silo"] = n.Silo, ["forwardMicros"] = n.Forward, ["backwardMicros"] = n.Backward,
                    ["bytesIn"] = n.BytesIn, ["bytesOut"] = n.BytesOut,
                })]),
                ["criticalPath"] = new JsonObject
                {
                    ["steps"] = new JsonArray([.. analysis.Path.Select(k => (JsonNode?)StepJson(k))]),
                    ["computeMicros"] = analysis.PathCompute, ["delayMicros"] = analysis.PathDelay,
                    ["leadMicros"] = analysis.Lead,
                    ["computeShare"] = analysis.ComputeShare, ["delayShare"] = analysis.DelayShare, ["leadShare"] = analysis.LeadShare,
                },
                ["slowestEdges"] = new JsonArray([.. analysis.Edges.Take(SlowestEdges).Select(e => (JsonNode?)new JsonObject
                {
                    ["from"] = StepJson(e.From), ["to"] = StepJson(e.To), ["delayMicros"] = e.Delay,
                })]),
                ["trace"] = tracePath is null ? null : Path.GetFullPath(tracePath),
            });
            return 0;
        }
        stdout.WriteLine($"{file}: {plan.Count} nodes on {silos.Count} silo{(silos.Count == 1 ? "" : "s")} ({client.Backend} back end); "
            + (batchSize == 1 ? $"one evaluation, wall {Micros(analysis.Wall)}"
                : $"{batchSize} evaluations in {batchWall.TotalMilliseconds:F1} ms; evaluation {shown} (median wall {Micros(analysis.Wall)}) shown"));
        stdout.WriteLine($"  {"node",-14} {"op",-12} {"forward",10} {"backward",10} {"bytes in",10} {"bytes out",10}  silo");
        foreach (var n in nodes)
            stdout.WriteLine($"  {Clip(n.Node, 14),-14} {Clip(n.Op, 12),-12} {Micros(n.Forward),10} {(n.Backward is { } b ? Micros(b) : "-"),10} {n.BytesIn,10} {n.BytesOut,10}  {n.Silo}");
        stdout.WriteLine($"critical path: {analysis.Path.Length} steps, {Micros(analysis.PathCompute)} computing ({Percent(analysis.ComputeShare)} of the wall time), "
            + $"{Micros(analysis.PathDelay)} between steps ({Percent(analysis.DelayShare)}), {Micros(analysis.Lead)} before its first step ({Percent(analysis.LeadShare)})");
        stdout.WriteLine($"  {string.Join(" → ", analysis.Path.Select(Name))}");
        stdout.WriteLine("slowest edges (the sender's end to the receiver's start, where the receiver waited for it):");
        foreach (var e in analysis.Edges.Take(SlowestEdges))
            stdout.WriteLine($"  {Name(e.From)} → {Name(e.To)}: {Micros(e.Delay)}{(steps[e.From].Silo == steps[e.To].Silo ? "" : "  (across silos)")}");
        if (tracePath is not null) stdout.WriteLine($"wrote {tracePath} (Chrome trace events: open in https://ui.perfetto.dev or chrome://tracing)");
        return 0;
    }

    private sealed record NodeRow(string Node, string Op, string Silo, double Forward, double? Backward, long BytesIn, long BytesOut);

    // One row per node in plan order: its forward and backward step (if it ran one), bytes of both steps.
    private static List<NodeRow> NodeRows(Plan plan, Profile.Step[] steps)
    {
        var rows = new List<NodeRow>();
        for (var p = 0; p < plan.Count; p++)
        {
            var id = plan.Ids[p];
            var forward = steps.FirstOrDefault(s => s.Node == id && !s.Backward);
            if (forward is null) continue;
            var backward = steps.FirstOrDefault(s => s.Node == id && s.Backward);
            rows.Add(new NodeRow(id, plan.Op(p).Name, forward.Silo, forward.Duration, backward?.Duration,
                forward.BytesIn + (backward?.BytesIn ?? 0), forward.BytesOut + (backward?.BytesOut ?? 0)));
        }
        return rows;
    }

    private static Profile.Step ToStep(StepTiming t, long origin) =>
        new(t.Node, t.Backward, (t.StartTicks - origin) / 10.0, t.DurationTicks / 10.0, t.Silo, t.BytesIn, t.BytesOut);

    private static string Micros(double micros) => micros >= 1000 ? $"{micros / 1000:F2} ms" : $"{micros:F0} µs";

    private static string Percent(double share) => $"{100 * share:F0}%";

    private static string Clip(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";
}
