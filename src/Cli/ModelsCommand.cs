using System.Text.Json.Nodes;
using Adjoint.Client;
using Adjoint.Grains;

namespace Adjoint.Cli;

/// <summary>
/// <c>adjoint models …</c>: the models deployed on a cluster — list, describe, read and export trained
/// parameters, undeploy. An unknown model or version is a user error (exit 1).
/// </summary>
internal static class ModelsCommand
{
    private static async Task<AdjointClient> Connect(ClientChoice backend, CancellationToken cancellationToken)
    {
        // The embedded silo dies with this process and the local engine keeps nothing: only a cluster has models.
        if (backend.Backend != Backend.Cluster)
            throw new UserError("adjoint models needs a running cluster: --cluster REDIS (e.g. --cluster \"$(cat deploy/run/cluster)\")");
        return await backend.ConnectAsync(cancellationToken);
    }

    // An unknown model or version is what the user asked for, not our bug.
    private static async Task<T> Known<T>(Task<T> call)
    {
        try
        {
            return await call;
        }
        catch (KeyNotFoundException e)
        {
            throw new UserError(e.Message);
        }
    }

    private static async Task Known(Task call) => await Known(call.ContinueWith(t => { t.GetAwaiter().GetResult(); return true; }, TaskScheduler.Default));

    private static string Versions(IEnumerable<int> versions) => string.Join(", ", versions);

    /// <summary><c>models list</c>: every model and its versions.</summary>
    public static async Task<int> List(ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using var client = await Connect(backend, cancellationToken);
        var models = await client.ListModelsAsync(cancellationToken);
        if (json)
        {
            var list = new JsonArray();
            foreach (var m in models)
                list.Add(new JsonObject
                {
                    ["id"] = m.GraphId,
                    ["latest"] = m.Versions[^1].Version,
                    ["versions"] = new JsonArray([.. m.Versions.Select(v => (JsonNode?)VersionJson(v))]),
                });
            Output.Json(stdout, new JsonObject { ["models"] = list });
            return 0;
        }
        if (models.Count == 0)
        {
            stdout.WriteLine("no models deployed");
            return 0;
        }
        stdout.WriteLine($"{"MODEL",-24} {"VERSION",7} {"NODES",7} {"PARAMETERS",10} {"ELEMENTS",10} {"PARTITIONS",10}  DEPLOYED");
        foreach (var m in models)
            foreach (var v in m.Versions)
                stdout.WriteLine($"{m.GraphId,-24} {(v == m.Versions[^1] ? $"*{v.Version}" : $"{v.Version}"),7} {v.Nodes,7} {v.Parameters,10} {v.ParameterElements,10} {v.Partitions,10}  {v.DeployedAt:yyyy-MM-ddTHH:mm:ssZ}");
        stdout.WriteLine("(* the latest version, which commands use when no --version is given)");
        return 0;
    }

    private static JsonObject VersionJson(VersionSummary v) => new()
    {
        ["version"] = v.Version, ["nodes"] = v.Nodes, ["parameters"] = v.Parameters,
        ["parameterElements"] = v.ParameterElements, ["partitions"] = v.Partitions,
        ["deployedAt"] = v.DeployedAt.ToString("o"),
    };

    /// <summary><c>models describe ID [--version V]</c>: versions, nodes, parameters and their sizes, layout.</summary>
    public static async Task<int> Describe(string id, int version, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using var client = await Connect(backend, cancellationToken);
        var d = await Known(client.DescribeAsync(id, version, cancellationToken));
        var graph = GraphFile.parse(d.Json, null);
        var parameters = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).Select(n => (n.Id, Shape: graph.ShapeOf(n.Id))).ToList();
        var parts = Enumerable.Range(0, d.Partitions).Select(k => d.Assignment.Count(a => a.Value == k)).ToArray();
        if (json)
        {
            var assignment = new JsonObject();
            foreach (var n in graph.Nodes) assignment[n.Id] = d.Assignment[n.Id];
            Output.Json(stdout, new JsonObject
            {
                ["id"] = d.GraphId, ["version"] = d.Version, ["latest"] = d.Versions[^1] == d.Version,
                ["versions"] = new JsonArray([.. d.Versions.Select(v => (JsonNode?)v)]),
                ["deployedAt"] = d.DeployedAt.ToString("o"), ["nodes"] = d.NodeCount, ["output"] = d.Output,
                ["layout"] = d.Layout, ["partitions"] = d.Partitions,
                ["nodesPerPartition"] = new JsonArray([.. parts.Select(c => (JsonNode?)c)]),
                ["parameters"] = new JsonArray([.. parameters.Select(p => (JsonNode?)new JsonObject
                {
                    ["id"] = p.Id, ["shape"] = new JsonArray([.. p.Shape.Dims.Select(d => (JsonNode?)d)]), ["elements"] = p.Shape.LongCount,
                })]),
                ["assignment"] = assignment,
            });
            return 0;
        }
        stdout.WriteLine($"{d.GraphId} version {d.Version}{(d.Versions[^1] == d.Version ? " (latest)" : "")}, deployed {d.DeployedAt:yyyy-MM-ddTHH:mm:ssZ}; versions {Versions(d.Versions)}");
        stdout.WriteLine($"  {d.NodeCount} nodes, output '{d.Output}'");
        stdout.WriteLine($"  layout {d.Layout}: {d.Partitions} partitions ({string.Join(", ", parts.Select((c, k) => $"part {k}: {c} nodes"))})");
        stdout.WriteLine($"  {parameters.Count} parameters, {parameters.Sum(p => p.Shape.LongCount)} elements:");
        foreach (var (pid, shape) in parameters)
            stdout.WriteLine($"    {pid,-16} {shape} ({shape.LongCount} elements)");
        return 0;
    }

    /// <summary><c>models read ID [--version V]</c>: the current (trained) parameter values.</summary>
    public static async Task<int> Read(string id, int version, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using var client = await Connect(backend, cancellationToken);
        var (d, graph) = await Known(client.ExportAsync(id, version, cancellationToken));
        var parameters = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToList();
        if (json)
        {
            var values = new JsonObject();
            foreach (var n in parameters) values[n.Id] = Output.Tensor(n.Value!.Value);
            Output.Json(stdout, new JsonObject { ["id"] = d.GraphId, ["version"] = d.Version, ["parameters"] = values });
            return 0;
        }
        stdout.WriteLine($"{d.GraphId} version {d.Version}: {parameters.Count} parameters");
        foreach (var n in parameters)
            stdout.WriteLine($"  {n.Id,-16} {Output.Tensor(n.Value!.Value).ToJsonString()}");
        return 0;
    }

    /// <summary><c>models export ID [--version V] -o FILE</c>: the graph file with the trained parameter values.</summary>
    public static async Task<int> Export(string id, int version, string output, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        await using var client = await Connect(backend, cancellationToken);
        var (d, graph) = await Known(client.ExportAsync(id, version, cancellationToken));
        try
        {
            GraphFile.save(graph, output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{output}: cannot write the file: {e.Message}");
        }
        var parameters = graph.Nodes.Count(n => n.Op.Kind == OpKind.Parameter);
        if (json) Output.Json(stdout, new JsonObject { ["id"] = d.GraphId, ["version"] = d.Version, ["file"] = Path.GetFullPath(output), ["parameters"] = parameters });
        else stdout.WriteLine($"wrote {output}: {d.GraphId} version {d.Version} with its {parameters} trained parameters");
        return 0;
    }

    /// <summary><c>models undeploy ID [--version V | --all]</c>: removes versions and their parameter values.</summary>
    public static async Task<int> Undeploy(string id, int version, bool all, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        if (all && version != 0) throw new UserError("give --version V or --all, not both");
        await using var client = await Connect(backend, cancellationToken);
        int[] removed;
        if (all) removed = await Known(client.UndeployAllAsync(id, cancellationToken));
        else
        {
            var target = version != 0 ? version : (await Known(client.DescribeAsync(id, 0, cancellationToken))).Version;
            await Known(client.UndeployAsync(id, target, cancellationToken));
            removed = [target];
        }
        var left = (await client.ListModelsAsync(cancellationToken)).FirstOrDefault(m => m.GraphId == id)?.Versions.Select(v => v.Version).ToArray() ?? [];
        if (json)
            Output.Json(stdout, new JsonObject
            {
                ["id"] = id, ["undeployed"] = new JsonArray([.. removed.Select(v => (JsonNode?)v)]),
                ["versions"] = new JsonArray([.. left.Select(v => (JsonNode?)v)]),
            });
        else stdout.WriteLine($"undeployed {id} version{(removed.Length == 1 ? "" : "s")} {Versions(removed)} and {(removed.Length == 1 ? "its" : "their")} parameter values; {(left.Length == 0 ? "no versions left" : $"versions left: {Versions(left)}")}");
        return 0;
    }
}
