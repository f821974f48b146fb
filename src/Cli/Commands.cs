using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Adjoint.Client;

namespace Adjoint.Cli;

/// <summary>What each command does; <see cref="Cli"/> wires them to the parser.</summary>
internal static class Commands
{
    /// <summary>The exit code of a <c>check</c> that ran but did not pass.</summary>
    public const int CheckFailed = 3;

    /// <summary><c>check FILE</c>: validate, gradient on the back end, gradient check, Lagrangian residuals.</summary>
    public static async Task<int> Check(string file, string? inputsText, double step, double tolerance, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(file);
        var plan = Plan.Compile(graph);
        IReadOnlyDictionary<string, Tensor>? bound = null;
        if (inputsText is not null)
        {
            var (sets, batch) = ReadInputSets(inputsText, graph);
            if (batch) throw new UserError("--inputs: check takes one set of input values (a JSON object), not a list");
            bound = sets[0];
        }
        RequireBound(graph, bound);
        if (!graph.ShapeOf(graph.Output).IsScalar)
        {
            // Still a valid graph: say so, and why there is no gradient to check.
            if (json) Output.Json(stdout, new JsonObject { ["file"] = file, ["valid"] = true, ["nodes"] = graph.Count, ["gradient"] = null });
            else stdout.WriteLine($"{file}: valid, {graph.Count} nodes; output '{graph.Output}' is {graph.ShapeOf(graph.Output)}, not a scalar: no gradient to check");
            return 0;
        }
        await using var client = await backend.ConnectAsync(cancellationToken);
        var deployed = await client.DeployAsync(GraphId(file), graph, cancellationToken);
        var result = (await deployed.EvaluateBatchAsync([bound], new BatchOptions { ReportValues = true }, cancellationToken: cancellationToken)
            .SingleAsync(cancellationToken)).EnsureSucceeded();
        // The back end's (z, λ) certified by the Lagrangian; the local engine's λ by central differences.
        var residuals = Checks.residuals(plan,
            Enumerable.Range(0, plan.Count).Select(p => result.Values[plan.Ids[p]]).ToArray(),
            Enumerable.Range(0, plan.Count).Select(p => result.Adjoints.GetValueOrDefault(plan.Ids[p])).ToArray()!);
        var check = Checks.gradientCheckWith(step, 1e-6, plan, bound);
        var local = Engine.gradient(Adjoints.All, plan, bound);
        var equal = Enumerable.Range(0, plan.Count).All(p => local.AdjointAt(p) is not { } l
            || result.Adjoints.TryGetValue(plan.Ids[p], out var d) && Tensor.BitwiseEqual(l, d));
        var passed = check.MaxRelativeError <= tolerance && equal;
        if (json)
        {
            var inputs = new JsonArray();
            foreach (var i in check.Inputs)
                inputs.Add(new JsonObject { ["node"] = i.Node, ["maxRelativeError"] = Output.Number(i.MaxRelativeError), ["maxAbsoluteError"] = Output.Number(i.MaxAbsoluteError), ["elements"] = i.Elements });
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["valid"] = true, ["nodes"] = graph.Count, ["output"] = graph.Output,
                ["backend"] = client.Backend.ToString(), ["value"] = Output.Number(result.Loss), ["bitwiseEqualToLocal"] = equal,
                ["step"] = step, ["tolerance"] = tolerance,
                ["gradient"] = new JsonObject { ["maxRelativeError"] = Output.Number(check.MaxRelativeError), ["inputs"] = inputs },
                ["residuals"] = new JsonObject { ["primal"] = Output.Number(residuals.Primal), ["dual"] = Output.Number(residuals.Dual) },
                ["passed"] = passed,
            });
        }
        else
        {
            stdout.WriteLine($"{file}: valid, {graph.Count} nodes, output '{graph.Output}' = {result.Loss:R} ({client.Backend} back end)");
            stdout.WriteLine($"adjoints vs the local engine: {(equal ? "bitwise equal" : "DIFFERENT")}");
            stdout.WriteLine($"gradient check (central differences, step {step:G3}):");
            foreach (var i in check.Inputs)
                stdout.WriteLine($"  {i.Node,-12} max relative error {i.MaxRelativeError:E2} ({i.Elements} elements)");
            stdout.WriteLine($"Lagrangian residuals: primal {residuals.Primal:E2}, dual {residuals.Dual:E2}");
            stdout.WriteLine(passed ? "ok" : $"FAILED: max relative error {check.MaxRelativeError:E2} (tolerance {tolerance:E2}), bitwise equal {equal}");
        }
        // A check that does not pass has its own exit code: the graph may be at a kink or the step too
        // coarse (the user's to judge), or the back end disagrees with the local engine (ours).
        return passed ? 0 : CheckFailed;
    }

    /// <summary>
    /// <c>grad FILE [--inputs DATA]</c>: values and adjoints. DATA is one object of values by node id,
    /// or a list of them for a batch.
    /// </summary>
    public static async Task<int> Grad(string file, string? inputsFile, bool all, bool detectAnomaly, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(file);
        var (sets, batch) = inputsFile is null ? ([null], false) : ReadInputSets(inputsFile, graph);
        foreach (var set in sets) RequireBound(graph, set);
        var mode = all ? Adjoints.All : Adjoints.InputsAndParameters;
        IReadOnlyList<GradientResult> results;
        if (detectAnomaly)
        {
            // Anomaly mode looks inside one evaluation node by node: it runs on the local engine.
            var plan = Plan.Compile(graph);
            results = sets.Select(inputs =>
            {
                var e = Engine.bind(plan, inputs);
                Anomaly.forward(e);
                Anomaly.backward(mode, e);
                return new GradientResult
                {
                    Output = e.Output,
                    Adjoints = Enumerable.Range(0, plan.Count).Where(p => e.AdjointAt(p) is not null && (all || plan.Op(p).Kind is OpKind.Input or OpKind.Parameter))
                        .ToDictionary(p => plan.Ids[p], p => e.AdjointAt(p)),
                };
            }).ToList();
        }
        else
        {
            await using var client = await backend.ConnectAsync(cancellationToken);
            var deployed = await client.DeployAsync(GraphId(file), graph, cancellationToken);
            results = await deployed.EvaluateBatchAsync(sets, new BatchOptions { Adjoints = mode, ReportValues = all }, cancellationToken: cancellationToken)
                .ToListAsync(cancellationToken);
        }
        if (!batch) results[0].EnsureSucceeded();
        if (json)
        {
            var items = results.Select(r => (JsonNode?)ResultJson(graph, r)).ToArray();
            Output.Json(stdout, batch ? new JsonArray(items) : items[0]!);
        }
        else
        {
            foreach (var (r, i) in results.Select((r, i) => (r, i)))
            {
                var prefix = batch ? $"[{i}] " : "";
                if (!r.Succeeded) { stdout.WriteLine($"{prefix}failed: {r.Failure}"); continue; }
                stdout.WriteLine($"{prefix}{graph.Output} = {Output.Brief(r.Output!)}");
                foreach (var n in graph.Nodes)
                    if (r.Adjoints.TryGetValue(n.Id, out var lambda))
                        stdout.WriteLine($"{prefix}  lambda {n.Id,-12} {Output.Brief(lambda)}");
            }
        }
        return results.All(r => r.Succeeded) ? 0 : 1;
    }

    /// <summary><c>partition FILE --silos N</c>: the parts the cluster would place, their costs and the bytes cut.</summary>
    public static int PartitionGraph(string file, int silos, bool json, TextWriter stdout)
    {
        if (silos < 1) throw new UserError($"--silos must be at least 1, got {silos}");
        var plan = Plan.Compile(GraphFile.load(file));
        var parts = Partition.assign(plan, silos);
        var loads = Partition.loads(plan, silos, parts);
        var cut = Partition.cutBytes(plan, parts);
        var mean = loads.Average();
        var balance = mean == 0 ? 1.0 : loads.Max() / mean;
        var counts = Enumerable.Range(0, silos).Select(k => parts.Count(p => p == k)).ToArray();
        if (json)
        {
            var byPart = new JsonArray();
            for (var k = 0; k < silos; k++)
                byPart.Add(new JsonObject
                {
                    ["part"] = k, ["nodes"] = counts[k], ["cost"] = loads[k],
                    ["ids"] = new JsonArray(Enumerable.Range(0, plan.Count).Where(p => parts[p] == k).Select(p => (JsonNode?)JsonValue.Create(plan.Ids[p])).ToArray()),
                });
            Output.Json(stdout, new JsonObject { ["file"] = file, ["silos"] = silos, ["cutBytes"] = cut, ["balance"] = balance, ["parts"] = byPart });
        }
        else
        {
            stdout.WriteLine($"{file}: {plan.Count} nodes in {silos} parts; {cut} bytes cross parts per evaluation with gradients; balance (max/mean cost) {balance:F3}");
            for (var k = 0; k < silos; k++)
            {
                var ids = Enumerable.Range(0, plan.Count).Where(p => parts[p] == k).Select(p => plan.Ids[p]).ToList();
                var shown = string.Join(", ", ids.Take(20)) + (ids.Count > 20 ? $", … ({ids.Count - 20} more; --json lists all)" : "");
                stdout.WriteLine($"  part {k}: {counts[k]} nodes, estimated cost {loads[k]:G4}{(ids.Count > 0 ? $": {shown}" : "")}");
            }
        }
        return 0;
    }

    /// <summary><c>render FILE</c>: DOT, and SVG when Graphviz is installed.</summary>
    public static int Render(string file, string? output, bool json, TextWriter stdout)
    {
        var graph = GraphFile.load(file);
        // Beside the graph file, not in whatever folder the command was started from.
        var dotPath = output ?? Path.ChangeExtension(file, ".dot");
        File.WriteAllText(dotPath, Dot.toDot(graph));
        var svgPath = TryRenderSvg(dotPath);
        if (json) Output.Json(stdout, new JsonObject { ["dot"] = Path.GetFullPath(dotPath), ["svg"] = svgPath is null ? null : Path.GetFullPath(svgPath) });
        else
        {
            stdout.WriteLine($"wrote {dotPath}");
            stdout.WriteLine(svgPath is null ? "(install Graphviz's `dot` for an SVG too)" : $"wrote {svgPath}");
        }
        return 0;
    }

    /// <summary>Runs Graphviz's <c>dot</c> if it is on the PATH; null when it is not.</summary>
    public static string? TryRenderSvg(string dotPath)
    {
        var svgPath = Path.ChangeExtension(dotPath, ".svg");
        try
        {
            using var dot = Process.Start(new ProcessStartInfo("dot", ["-Tsvg", dotPath, "-o", svgPath])
            { RedirectStandardError = true, UseShellExecute = false });
            if (dot is null) return null;
            dot.WaitForExit();
            return dot.ExitCode == 0 ? svgPath : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>The id a file's graph is deployed under: its name, which keeps versions per file.</summary>
    internal static string GraphId(string file) => Path.GetFileNameWithoutExtension(file).Replace('/', '_');

    /// <summary>
    /// <c>--inputs</c>: a file, or the JSON itself when it starts with <c>{</c> or <c>[</c> (an object of
    /// values by node id, or a list of them for a batch).
    /// </summary>
    internal static (IReadOnlyList<IReadOnlyDictionary<string, Tensor>?> Sets, bool Batch) ReadInputSets(string pathOrJson, Graph graph)
    {
        var inline = pathOrJson.TrimStart() is ['{' or '[', ..] && !File.Exists(pathOrJson);
        var name = inline ? "--inputs" : Path.GetFileName(pathOrJson);
        string text;
        if (inline) text = pathOrJson;
        else
        {
            try { text = File.ReadAllText(pathOrJson); }
            catch (IOException e) { throw new UserError($"{pathOrJson}: cannot read the file: {e.Message}"); }
        }
        JsonNode? root;
        try { root = JsonNode.Parse(text); }
        catch (JsonException e) { throw new UserError($"{name}: not valid JSON: {e.Message}"); }
        if (root is JsonArray list)
            return (list.Select((item, i) => (IReadOnlyDictionary<string, Tensor>?)GraphFile.parseValues(item?.ToJsonString() ?? "null", $"{name}[{i}]", graph)).ToList(), true);
        return ([GraphFile.parseValues(text, name, graph)], false);
    }

    // An input with neither a value in the file nor one given: say how to give it, before anything runs.
    internal static void RequireBound(Graph graph, IReadOnlyDictionary<string, Tensor>? given)
    {
        foreach (var n in graph.Nodes)
            if (n.Op.Kind == OpKind.Input && n.Value is null && (given is null || !given.ContainsKey(n.Id)))
                throw new UserError($"node '{n.Id}': input of shape {graph.ShapeOf(n.Id)} has no value; give it one in the graph file or with --inputs '{{\"{n.Id}\": …}}'");
    }

    private static JsonObject ResultJson(Graph graph, GradientResult r)
    {
        if (!r.Succeeded)
            return new JsonObject { ["failure"] = new JsonObject { ["node"] = r.Failure!.Node, ["op"] = r.Failure.Op, ["message"] = r.Failure.Message } };
        // Nodes in declaration order, whatever order the back end reported them in.
        JsonObject ByNode(IReadOnlyDictionary<string, Tensor> tensors)
        {
            var o = new JsonObject();
            foreach (var n in graph.Nodes)
                if (tensors.TryGetValue(n.Id, out var t)) o[n.Id] = Output.Tensor(t);
            return o;
        }
        var result = new JsonObject { ["output"] = graph.Output, ["value"] = Output.Tensor(r.Output!), ["adjoints"] = ByNode(r.Adjoints) };
        if (r.Values.Count > 0) result["values"] = ByNode(r.Values);
        return result;
    }
}
