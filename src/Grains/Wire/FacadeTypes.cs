// The wire types a facade user meets (optimizer settings, an op's failure, model descriptions, the
// cluster's rejections): in the namespace Adjoint, beside the core, so that `using Adjoint; using
// Adjoint.Client;` reaches everything AdjointClient's signatures use. Their Orleans aliases and ids are
// their wire identity, unchanged; grain code (namespace Adjoint.Grains) sees them without a using.
namespace Adjoint;

/// <summary>An op failed: which node, which op, and the op's message.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.failure.v1")]
public sealed record EvaluationFailure(
    [property: Id(0)] string Node,
    [property: Id(1)] string Op,
    [property: Id(2)] string Message)
{
    /// <inheritdoc/>
    public override string ToString() => $"node '{Node}': op '{Op}' failed: {Message}";
}

/// <summary>What a deployed graph version is.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.description.v1")]
public sealed record GraphDescription
{
    /// <summary>The graph id.</summary>
    [Id(0)] public required string GraphId { get; init; }
    /// <summary>This version.</summary>
    [Id(1)] public required int Version { get; init; }
    /// <summary>Every version still deployed, least recently deployed first.</summary>
    [Id(2)] public required IReadOnlyList<int> Versions { get; init; }
    /// <summary>The number of nodes.</summary>
    [Id(3)] public required int NodeCount { get; init; }
    /// <summary>The id of z_n.</summary>
    [Id(4)] public required string Output { get; init; }
    /// <summary>The number of partitions of the current layout.</summary>
    [Id(5)] public required int Partitions { get; init; }
    /// <summary>The partition of every node in the current layout, by id.</summary>
    [Id(6)] public required IReadOnlyDictionary<string, int> Assignment { get; init; }
    /// <summary>The graph in the core's JSON format (GraphFile), with the values it was deployed with
    /// (trained parameter values are read with ReadParameters).</summary>
    [Id(7)] public required string Json { get; init; }
    /// <summary>The current layout generation (node grain keys carry it).</summary>
    [Id(8)] public int Layout { get; init; } = 1;
    /// <summary>When this version was last deployed (created, or the same graph deployed again).</summary>
    [Id(9)] public DateTime DeployedAt { get; init; }
}

/// <summary>One deployed version as the model registry lists it.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.version-summary.v1")]
public sealed record VersionSummary(
    [property: Id(0)] int Version,
    [property: Id(1)] int Nodes,
    [property: Id(2)] int Parameters,
    [property: Id(3)] long ParameterElements,
    [property: Id(4)] int Partitions,
    [property: Id(5)] DateTime DeployedAt);

/// <summary>Which optimizer step the parameter grains apply.</summary>
public enum OptimizerKind
{
    /// <summary>θ ← θ − η g.</summary>
    Sgd = 0,
    /// <summary>Adam with the settings' β₁, β₂, ε.</summary>
    Adam = 1,
}

/// <summary>An optimizer step's settings.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.optimizer.v1")]
public sealed record OptimizerSettings
{
    /// <summary>SGD or Adam.</summary>
    [Id(0)] public OptimizerKind Kind { get; init; }
    /// <summary>η.</summary>
    [Id(1)] public double LearningRate { get; init; } = 0.01;
    /// <summary>Adam's β₁.</summary>
    [Id(2)] public double Beta1 { get; init; } = 0.9;
    /// <summary>Adam's β₂.</summary>
    [Id(3)] public double Beta2 { get; init; } = 0.999;
    /// <summary>Adam's ε.</summary>
    [Id(4)] public double Epsilon { get; init; } = 1e-8;

    /// <summary>The core's Adam settings.</summary>
    public AdamSettings ToAdam() => new(LearningRate, Beta1, Beta2, Epsilon);

    /// <summary>The core's description of this optimizer, which <c>Optimizer.step</c> applies: the one
    /// place where the wire's settings become the core's rule.</summary>
    /// <exception cref="ArgumentException"><see cref="Kind"/> is not an optimizer this version knows.</exception>
    public OptimizerRule ToRule() => Kind switch
    {
        OptimizerKind.Sgd => OptimizerRule.NewSgd(LearningRate),
        OptimizerKind.Adam => OptimizerRule.NewAdam(ToAdam()),
        _ => throw new ArgumentException($"unknown optimizer kind {(int)Kind}; known: Sgd (0), Adam (1)"),
    };
}

/// <summary>
/// The core rejected a graph: the message is the core's own (a GraphFile path and detail, or the
/// graph error naming the node), unchanged.
/// </summary>
[GenerateSerializer, Alias("adjoint.rejected.v1")]
public sealed class GraphRejectedException : Exception
{
    /// <summary>A rejection with the core's message and JSON path.</summary>
    public GraphRejectedException(string message, string? path) : base(message) => Path = path;

    /// <summary>The JSON path at fault, when the core named one.</summary>
    [Id(0)] public string? Path { get; init; }
}
