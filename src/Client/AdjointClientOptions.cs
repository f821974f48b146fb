namespace Adjoint.Client;

/// <summary>Where gradients are computed. All three give the same values and adjoints, bit for bit.</summary>
public enum Backend
{
    /// <summary>The local engine in this process: no silo, no messages.</summary>
    Local,
    /// <summary>A single Orleans silo started in this process on loopback (dev mode).</summary>
    Embedded,
    /// <summary>A running cluster, reached through its Redis membership table.</summary>
    Cluster,
}

/// <summary>How an <see cref="AdjointClient"/> connects.</summary>
public sealed class AdjointClientOptions
{
    /// <summary>Which back end (default: <see cref="Backend.Embedded"/>).</summary>
    public Backend Backend { get; set; } = Backend.Embedded;

    /// <summary>The Redis connection string of the cluster's membership table (cluster back end), e.g. "127.0.0.1:6379".</summary>
    public string? Redis { get; set; }

    /// <summary>The Orleans cluster id (cluster back end); silos and clients with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "adjoint";

    /// <summary>The Orleans service id (cluster back end).</summary>
    public string ServiceId { get; set; } = "adjoint";

    /// <summary>How long to keep trying to reach a cluster's gateways before giving up.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the first connection to the cluster's Redis may take: Redis not answering in
    /// this time is an unreachable cluster at once (default 2 s).</summary>
    public TimeSpan RedisProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A PKCS#12 certificate for TLS to the cluster's gateways (null: plain TCP).</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>The certificate file's password.</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// The largest message body in bytes (Orleans' MaxMessageBodySize; null: Orleans' 100 MiB): the
    /// embedded silo's limit, or this client's towards a cluster (set it to the silos' value). A batch
    /// whose inputs or results would not fit is refused with an ArgumentException naming the node, shape
    /// and limit, instead of being dropped by Orleans.
    /// </summary>
    public int? MaxMessageBodySize { get; set; }
}

/// <summary>How a batch of evaluations runs.</summary>
public sealed class BatchOptions
{
    /// <summary>Which adjoints each evaluation returns (default: every node's).</summary>
    public Adjoints Adjoints { get; set; } = Adjoints.All;

    /// <summary>Run the backward pass at all (false: values only, no adjoint state kept anywhere).</summary>
    public bool Backward { get; set; } = true;

    /// <summary>Return every node's value, not only z_n.</summary>
    public bool ReportValues { get; set; }

    /// <summary>At most this many evaluations in flight at once.</summary>
    public int Window { get; set; } = 64;

    /// <summary>Fail the batch after this long (null: no limit).</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>
    /// Re-run an evaluation (cluster and embedded back ends) that has not completed after this long: its work
    /// messages may have been lost with a silo that stopped or died. Each further attempt of the same
    /// evaluation waits twice as long. Null (the default): adaptive, 10 × the typical evaluation latency the
    /// coordinator observes, at least 2 s, and 10 s until a first evaluation has completed.
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>: never (evaluations are then re-run only when
    /// membership reports a silo gone).
    /// </summary>
    public TimeSpan? EvaluationTimeout { get; set; }

    /// <summary>
    /// How often the client asks the batch's coordinator whether it still runs the batch (cluster and embedded
    /// back ends): a coordinator lost with its silo is found by two "unknown" answers in a row, and the batch
    /// is resubmitted to a fresh one. Default 1 s; null: no check (a lost coordinator is then noticed only
    /// when Orleans fails the call, after up to an hour).
    /// </summary>
    public TimeSpan? CoordinatorCheck { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Every evaluation reports the time, silo and bytes of each of its node steps
    /// (<see cref="GradientResult.Timings"/>; cluster and embedded back ends, the local engine reports none).
    /// </summary>
    public bool Timing { get; set; }

    /// <summary>Trace every n-th evaluation (1: all) as a distributed trace of the activity source "Adjoint"
    /// (cluster and embedded back ends); 0: as the silos' Observability:TraceEvery says.</summary>
    public int TraceEvery { get; set; }
}

/// <summary>How far a batch has come.</summary>
/// <param name="Completed">Evaluations finished, in submission order.</param>
/// <param name="Total">Evaluations in the batch.</param>
public readonly record struct BatchProgress(int Completed, int Total);
