// The layered layout the web view draws a DAG in: each node's layer by topological depth, and its place within the layer.
namespace Adjoint.Host;

/// <summary>Layers by longest path from a leaf; within a layer, nodes ordered by the mean place of their ancestors (one barycentre sweep), which keeps edges short.</summary>
public static class DagLayout
{
    /// <summary>Depth and place in layer of each node; <paramref name="ancestors"/> of node p are all before p (a topological order).</summary>
    public static (int[] Depth, int[] Order) Layers(int count, Func<int, IReadOnlyList<int>> ancestors)
    {
        var depth = new int[count];
        for (var p = 0; p < count; p++)
            foreach (var a in ancestors(p))
                depth[p] = Math.Max(depth[p], depth[a] + 1);
        var order = new int[count];
        var layers = Enumerable.Range(0, count).GroupBy(p => depth[p]).OrderBy(g => g.Key);
        foreach (var layer in layers)
        {
            // Leaves keep plan order; a later layer sorts by where its ancestors sit (ties: plan order).
            var placed = layer.Select(p => (P: p, Key: ancestors(p).Count == 0 ? p : ancestors(p).Average(a => order[a])))
                .OrderBy(x => x.Key).ThenBy(x => x.P).Select(x => x.P).ToList();
            for (var i = 0; i < placed.Count; i++) order[placed[i]] = i;
        }
        return (depth, order);
    }
}
