using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Adjoint.Cli;

/// <summary>What each command does, on the local engine; <see cref="Program"/> wires them to the parser.</summary>
internal static class Commands
{
    public static Plan Load(string file)
    {
        var graph = GraphFile.load(file);
        return Plan.Compile(graph);
    }

    /// <summary><c>check FILE</c>: validate, gradient check, Lagrangian residuals.</summary>
    public static int Check(string file, double step, double tolerance, bool json, TextWriter stdout)
    {
        var plan = Load(file);
        var graph = plan.Graph;
        if (!graph.ShapeOf(graph.Output).IsScalar)
        {
            // Still a valid graph: say so, and why there is no gradient to check.
            if (json) Output.Json(stdout, new JsonObject { ["file"] = file, ["valid"] = true, ["nodes"] = graph.Count, ["gradient"] = null });
            else stdout.WriteLine($"{file}: valid, {graph.Count} nodes; output '{graph.Output}' is {graph.ShapeOf(graph.Output)}, not a scalar: no gradient to check");
            return 0;
        }
        var evaluation = Engine.gradient(Adjoints.All, plan, null);
        var check = Checks.gradientCheckWith(step, 1e-6, plan, null);
        var residuals = Checks.residualsOf(evaluation);
        var passed = check.MaxRelativeError <= tolerance;
        if (json)
        {
            var inputs = new JsonArray();
            foreach (var i in check.Inputs)
                inputs.Add(new JsonObject { ["node"] = i.Node, ["maxRelativeError"] = i.MaxRelativeError, ["maxAbsoluteError"] = i.MaxAbsoluteError, ["elements"] = i.Elements });
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["valid"] = true, ["nodes"] = graph.Count, ["output"] = graph.Output,
                ["value"] = evaluation.Output.ScalarValue, ["step"] = step, ["tolerance"] = tolerance,
                ["gradient"] = new JsonObject { ["maxRelativeError"] = check.MaxRelativeError, ["inputs"] = inputs },
                ["residuals"] = new JsonObject { ["primal"] = residuals.Primal, ["dual"] = residuals.Dual },
                ["passed"] = passed,
            });
        }
        else
        {
            stdout.WriteLine($"{file}: valid, {graph.Count} nodes, output '{graph.Output}' = {evaluation.Output.ScalarValue:R}");
            stdout.WriteLine($"gradient check (central differences, step {step:G3}):");
            foreach (var i in check.Inputs)
                stdout.WriteLine($"  {i.Node,-12} max relative error {i.MaxRelativeError:E2} ({i.Elements} elements)");
            stdout.WriteLine($"Lagrangian residuals: primal {residuals.Primal:E2}, dual {residuals.Dual:E2}");
            stdout.WriteLine(passed ? "ok" : $"FAILED: max relative error {check.MaxRelativeError:E2} > tolerance {tolerance:E2}");
        }
        // A gradient that disagrees with finite differences is a wrong VJP: our bug, not the user's.
        return passed ? 0 : 2;
    }

    /// <summary><c>grad FILE [--inputs DATA]</c>: values and adjoints.</summary>
    public static int Grad(string file, string? inputsFile, bool all, bool detectAnomaly, bool json, TextWriter stdout)
    {
        var plan = Load(file);
        var inputs = inputsFile is null ? null : GraphFile.loadValues(inputsFile, plan.Graph);
        var mode = all ? Adjoints.All : Adjoints.InputsAndParameters;
        var e = Engine.bind(plan, inputs);
        if (detectAnomaly)
        {
            Anomaly.forward(e);
            Anomaly.backward(mode, e);
        }
        else
        {
            Engine.forward(e);
            Engine.backward(mode, e);
        }
        var shown = Enumerable.Range(0, plan.Count).Where(p => e.AdjointAt(p) is not null
            && (all || plan.Op(p).Kind is OpKind.Input or OpKind.Parameter)).ToList();
        if (json)
        {
            var adjoints = new JsonObject();
            foreach (var p in shown) adjoints[plan.Ids[p]] = Output.Tensor(e.AdjointAt(p));
            var values = new JsonObject();
            if (all) foreach (var p in Enumerable.Range(0, plan.Count)) values[plan.Ids[p]] = Output.Tensor(e.ValueAt(p));
            var result = new JsonObject
            {
                ["output"] = plan.Graph.Output, ["value"] = Output.Tensor(e.Output),
                ["adjoints"] = adjoints,
            };
            if (all) result["values"] = values;
            Output.Json(stdout, result);
        }
        else
        {
            stdout.WriteLine($"{plan.Graph.Output} = {Output.Brief(e.Output)}");
            foreach (var p in shown)
                stdout.WriteLine($"  lambda {plan.Ids[p],-12} {Output.Brief(e.AdjointAt(p))}");
        }
        return 0;
    }

    /// <summary><c>render FILE</c>: DOT, and SVG when Graphviz is installed.</summary>
    public static int Render(string file, string? output, bool json, TextWriter stdout)
    {
        var graph = GraphFile.load(file);
        var dotPath = output ?? Path.ChangeExtension(Path.GetFileName(file), ".dot");
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
}
