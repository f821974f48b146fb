// `adjoint partition FILE --cluster REDIS`: where each node grain actually runs, next to the partitioner's plan.
using System.Text.Json.Nodes;
using Adjoint.Client;
using IGraphGrain = Adjoint.Grains.IGraphGrain;

namespace Adjoint.Cli;

/// <summary>Deploys the graph (as <c>grad --cluster</c> does) and asks every node grain the silo it runs on.</summary>
internal static class PlacementCommand
{
    public static async Task<int> Run(string file, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(file);
        var id = Commands.GraphId(file);
        await using var client = await backend.ConnectAsync(cancellationToken);
        await client.DeployAsync(id, graph, cancellationToken);
        var description = await client.DescribeAsync(id, 0, cancellationToken);
        // Each node grain answers from where it runs (activated by the placement director if it was not).
        var actual = await client.Grains!.GetGrain<IGraphGrain>(id).Placement(description.Version).WaitAsync(cancellationToken);
        var plan = Plan.Compile(graph);
        var rows = Enumerable.Range(0, plan.Count)
            .Select(p => (Node: plan.Ids[p], Op: plan.Op(p).Name, Part: description.Assignment[plan.Ids[p]], Silo: actual[plan.Ids[p]])).ToList();
        var parts = rows.GroupBy(r => r.Part).OrderBy(g => g.Key)
            .Select(g => (Part: g.Key, Nodes: g.Count(), Silos: g.Select(r => r.Silo).Distinct().Order(StringComparer.Ordinal).ToList())).ToList();
        var silos = rows.Select(r => r.Silo).Distinct().Count();
        if (json)
        {
            Output.Json(stdout, new JsonObject
            {
                ["file"] = file, ["graph"] = id, ["version"] = description.Version, ["partitions"] = description.Partitions, ["silos"] = silos,
                ["nodes"] = new JsonArray([.. rows.Select(r => (JsonNode?)new JsonObject { ["node"] = r.Node, ["op"] = r.Op, ["part"] = r.Part, ["silo"] = r.Silo })]),
                ["parts"] = new JsonArray([.. parts.Select(p => (JsonNode?)new JsonObject
                {
                    ["part"] = p.Part, ["nodes"] = p.Nodes, ["silos"] = new JsonArray([.. p.Silos.Select(s => (JsonNode?)JsonValue.Create(s))]),
                })]),
            });
            return 0;
        }
        stdout.WriteLine($"{file}: graph '{id}' v{description.Version}, {plan.Count} nodes in {description.Partitions} parts, running on {silos} silo{(silos == 1 ? "" : "s")}");
        foreach (var p in parts)
            stdout.WriteLine($"  part {p.Part}: {p.Nodes} nodes on {string.Join(", ", p.Silos)}{(p.Silos.Count > 1 ? "  (split: some nodes are not where the plan puts them)" : "")}");
        stdout.WriteLine($"  {"node",-16} {"op",-12} {"part",4}  silo");
        foreach (var r in rows) stdout.WriteLine($"  {r.Node,-16} {r.Op,-12} {r.Part,4}  {r.Silo}");
        return 0;
    }
}
