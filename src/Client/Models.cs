// What the facade says about deployed models: their versions, and a version as a graph file with trained values.
using Microsoft.FSharp.Core;

namespace Adjoint.Client;

/// <summary>A graph deployed on an embedded silo or a cluster, and its versions (least recently deployed first; the last is the latest).</summary>
public sealed record ModelSummary(string GraphId, IReadOnlyList<VersionSummary> Versions);

/// <summary>Graphs with values replaced.</summary>
public static class Models
{
    /// <summary>
    /// The graph with the given values stored in its nodes (trained parameters, say): saved with
    /// <c>GraphFile.save</c>, the file evaluates on the local engine to what the cluster computes.
    /// </summary>
    /// <exception cref="GraphException">A value names no node or has the wrong shape.</exception>
    public static Graph WithValues(Graph graph, IReadOnlyDictionary<string, Tensor> values)
    {
        foreach (var id in values.Keys)
            if (!graph.Contains(id)) throw new ArgumentException($"no node '{id}' in the graph", nameof(values));
        var nodes = graph.Nodes.Select(n => values.TryGetValue(n.Id, out var v) ? new Node(n.Id, n.Op, n.Ancestors, FSharpOption<Tensor>.Some(v)) : n);
        return Graph.Create(nodes, graph.Output);
    }
}
