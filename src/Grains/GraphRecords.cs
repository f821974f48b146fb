// What a graph grain stores: a small index of its versions, and each version's graph in a record of its own.
namespace Adjoint.Grains;

/// <summary>
/// A graph's index (the graph grain's own state): its live versions and the last version number handed
/// out. Small however large the graph: each version's JSON is a record of its own
/// (<see cref="GraphVersionRecord"/>), so a redeploy writes one record, not every version again.
/// </summary>
[GenerateSerializer, Alias("adjoint.graph-index.v1")]
public sealed class GraphIndex
{
    /// <summary>The last version number handed out (versions are never reused).</summary>
    [Id(0)] public int LastVersion { get; set; }
    /// <summary>The versions still deployed, least recently deployed first (the last is the latest).</summary>
    [Id(1)] public List<VersionEntry> Versions { get; set; } = [];
}

/// <summary>One live version in the index.</summary>
[GenerateSerializer, Alias("adjoint.version-entry.v1")]
public sealed class VersionEntry
{
    /// <summary>The version number.</summary>
    [Id(0)] public int Version { get; set; }
    /// <summary>SHA-256 of the graph's compact JSON: the version's identity (the JSON itself is compared on a match).</summary>
    [Id(1)] public string Hash { get; set; } = "";
    /// <summary>The partition count of each layout generation, oldest first: generation g is entry g − 1,
    /// the current layout the last. Kept so that batches still running on an old layout can finish.</summary>
    [Id(2)] public List<int> Layouts { get; set; } = [];
    /// <summary>When the version was created or last made the latest by a deploy.</summary>
    [Id(3)] public DateTime DeployedAt { get; set; }
    /// <summary>Nodes of the graph.</summary>
    [Id(4)] public int Nodes { get; set; }
    /// <summary>Parameter nodes of the graph.</summary>
    [Id(5)] public int Parameters { get; set; }
    /// <summary>Elements of all parameters together.</summary>
    [Id(6)] public long ParameterElements { get; set; }

    // Methods, not properties: a JSON grain storage (Redis) would store a computed property too.

    /// <summary>The current layout.</summary>
    public GraphLayout CurrentLayout() => new(Layouts.Count, Layouts[^1]);

    /// <summary>As the registry lists it.</summary>
    public VersionSummary ToSummary() => new(Version, Nodes, Parameters, ParameterElements, Layouts[^1], DeployedAt);
}

/// <summary>One version's graph as stored (key: graphId/version, beside the index).</summary>
[GenerateSerializer, Alias("adjoint.graph-version.v2")]
public sealed class GraphVersionRecord
{
    /// <summary>The version number.</summary>
    [Id(0)] public int Version { get; set; }
    /// <summary>The graph in the core's compact JSON format.</summary>
    [Id(1)] public string Json { get; set; } = "";
}
