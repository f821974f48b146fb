// The messages of the distributed protocol and the requests and answers of its grains.
namespace Adjoint.Grains;

/// <summary>Which pass an evaluation runs and which adjoints it returns (the core's <c>Adjoints</c>).</summary>
public enum AdjointMode
{
    /// <summary>Forward pass only: values, no adjoint state anywhere.</summary>
    None = 0,
    /// <summary>Forward and backward; every λ_j of a node that reaches z_n is returned (Theorem 16.1).</summary>
    All = 1,
    /// <summary>Forward and backward pruned to what the inputs and parameters need; their λ are returned.</summary>
    InputsAndParameters = 2,
}

/// <summary>
/// The header of every work item: which evaluation (its coordinator and its number there), which pass,
/// whether every node reports its value, and whether it is observed (null for almost every evaluation).
/// Small on purpose.
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.eval.v1")]
public readonly record struct EvalContext(
    [property: Id(0)] Guid Coordinator,
    [property: Id(1)] int Index,
    [property: Id(2)] AdjointMode Mode,
    [property: Id(3)] bool ReportValues,
    [property: Id(4)] Observation? Observe = null)
{
    /// <summary>The key of this evaluation's state in a node.</summary>
    public EvalKey Key => new(Coordinator, Index);

    /// <summary>What this evaluation computes and reports, in the core's terms.</summary>
    public Reporting Reporting => DeployedGraph.Reporting(Mode, ReportValues);
}

/// <summary>
/// How one evaluation is observed: <see cref="Timing"/> has every node report the time, silo and bytes of
/// each of its steps into the result (<see cref="StepTiming"/>); <see cref="TraceParent"/> (a W3C
/// traceparent, the evaluation's span) has every node step recorded as a span of the evaluation's trace.
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.observation.v1")]
public sealed record Observation([property: Id(0)] bool Timing, [property: Id(1)] string? TraceParent);

/// <summary>
/// One node step of a timed evaluation: the node, which pass, when it began (UTC, in DateTime ticks of
/// 100 ns: comparable across the processes of one machine, and across machines as far as their clocks
/// agree) and how long it took (ticks), the silo it ran on, and the tensor bytes it received and sent. A step
/// begins when its last input arrives (the last ancestor's z; the last successor's VJP term) and ends when
/// what it sends is queued.
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.step-timing.v1")]
public sealed record StepTiming(
    [property: Id(0)] string Node,
    [property: Id(1)] bool Backward,
    [property: Id(2)] long StartTicks,
    [property: Id(3)] long DurationTicks,
    [property: Id(4)] string Silo,
    [property: Id(5)] long BytesIn,
    [property: Id(6)] long BytesOut);

/// <summary>Identifies one evaluation: its coordinator and its number there.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.evalkey.v1")]
public readonly record struct EvalKey([property: Id(0)] Guid Coordinator, [property: Id(1)] int Index);

/// <summary>Start an evaluation at a leaf with this value (null: the leaf's stored value).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.start.v1")]
public readonly record struct StartItem([property: Id(0)] EvalContext Context, [property: Id(1)] TensorData? Value);

/// <summary>z of the ancestor in argument <see cref="Slot"/>; null when that ancestor failed.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.value.v1")]
public readonly record struct ValueItem([property: Id(0)] EvalContext Context, [property: Id(1)] int Slot, [property: Id(2)] TensorData? Value);

/// <summary>
/// A VJP term λ_i ∂f_i/∂z_j along successor edge <see cref="Edge"/> (its index in the receiver's successor
/// list, the plan's summation order); null when the evaluation failed downstream.
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.term.v1")]
public readonly record struct AdjointItem([property: Id(0)] EvalContext Context, [property: Id(1)] int Edge, [property: Id(2)] TensorData? Term);

/// <summary>What a node reports to the coordinator of an evaluation.</summary>
public enum ReportKind
{
    /// <summary>z of the node.</summary>
    Value = 0,
    /// <summary>λ of the node.</summary>
    Adjoint = 1,
    /// <summary>A node that does not reach z_n finished its forward step.</summary>
    Done = 2,
    /// <summary>An op failed.</summary>
    Failure = 3,
    /// <summary>A step of a timed evaluation (<see cref="Report.Timing"/>).</summary>
    Timing = 4,
}

/// <summary>One report of a node (plan position <see cref="Position"/>) about an evaluation.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.report.v1")]
public readonly record struct Report(
    [property: Id(0)] int Index,
    [property: Id(1)] ReportKind Kind,
    [property: Id(2)] int Position,
    [property: Id(3)] TensorData? Tensor,
    [property: Id(4)] EvaluationFailure? Failure,
    [property: Id(5)] StepTiming? Timing = null);

/// <summary>A batch of evaluations of one deployed graph version.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.batch.v1")]
public sealed record BatchRequest
{
    /// <summary>Names the batch, so that it can be cancelled.</summary>
    [Id(7)] public Guid Id { get; init; } = Guid.NewGuid();
    /// <summary>The graph.</summary>
    [Id(0)] public required string GraphId { get; init; }
    /// <summary>The deployed version to evaluate.</summary>
    [Id(1)] public required int Version { get; init; }
    /// <summary>Per evaluation: values bound to inputs (or overriding parameters and constants) by node id.</summary>
    [Id(2)] public required IReadOnlyList<IReadOnlyDictionary<string, TensorData>> Inputs { get; init; }
    /// <summary>Which passes run and which adjoints come back.</summary>
    [Id(3)] public AdjointMode Mode { get; init; } = AdjointMode.All;
    /// <summary>Whether every node's value comes back, or only z_n.</summary>
    [Id(4)] public bool ReportValues { get; init; }
    /// <summary>At most this many evaluations in flight at once.</summary>
    [Id(5)] public int Window { get; init; } = 64;
    /// <summary>The whole batch fails with a <see cref="TimeoutException"/> after this long (null: never).</summary>
    [Id(6)] public TimeSpan? Timeout { get; init; }
    /// <summary>
    /// An evaluation not complete after this long is re-run under a new number (its lost state and late
    /// messages abandoned); each further attempt waits twice as long (null: only on membership change).
    /// </summary>
    [Id(8)] public TimeSpan? EvaluationTimeout { get; init; }
    /// <summary>
    /// Without <see cref="EvaluationTimeout"/>: re-run an evaluation not complete after a timeout adapted to
    /// the latency the coordinator observes (see EvaluationDeadlines: 10 × the typical latency, at least 2 s;
    /// 10 s before any evaluation has completed), doubling per attempt.
    /// </summary>
    [Id(9)] public bool AdaptiveEvaluationTimeout { get; init; }
    /// <summary>Every evaluation reports the timings of its node steps (<see cref="EvaluationResult.Timings"/>).</summary>
    [Id(10)] public bool Timing { get; init; }
    /// <summary>
    /// Trace every n-th evaluation (1: all) as a distributed trace of the activity source "Adjoint"; 0: the
    /// silo's <see cref="Hosting.AdjointSiloOptions.TraceEvery"/>. Only while something listens to the source.
    /// </summary>
    [Id(11)] public int TraceEvery { get; init; }
}

/// <summary>Where a coordinator runs, and the evaluations it re-ran after a lost silo or a timeout.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.coordinator-status.v1")]
public sealed record CoordinatorStatus([property: Id(0)] string Silo, [property: Id(1)] int Reruns)
{
    /// <summary>Evaluations in flight now, over all its batches (a re-run replaces its attempt, it does not add one).</summary>
    [Id(2)] public int InFlight { get; init; }
    /// <summary>The most evaluations it has had in flight at once since activation: at most MaxEvaluationsInFlightPerClient.</summary>
    [Id(3)] public int PeakInFlight { get; init; }
    /// <summary>Batches waiting for room under the cap.</summary>
    [Id(4)] public int Waiting { get; init; }
}

/// <summary>
/// Some of a version's parameters, as many as fit in one message from the one asked for (in plan order),
/// and where the next page starts (−1: none left).
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.parameter-page.v1")]
public sealed record ParameterPage([property: Id(0)] Dictionary<string, TensorData> Values, [property: Id(1)] int Next);

/// <summary>A parameter's optimizer history: Adam's step count and moments (null before its first Adam step).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.parameter-moments.v1")]
public sealed record ParameterMoments([property: Id(0)] int AdamStep, [property: Id(1)] TensorData? M, [property: Id(2)] TensorData? V);

/// <summary>A page of parameters' optimizer moments (<see cref="IGraphGrain.ReadMomentsPage"/>), and where the next page starts (−1: none left).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.moments-page.v1")]
public sealed record MomentsPage([property: Id(0)] Dictionary<string, ParameterMoments> Moments, [property: Id(1)] int Next);

/// <summary>The outcome of one evaluation: z_n, the values and adjoints asked for, or the failure.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.result.v1")]
public sealed record EvaluationResult
{
    /// <summary>z_n, or null if the evaluation failed.</summary>
    [Id(0)] public TensorData? Output { get; init; }
    /// <summary>Every node's value by id when the batch asked for them; otherwise empty.</summary>
    [Id(1)] public IReadOnlyDictionary<string, TensorData> Values { get; init; } = new Dictionary<string, TensorData>();
    /// <summary>The adjoints λ the mode returns, by node id.</summary>
    [Id(2)] public IReadOnlyDictionary<string, TensorData> Adjoints { get; init; } = new Dictionary<string, TensorData>();
    /// <summary>Why the evaluation failed, or null.</summary>
    [Id(3)] public EvaluationFailure? Failure { get; init; }
    /// <summary>Every node step's timing when the batch asked for <see cref="BatchRequest.Timing"/>; otherwise empty.</summary>
    [Id(4)] public IReadOnlyList<StepTiming> Timings { get; init; } = [];

    /// <summary>Whether the evaluation succeeded.</summary>
    public bool Succeeded => Failure is null;
}

/// <summary>What a deployment made: the version, whether it is new, and the layout it runs in (a
/// redeploy of the same graph on another number of silos re-partitions the version: same version, same
/// parameters, a new layout generation).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.deployed.v1")]
public sealed record DeployResult(
    [property: Id(0)] int Version,
    [property: Id(1)] bool Created,
    [property: Id(2)] int Partitions)
{
    /// <summary>The layout generation the version now runs in (1 for a new version).</summary>
    [Id(3)] public int Layout { get; init; } = 1;
}

/// <summary>A layout of a version: its generation (1, 2, … per version) and its number of partitions. The
/// assignment of nodes to partitions is the core's <c>Partition.assign</c> for that number.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.layout.v1")]
public sealed record GraphLayout([property: Id(0)] int Generation, [property: Id(1)] int Partitions);

/// <summary>What a silo needs to run a graph version: its JSON (layouts come apart, see <see cref="GraphLayout"/>).</summary>
[GenerateSerializer, Immutable, Alias("adjoint.spec.v2")]
public sealed record GraphSpec([property: Id(0)] string Json);

/// <summary>
/// The coordinator running a batch was lost before the batch completed: its silo died or is shutting
/// down, or the silo holding its grain-directory entry died and Orleans deactivated it. Nothing of the
/// batch was counted; the client resubmits it to a fresh coordinator.
/// </summary>
[GenerateSerializer, Alias("adjoint.coordinator-lost.v1")]
public sealed class CoordinatorLostException : Exception
{
    /// <summary>The batch and why its coordinator is lost.</summary>
    public CoordinatorLostException(Guid batch, string reason) : base($"the coordinator of batch {batch} was lost: {reason}") => Batch = batch;

    /// <summary>The batch.</summary>
    [Id(0)] public Guid Batch { get; init; }
}
