// The grain interfaces of the distributed engine: graph, node and batch coordinator.
using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Adjoint.Grains;

/// <summary>
/// A graph and its versions (key: graph id, without '/'). A version is the graph's content: the same
/// graph deployed again is the same version, with its trained parameters, however many silos are up. How
/// a version is spread over the silos is its layout, which a deploy may change without a new version.
/// </summary>
[Alias("adjoint.IGraphGrain"), Version(2)]
public interface IGraphGrain : IGrainWithStringKey
{
    /// <summary>
    /// Validates the graph JSON with the core and deploys it in <paramref name="partitions"/> parts (0:
    /// one per active silo). A graph equal to a deployed version gives that version back (and makes it
    /// the latest); if its layout has another number of partitions, it is re-partitioned (a new layout
    /// generation: parameters stay, batches already running finish on the old layout). A new graph makes
    /// a new version; beyond <c>MaxVersionsPerGraph</c> the least recently deployed version is freed.
    /// Rejections raise <see cref="GraphRejectedException"/> with the core's message.
    /// </summary>
    [Alias("deploy")] Task<DeployResult> Deploy(string json, int partitions);

    /// <summary>What a version is (0: the latest).</summary>
    [AlwaysInterleave, Alias("describe")] Task<GraphDescription> Describe(int version);

    /// <summary>What a silo needs to run a version. Interleaves: node grains activated while this grain
    /// awaits them (counting, placing, stepping) ask it for the spec.</summary>
    [AlwaysInterleave, Alias("spec")] Task<GraphSpec> GetSpec(int version);

    /// <summary>A layout of a version: generation 0 for the current one (coordinators ask once per batch),
    /// or an older generation that batches still running may need.</summary>
    [AlwaysInterleave, Alias("layout")] Task<GraphLayout> Layout(int version, int generation);

    /// <summary>Removes a version (0: the latest) and the stored parameter values of its nodes.</summary>
    [Alias("undeploy")] Task Undeploy(int version);

    /// <summary>Removes every version of the graph; returns the versions removed (none deployed: a <see cref="KeyNotFoundException"/>).</summary>
    [Alias("undeploy-all")] Task<int[]> UndeployAll();

    /// <summary>The current value of every parameter of a version, by node id, in one answer: refused
    /// with <see cref="LimitExceededException"/> when they do not fit in one message (read them by pages,
    /// as <see cref="DistributedGraph.ReadParameters"/> does).</summary>
    [Alias("read-parameters")] Task<Dictionary<string, TensorData>> ReadParameters(int version);

    /// <summary>The parameters of a version from the <paramref name="from"/>-th on (in plan order), as many
    /// as fit in <paramref name="maxBytes"/> (and in this silo's message size limit); at least one.</summary>
    [Alias("read-parameter-page")] Task<ParameterPage> ReadParameterPage(int version, int from, long maxBytes);

    /// <summary>Overwrites a parameter's stored value.</summary>
    [Alias("write-parameter")] Task WriteParameter(int version, string node, TensorData value);

    /// <summary>The optimizer moments of the parameters from the <paramref name="from"/>-th on (in plan
    /// order), as many as fit in <paramref name="maxBytes"/>: what a checkpoint keeps beside the values.</summary>
    [Alias("read-moments-page")] Task<MomentsPage> ReadMomentsPage(int version, int from, long maxBytes);

    /// <summary>Restores a parameter's optimizer moments (a resumed run), keeping its value.</summary>
    [Alias("write-moments")] Task WriteMoments(int version, string node, ParameterMoments moments);

    /// <summary>
    /// One optimizer step in every parameter grain named, with the gradient given for it. The gradients
    /// travel in this one message; <see cref="DistributedGraph.Step(int, OptimizerSettings, IReadOnlyDictionary{string, TensorData}, Guid, CancellationToken)"/>
    /// splits them to fit. Each parameter applies step <paramref name="step"/> at most once, so a step
    /// that failed for some parameters (<see cref="StorageFailedException"/>) is finished by sending it
    /// again with the same id.
    /// </summary>
    [Alias("step-once")] Task Step(int version, OptimizerSettings settings, Dictionary<string, TensorData> gradients, Guid step);

    /// <summary>The per-evaluation state entries alive in all node grains of a version.</summary>
    [Alias("live-states")] Task<int> CountLiveStates(int version);

    /// <summary>The silo each node grain of a version runs on, by node id.</summary>
    [Alias("placement")] Task<Dictionary<string, string>> Placement(int version);

    /// <summary>The silo this activation runs on.</summary>
    [AlwaysInterleave, Alias("where")] Task<string> Where();
}

/// <summary>The cluster's list of deployed models (one grain, key <see cref="Key"/>), kept by the graph grains.</summary>
[Alias("adjoint.IModelRegistryGrain"), Version(1)]
public interface IModelRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>The key of the one registry.</summary>
    const long Key = 0;

    /// <summary>A graph's deployed versions now (none: the graph leaves the registry).</summary>
    [Alias("set")] Task Set(string graphId, VersionSummary[] versions);

    /// <summary>Every graph with a deployed version, and its versions.</summary>
    [AlwaysInterleave, Alias("list")] Task<Dictionary<string, VersionSummary[]>> List();
}

/// <summary>A silo's own cache of deployed graphs (key: the silo's address, see <see cref="SiloPlacement"/>).</summary>
[Alias("adjoint.ISiloCacheGrain"), Version(1)]
public interface ISiloCacheGrain : IGrainWithStringKey
{
    /// <summary>Forgets a freed version on this silo.</summary>
    [Alias("evict")] Task Evict(string graphId, int version);

    /// <summary>Whether this silo's cache holds a version.</summary>
    [Alias("holds")] Task<bool> Holds(string graphId, int version);
}

/// <summary>
/// One node i of one graph version in one layout (key: graphId/version/layout/partition/nodeId). Work messages are one-way:
/// a node never awaits another.
/// </summary>
[Alias("adjoint.INodeGrain"), Version(1)]
public interface INodeGrain : IGrainWithStringKey
{
    // Work messages carry arrays: what one turn of a node produces for one neighbour travels together,
    // so evaluations in flight share messages while a lone evaluation still moves one hop per message.

    /// <summary>Starts evaluations at a leaf.</summary>
    [OneWay, Alias("start")] Task Start(StartItem[] items);

    /// <summary>Values z of ancestors.</summary>
    [OneWay, Alias("values")] Task Values(ValueItem[] items);

    /// <summary>VJP terms from successors.</summary>
    [OneWay, Alias("adjoints")] Task Adjoints(AdjointItem[] items);

    /// <summary>
    /// Drops the state of the evaluations numbered [first, first + count) of a coordinator (a cancelled or
    /// timed-out batch) and ignores their later messages.
    /// </summary>
    [OneWay, Alias("abandon")] Task Abandon(Guid coordinator, int first, int count);

    /// <summary>The per-evaluation state entries this node holds.</summary>
    [Alias("live")] Task<int> LiveStates();

    /// <summary>The silo this activation runs on.</summary>
    [Alias("where")] Task<string> Where();

    /// <summary>A parameter's current value.</summary>
    [Alias("get-parameter")] Task<TensorData> GetParameter();

    /// <summary>Overwrites a parameter's value (and resets its optimizer moments).</summary>
    [Alias("set-parameter")] Task SetParameter(TensorData value);

    /// <summary>A parameter's optimizer moments.</summary>
    [Alias("get-moments")] Task<ParameterMoments> GetMoments();

    /// <summary>Overwrites a parameter's optimizer moments, keeping its value.</summary>
    [Alias("set-moments")] Task SetMoments(ParameterMoments moments);

    /// <summary>
    /// Applies one optimizer step with the gradient and stores the result; θ and the optimizer's moments
    /// change only once storage has them (<see cref="StorageFailedException"/> otherwise). A step whose
    /// <paramref name="step"/> id is the last one applied is not applied again (a retry).
    /// </summary>
    [Alias("apply-step")] Task ApplyStep(OptimizerSettings settings, TensorData gradient, Guid step);

    /// <summary>Forgets a parameter's stored value.</summary>
    [Alias("clear-parameter")] Task ClearParameter();
}

/// <summary>Coordinates batches (key: one per client graph handle): starts evaluations, collects reports, returns results.</summary>
[Alias("adjoint.ICoordinatorGrain"), Version(1)]
public interface ICoordinatorGrain : IGrainWithGuidKey
{
    /// <summary>Runs a batch; results in submission order. Batches may run concurrently.</summary>
    [ResponseTimeout("01:00:00"), Alias("run")] Task<List<EvaluationResult>> Run(BatchRequest request);

    /// <summary>Cancels a batch: its Run fails with an OperationCanceledException.</summary>
    [Alias("cancel")] Task Cancel(Guid batch);

    /// <summary>Where this coordinator runs and how many evaluations it has re-run after faults.</summary>
    [AlwaysInterleave, Alias("status")] Task<CoordinatorStatus> Status();

    /// <summary>
    /// Whether this activation runs or has run the batch: false from a fresh activation, made after the
    /// one running the batch was lost with its silo (the client's watchdog then resubmits it).
    /// </summary>
    [AlwaysInterleave, Alias("knows")] Task<bool> Knows(Guid batch);

    /// <summary>Those of the evaluation numbers given that this coordinator has in flight (nodes ask about
    /// state that has heard nothing for a long time, and drop the rest).</summary>
    [AlwaysInterleave, Alias("in-flight")] Task<int[]> InFlight(int[] numbers);

    /// <summary>Reports of nodes about evaluations of this coordinator.</summary>
    [OneWay, Alias("report")] Task Report(Report[] reports);
}

/// <summary>A silo's board of running batches (key: the silo's address, see <see cref="SiloPlacement"/>).</summary>
[Alias("adjoint.ISiloBoardGrain"), Version(1)]
public interface ISiloBoardGrain : IGrainWithStringKey
{
    /// <summary>The board now.</summary>
    [AlwaysInterleave, Alias("read")] Task<SiloBoard> Read();
}
