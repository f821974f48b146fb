// The grain interfaces of the distributed engine: graph, node and batch coordinator.
using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Adjoint.Grains;

/// <summary>A graph and its versions (key: graph id, without '/').</summary>
[Alias("adjoint.IGraphGrain"), Version(1)]
public interface IGraphGrain : IGrainWithStringKey
{
    /// <summary>
    /// Validates the graph JSON with the core, partitions it over <paramref name="partitions"/> parts
    /// (0: one per active silo) and stores it. The same graph and partition count as the latest version
    /// gives that version back; a changed one makes a new version. Rejections raise
    /// <see cref="GraphRejectedException"/> with the core's message.
    /// </summary>
    [Alias("deploy")] Task<DeployResult> Deploy(string json, int partitions);

    /// <summary>What a version is (0: the latest).</summary>
    [AlwaysInterleave, Alias("describe")] Task<GraphDescription> Describe(int version);

    /// <summary>What a silo needs to run a version. Interleaves: node grains activated while this grain
    /// awaits them (counting, placing, stepping) ask it for the spec.</summary>
    [AlwaysInterleave, Alias("spec")] Task<GraphSpec> GetSpec(int version);

    /// <summary>Removes a version and the stored parameter values of its nodes.</summary>
    [Alias("undeploy")] Task Undeploy(int version);

    /// <summary>The current value of every parameter of a version, by node id.</summary>
    [Alias("read-parameters")] Task<Dictionary<string, TensorData>> ReadParameters(int version);

    /// <summary>Overwrites a parameter's stored value.</summary>
    [Alias("write-parameter")] Task WriteParameter(int version, string node, TensorData value);

    /// <summary>One optimizer step in every parameter grain named, with the gradient given for it.</summary>
    [Alias("step")] Task Step(int version, OptimizerSettings settings, Dictionary<string, TensorData> gradients);

    /// <summary>The per-evaluation state entries alive in all node grains of a version.</summary>
    [Alias("live-states")] Task<int> CountLiveStates(int version);

    /// <summary>The silo each node grain of a version runs on, by node id.</summary>
    [Alias("placement")] Task<Dictionary<string, string>> Placement(int version);
}

/// <summary>
/// One node i of one graph version (key: graphId/version/partition/nodeId). Work messages are one-way:
/// a node never awaits another.
/// </summary>
[Alias("adjoint.INodeGrain"), Version(1)]
public interface INodeGrain : IGrainWithStringKey
{
    /// <summary>Starts an evaluation at a leaf: its value from the request, or its stored value when null.</summary>
    [OneWay, Alias("start")] Task Start(EvalContext context, TensorData? value);

    /// <summary>z of the ancestor in argument <paramref name="slot"/>; null when that ancestor failed.</summary>
    [OneWay, Alias("value")] Task Value(EvalContext context, int slot, TensorData? value);

    /// <summary>
    /// The VJP term λ_i ∂f_i/∂z_j from the successor edge <paramref name="edge"/> (index in this node's
    /// successor list, the plan's summation order); null when the evaluation failed downstream.
    /// </summary>
    [OneWay, Alias("adjoint")] Task Adjoint(EvalContext context, int edge, TensorData? term);

    /// <summary>Drops the state of a batch that was cancelled or timed out, and ignores its later messages.</summary>
    [OneWay, Alias("abandon")] Task Abandon(Guid batch);

    /// <summary>The per-evaluation state entries this node holds.</summary>
    [Alias("live")] Task<int> LiveStates();

    /// <summary>The silo this activation runs on.</summary>
    [Alias("where")] Task<string> Where();

    /// <summary>A parameter's current value.</summary>
    [Alias("get-parameter")] Task<TensorData> GetParameter();

    /// <summary>Overwrites a parameter's value (and resets its optimizer moments).</summary>
    [Alias("set-parameter")] Task SetParameter(TensorData value);

    /// <summary>Applies one optimizer step with the gradient and stores the result.</summary>
    [Alias("step")] Task ApplyStep(OptimizerSettings settings, TensorData gradient);

    /// <summary>Forgets a parameter's stored value.</summary>
    [Alias("clear-parameter")] Task ClearParameter();
}

/// <summary>Coordinates one batch (key: the batch id): starts evaluations, collects reports, returns results.</summary>
[Alias("adjoint.ICoordinatorGrain"), Version(1)]
public interface ICoordinatorGrain : IGrainWithGuidKey
{
    /// <summary>Runs the batch; results in submission order.</summary>
    [ResponseTimeout("01:00:00"), Alias("run")] Task<List<EvaluationResult>> Run(BatchRequest request);

    /// <summary>Cancels the batch: its Run fails with an OperationCanceledException.</summary>
    [Alias("cancel")] Task Cancel();

    /// <summary>z of node <paramref name="position"/> (plan position) for an evaluation.</summary>
    [OneWay, Alias("report-value")] Task ReportValue(int index, int position, TensorData value);

    /// <summary>λ of node <paramref name="position"/> for an evaluation.</summary>
    [OneWay, Alias("report-adjoint")] Task ReportAdjoint(int index, int position, TensorData adjoint);

    /// <summary>A node that does not reach z_n finished its forward step.</summary>
    [OneWay, Alias("report-done")] Task ReportDone(int index);

    /// <summary>An op failed in an evaluation.</summary>
    [OneWay, Alias("report-failure")] Task ReportFailure(int index, EvaluationFailure failure);
}
