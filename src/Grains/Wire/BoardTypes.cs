// What a silo's board says about the batches its coordinators run: the wire records of ISiloBoardGrain.
namespace Adjoint.Grains;

/// <summary>One silo's board: evaluations completed and failed there since it started, and its running batches.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.silo-board.v1")]
public sealed record SiloBoard(
    [property: Id(0)] string Silo,
    [property: Id(1)] long Completed,
    [property: Id(2)] long Failed,
    [property: Id(3)] IReadOnlyList<BatchSummary> Batches,
    [property: Id(4)] int Running);

/// <summary>A running batch: its graph, how many of its evaluations are complete, failed and in flight.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.batch-summary.v1")]
public sealed record BatchSummary(
    [property: Id(0)] Guid Batch,
    [property: Id(1)] string GraphId,
    [property: Id(2)] int Version,
    [property: Id(3)] int Total,
    [property: Id(4)] int Completed,
    [property: Id(5)] int Failed,
    [property: Id(6)] int InFlight,
    [property: Id(7)] int Reruns,
    [property: Id(8)] int Window,
    [property: Id(9)] Guid Coordinator,
    [property: Id(10)] string Silo,
    [property: Id(11)] DateTime Started);
