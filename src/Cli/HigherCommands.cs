// `hvp` and `jvp`: Hessian-vector and Jacobian-vector products of a graph file on any back end.
using System.Text.Json.Nodes;
using Adjoint.Client;

namespace Adjoint.Cli;

/// <summary>What <c>hvp</c> and <c>jvp</c> do; <see cref="Cli"/> wires them to the parser.</summary>
internal static class HigherCommands
{
    /// <summary>
    /// <c>hvp FILE --vector V</c>: Hv for every float64 input and parameter, v given per target (the
    /// nodes of V, or <c>--wrt</c>'s, each of which V must give).
    /// </summary>
    public static async Task<int> Hvp(string file, string vectorFile, string? wrt, string? inputsText, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(file);
        var inputs = Inputs(inputsText, graph);
        var vectors = Targeted(graph, ReadVectors(vectorFile, "--vector", graph), wrt);
        if (!graph.ShapeOf(graph.Output).IsScalar)
            throw new UserError($"output '{graph.Output}' is {graph.ShapeOf(graph.Output)}, not a scalar: a Hessian is of a scalar output (jvp takes any output)");
        await using var client = await backend.ConnectAsync(cancellationToken);
        var deployed = await client.DeployAsync(Commands.GraphId(file), graph, cancellationToken);
        var products = await Refusing(Commands.IsInline(vectorFile) ? "--vector" : Path.GetFileName(vectorFile), () => deployed.HessianVectorAsync(inputs, vectors, cancellationToken));
        var targets = vectors.Keys.Order(StringComparer.Ordinal).ToList();
        if (json)
        {
            var byNode = new JsonObject();
            foreach (var n in graph.Nodes)
                if (products.TryGetValue(n.Id, out var t)) byNode[n.Id] = Output.Tensor(t);
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["output"] = graph.Output, ["backend"] = client.Backend.ToString(),
                ["targets"] = new JsonArray([.. targets.Select(id => (JsonNode?)JsonValue.Create(id))]), ["hvp"] = byNode,
            });
        }
        else
        {
            stdout.WriteLine($"{file}: Hessian-vector product of '{graph.Output}', vectors for {string.Join(", ", targets)} ({client.Backend} back end)");
            foreach (var n in graph.Nodes)
                if (products.TryGetValue(n.Id, out var t))
                    stdout.WriteLine($"  Hv {n.Id,-12} {Output.Brief(t)}");
        }
        return 0;
    }

    /// <summary><c>jvp FILE --tangent T</c>: J v of the output (or <c>--of</c> NODE), tangents per target.</summary>
    public static async Task<int> Jvp(string file, string tangentFile, string? wrt, string? of, string? inputsText, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(file);
        var inputs = Inputs(inputsText, graph);
        var tangents = Targeted(graph, ReadVectors(tangentFile, "--tangent", graph), wrt);
        var node = of ?? graph.Output;
        if (!graph.Contains(node)) throw new UserError($"--of: no node '{node}' in the graph");
        await using var client = await backend.ConnectAsync(cancellationToken);
        var deployed = await client.DeployAsync(Commands.GraphId(file), graph, cancellationToken);
        var jv = await Refusing(Commands.IsInline(tangentFile) ? "--tangent" : Path.GetFileName(tangentFile), () => deployed.JvpAsync(inputs, tangents, node, cancellationToken));
        var targets = tangents.Keys.Order(StringComparer.Ordinal).ToList();
        if (json)
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["of"] = node, ["backend"] = client.Backend.ToString(),
                ["targets"] = new JsonArray([.. targets.Select(id => (JsonNode?)JsonValue.Create(id))]), ["jvp"] = Output.Tensor(jv),
            });
        else
        {
            stdout.WriteLine($"{file}: Jacobian-vector product of '{node}', tangents for {string.Join(", ", targets)} ({client.Backend} back end)");
            stdout.WriteLine($"  Jv {Output.Brief(jv)}");
        }
        return 0;
    }

    private static IReadOnlyDictionary<string, Tensor>? Inputs(string? inputsText, Graph graph)
    {
        IReadOnlyDictionary<string, Tensor>? bound = null;
        if (inputsText is not null)
        {
            var (sets, batch) = Commands.ReadInputSets(inputsText, graph);
            if (batch) throw new UserError("--inputs: one set of input values (a JSON object), not a list");
            bound = sets[0];
        }
        Commands.RequireBound(graph, bound);
        return bound;
    }

    // The vectors of --wrt's nodes: each must be in the file, and the file may hold no others.
    private static IReadOnlyDictionary<string, Tensor> Targeted(Graph graph, (string Name, IReadOnlyDictionary<string, Tensor> Values) file, string? wrt)
    {
        if (wrt is null) return file.Values;
        var targets = wrt.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (targets.Length == 0) throw new UserError("--wrt: name at least one node");
        foreach (var id in targets)
        {
            if (!graph.Contains(id)) throw new UserError($"--wrt: no node '{id}' in the graph");
            if (!file.Values.ContainsKey(id)) throw new UserError($"{file.Name}: node '{id}': no vector given for this target (shape {graph.ShapeOf(id)})");
        }
        foreach (var id in file.Values.Keys)
            if (!targets.Contains(id)) throw new UserError($"{file.Name}: node '{id}' is not a target (--wrt {wrt})");
        return file.Values;
    }

    // The core's refusal of a vector (shape, target kind, an op without a VJP graph) is the user's to fix.
    private static async Task<T> Refusing<T>(string source, Func<Task<T>> run)
    {
        try
        {
            return await run();
        }
        catch (ArgumentException e) when (e is not ArgumentNullException)
        {
            throw new UserError($"{source}: {e.Message}");
        }
    }

    /// <summary>
    /// Tensors by node id from an .npz archive (one array per node, of its shape) or a JSON object (as
    /// <c>--inputs</c> takes; also given inline); the file's name for messages.
    /// </summary>
    private static (string Name, IReadOnlyDictionary<string, Tensor> Values) ReadVectors(string pathOrJson, string option, Graph graph)
    {
        if (!pathOrJson.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
        {
            var shown = Commands.IsInline(pathOrJson) ? option : Path.GetFileName(pathOrJson);
            var (sets, batch) = Commands.ReadInputSets(pathOrJson, graph, option);
            if (batch) throw new UserError($"{shown}: one object of values by node id, not a list");
            return (shown, sets[0]!);
        }
        var name = Path.GetFileName(pathOrJson);
        IReadOnlyDictionary<string, NpyArray> arrays;
        try
        {
            arrays = Npz.readFile(pathOrJson);
        }
        catch (Exception e) when (e is IOException or NpyException or UnauthorizedAccessException)
        {
            throw new UserError($"{name}: cannot read the vectors: {e.Message}");
        }
        var values = new Dictionary<string, Tensor>();
        foreach (var (id, a) in arrays)
        {
            if (!graph.Contains(id)) throw new UserError($"{name}:{id}: no node '{id}' in the graph");
            values[id] = new Tensor(Shape.Of(a.Dims), a.Data);
        }
        return (name, values);
    }
}
