// `adjoint import` (an ONNX model to a graph file) and `adjoint export` (a graph file to an ONNX model).
using System.CommandLine;
using System.Text.Json.Nodes;
using Adjoint.Onnx;

namespace Adjoint.Cli;

/// <summary>The ONNX commands: their options, and what each prints.</summary>
internal static class OnnxCommands
{
    /// <summary>The two commands, their actions run through <paramref name="guard"/>.</summary>
    public static Command[] Make(Option<bool> json, TextWriter stdout, Func<Func<Task<int>>, int> guard)
    {
        var model = new Argument<string>("MODEL") { Description = "An ONNX model file (.onnx; external data files beside it)." };
        var graphOut = new Option<string>("--output", "-o") { Description = "The graph file to write.", Required = true };
        var loss = new Option<string?>("--loss") { Description = "Append a loss on the model's output to train it: cross_entropy (int64 class labels) or mse." };
        loss.AcceptOnlyFromAmong("cross_entropy", "mse");
        var target = new Option<string>("--target") { Description = "The id of the loss's target input.", DefaultValueFactory = _ => "target" };
        var constants = new Option<bool>("--constants") { Description = "Initializers become constants, not trainable parameters." };
        var dims = new Option<string[]>("--dim") { Description = "The size of a symbolic input dimension: NAME=N (repeatable).", AllowMultipleArgumentsPerToken = false };
        var values = new Option<string?>("--values") { Description = "Write the parameters' and constants' values to this .npz file beside the graph file (the graph file names it) instead of inline." };
        var import = new Command("import", "Read an ONNX model (opsets 7-19) into a graph file: nodes mapped to catalogue ops, initializers to parameters, inputs to inputs.")
        { model, graphOut, loss, target, constants, dims, values };
        import.SetAction(r => guard(() => Task.FromResult(Import(r.GetValue(model)!, r.GetValue(graphOut)!, r.GetValue(loss), r.GetValue(target)!,
            r.GetValue(constants), r.GetValue(dims) ?? [], r.GetValue(values), r.GetValue(json), stdout))));

        var file = new Argument<string>("FILE") { Description = "A graph file (JSON)." };
        var onnxOut = new Option<string>("--output", "-o") { Description = "The ONNX model to write.", Required = true };
        var floatType = new Option<string>("--float") { Description = "The floating type of the model's tensors: float (ONNX Runtime's usual) or double.", DefaultValueFactory = _ => "float" };
        floatType.AcceptOnlyFromAmong("float", "double");
        var node = new Option<string?>("--node") { Description = "The node exported as the model's output (default: the graph's output, or the model output a loss is computed from)." };
        var export = new Command("export", $"Write a graph file's forward computation as an ONNX model (opset {OnnxExporter.Opset}) for inference, parameters as initializers.")
        { file, onnxOut, floatType, node };
        export.SetAction(r => guard(() => Task.FromResult(Export(r.GetValue(file)!, r.GetValue(onnxOut)!, r.GetValue(floatType)!, r.GetValue(node), r.GetValue(json), stdout))));
        return [import, export];
    }

    static string Counts(IReadOnlyDictionary<string, int> ops) =>
        string.Join(", ", ops.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));

    static JsonObject CountsJson(IReadOnlyDictionary<string, int> ops) =>
        new(ops.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));

    /// <summary><c>import MODEL -o FILE</c>.</summary>
    public static int Import(string model, string output, string? loss, string target, bool constants, string[] dims, string? values, bool json, TextWriter stdout)
    {
        if (values is not null && (!values.EndsWith(".npz", StringComparison.OrdinalIgnoreCase) || Path.GetFileName(values) != values))
            throw new UserError($"--values '{values}': give a file name ending in .npz; it is written beside {output}");
        var sizes = new Dictionary<string, int>();
        foreach (var d in dims)
        {
            var parts = d.Split('=');
            if (parts.Length != 2 || parts[0].Length == 0 || !int.TryParse(parts[1], out var n) || n <= 0)
                throw new UserError($"--dim '{d}': give NAME=N with N a positive whole number");
            sizes[parts[0]] = n;
        }
        ImportResult r;
        try
        {
            r = OnnxImporter.Import(model, new ImportOptions { Constants = constants, Loss = loss, Target = target, Dimensions = sizes });
        }
        catch (OnnxException e)
        {
            throw new UserError(e.Message);
        }
        try
        {
            if (values is null) GraphFile.save(r.Graph, output);
            else SaveWithSideFile(r.Graph, output, values);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{output}: cannot write the file: {e.Message}");
        }
        var g = r.Graph;
        var outShape = g.ShapeOf(r.ModelOutput);
        var scalar = g.ShapeOf(g.Output).Count == 1;
        if (json)
        {
            Output.Json(stdout, new JsonObject
            {
                ["model"] = model, ["file"] = Path.GetFullPath(output), ["opset"] = r.Opset, ["float"] = r.FloatType,
                ["onnx_ops"] = CountsJson(r.OnnxOps), ["folded"] = r.Folded, ["nodes"] = g.Count,
                ["ops"] = CountsJson(g.Nodes.GroupBy(n => n.Op.Name).ToDictionary(k => k.Key, k => k.Count())),
                ["parameters"] = r.Parameters.Count, ["parameter_elements"] = r.ParameterElements,
                ["inputs"] = new JsonArray([.. r.Inputs.Select(i => (JsonNode?)i)]), ["output"] = g.Output, ["model_output"] = r.ModelOutput,
                ["bytes"] = r.Bytes, ["seconds"] = r.Seconds,
            });
            return 0;
        }
        stdout.WriteLine($"read {model}: opset {r.Opset}, {r.FloatType}, {r.Bytes} bytes, {r.OnnxOps.Values.Sum()} ONNX nodes ({Counts(r.OnnxOps)}); {r.Folded} folded at import");
        if (values is not null) stdout.WriteLine($"wrote {values}: the values of {g.Nodes.Count(n => n.Op.Kind is OpKind.Parameter or OpKind.Constant)} parameters and constants");
        stdout.WriteLine($"wrote {output}: {g.Count} nodes ({Counts(g.Nodes.GroupBy(n => n.Op.Name).ToDictionary(k => k.Key, k => k.Count()))})");
        stdout.WriteLine($"  {r.Parameters.Count} parameters ({r.ParameterElements} elements), inputs {string.Join(", ", r.Inputs.Select(i => $"{i} {g.ShapeOf(i)}"))}");
        stdout.WriteLine(loss is not null
            ? $"  output '{g.Output}': {loss} of the model's output '{r.ModelOutput}' {outShape} and '{target}'"
            : scalar
                ? $"  output '{g.Output}' {outShape}: one element, the scalar to differentiate"
                : $"  output '{g.Output}' {outShape} is not a scalar: give --loss cross_entropy|mse --target NAME to train it");
        stdout.WriteLine($"  in {r.Seconds:F3} s");
        return 0;
    }

    /// <summary>The graph file without the stored values, which go to an .npz file beside it (by node id;
    /// `"values"` names it), so that a model of millions of parameters is not millions of JSON numbers.</summary>
    static void SaveWithSideFile(Graph graph, string output, string values)
    {
        var stored = graph.Nodes.Where(n => n.Op.Kind is OpKind.Parameter or OpKind.Constant).ToList();
        var root = JsonNode.Parse(GraphFile.toCompactJson(graph))!.AsObject();
        foreach (var n in root["nodes"]!.AsArray())
            if (n!["op"]!.GetValue<string>() is "parameter" or "constant") n.AsObject().Remove("value");
        var ordered = new JsonObject();
        foreach (var (k, v) in root.ToList())
        {
            root.Remove(k);
            ordered[k] = v;
            if (k == "output") ordered["values"] = values;
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Npz.writeFile(Path.Combine(directory, values), stored.Select(n => KeyValuePair.Create(n.Id, new NpyArray(n.Value.Value.Shape.Dims.ToArray(), n.Value.Value.Data))));
        File.WriteAllText(output, ordered.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary><c>export FILE -o MODEL</c>.</summary>
    public static int Export(string file, string output, string floatType, string? node, bool json, TextWriter stdout)
    {
        var graph = GraphFile.load(file);
        ExportResult r;
        try
        {
            r = OnnxExporter.Export(graph, new ExportOptions { FloatType = floatType, Output = node });
        }
        catch (OnnxException e)
        {
            throw new UserError($"{file}: {e.Message}");
        }
        try
        {
            File.WriteAllBytes(output, r.Model);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{output}: cannot write the file: {e.Message}");
        }
        var elements = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).Sum(n => (long)n.Value.Value.Count);
        if (json)
        {
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["model"] = Path.GetFullPath(output), ["opset"] = OnnxExporter.Opset, ["float"] = floatType,
                ["output"] = r.Output, ["onnx_ops"] = CountsJson(r.OnnxOps), ["parameters"] = r.Parameters, ["parameter_elements"] = elements,
                ["constants"] = r.Constants, ["inputs"] = new JsonArray([.. r.Inputs.Select(i => (JsonNode?)i)]), ["bytes"] = r.Model.Length,
            });
            return 0;
        }
        stdout.WriteLine($"wrote {output}: opset {OnnxExporter.Opset}, {floatType}, {r.Model.Length} bytes, output '{r.Output}'");
        stdout.WriteLine($"  {r.OnnxOps.Values.Sum()} ONNX nodes ({Counts(r.OnnxOps)})");
        stdout.WriteLine($"  {r.Parameters} parameters as initializers ({elements} elements), {r.Constants} constants, inputs {string.Join(", ", r.Inputs)}");
        return 0;
    }
}
