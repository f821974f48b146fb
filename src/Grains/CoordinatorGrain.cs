// The batch coordinator: starts evaluations under a bounded window, collects what nodes report,
// completes each evaluation when every expected report is in, returns results in submission order.
using Orleans.Concurrency;
using Orleans.Placement;

namespace Adjoint.Grains;

/// <summary>
/// One batch. It starts an evaluation by sending every leaf its Start; from then on only nodes talk,
/// and they report to it: z_n (every z if asked), the λ the mode returns, a "done" from each node that
/// does not reach z_n, or a failure. The counts it expects come from the core's plan.
/// Reentrant: reports interleave with the awaiting Run.
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class CoordinatorGrain(DeployedGraphCache cache) : Grain, ICoordinatorGrain
{
    private sealed class InFlight
    {
        public int Pending;
        public TensorData? Output;
        public Dictionary<string, TensorData> Values = [];
        public Dictionary<string, TensorData> Adjoints = [];
    }

    private DeployedGraph? _graph;
    private BatchRequest? _request;
    private EvaluationResult?[] _results = [];
    private readonly Dictionary<int, InFlight> _inFlight = [];
    private int _next;
    private int _completed;
    private int _expected;
    private int[] _leaves = [];
    private TaskCompletionSource? _done;

    /// <inheritdoc/>
    public async Task<List<EvaluationResult>> Run(BatchRequest request)
    {
        if (_request is not null) throw new InvalidOperationException("a coordinator runs one batch");
        var graph = await cache.Get(request.GraphId, request.Version);
        Validate(graph, request);
        _graph = graph;
        _request = request;
        _results = new EvaluationResult?[request.Inputs.Count];
        _expected = Expected(graph, request);
        var plan = graph.Plan;
        _leaves = [.. Enumerable.Range(0, plan.Count).Where(p => plan.Op(p).Kind != OpKind.Compute)];
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            var window = Math.Max(1, request.Window);
            while (_next < _results.Length && _inFlight.Count < window) StartNext();
            if (_results.Length == 0) _done.TrySetResult();
            if (request.Timeout is { } timeout)
            {
                var finished = await Task.WhenAny(_done.Task, Task.Delay(timeout));
                if (finished != _done.Task)
                {
                    Abandon();
                    throw new TimeoutException($"batch of {_results.Length} evaluations of graph '{request.GraphId}' v{request.Version} timed out after {timeout}; {_completed} completed");
                }
            }
            await _done.Task;
            return [.. _results.Select(r => r!)];
        }
        finally
        {
            DeactivateOnIdle();
        }
    }

    private static void Validate(DeployedGraph graph, BatchRequest request)
    {
        var plan = graph.Plan;
        if (request.Mode != AdjointMode.None && !plan.Shape(plan.Output).IsScalar)
            throw new GraphRejectedException(GraphError.NewNonScalarOutput(plan.Ids[plan.Output], plan.Shape(plan.Output)).Message, null);
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            foreach (var (id, value) in request.Inputs[i])
            {
                if (!plan.TryIndexOf(id, out var p))
                    throw new ArgumentException($"evaluation {i}: no node '{id}' in the graph");
                var op = plan.Op(p);
                if (op.Kind == OpKind.Compute)
                    throw new ArgumentException($"evaluation {i}: node '{id}' is computed by op '{op.Name}'; only inputs, parameters and constants can be set");
                var shape = plan.Shape(p);
                if (value.Rows != shape.Rows || value.Cols != shape.Cols)
                    throw new ArgumentException($"evaluation {i}: node '{id}': value of shape {value.Rows}x{value.Cols} does not match the declared shape {shape}");
            }
        }
    }

    // Reports one evaluation ends with: z_n (or every z), the λ its mode returns, a done per node not
    // reaching z_n.
    private static int Expected(DeployedGraph graph, BatchRequest request)
    {
        var plan = graph.Plan;
        var count = request.ReportValues ? plan.Count : 1;
        for (var p = 0; p < plan.Count; p++)
        {
            if (!graph.ReachesOutput(p)) count++;
            if (graph.ReportsAdjoint(request.Mode, p)) count++;
        }
        return count;
    }

    private void StartNext()
    {
        var index = _next++;
        var request = _request!;
        _inFlight[index] = new InFlight { Pending = _expected };
        var context = new EvalContext(this.GetPrimaryKey(), index, request.Mode, request.ReportValues);
        var inputs = request.Inputs[index];
        foreach (var p in _leaves)
            _ = _graph!.Node(p).Start(context, inputs.TryGetValue(_graph.Plan.Ids[p], out var v) ? v : null);
    }

    private void Complete(int index, EvaluationResult result)
    {
        _inFlight.Remove(index);
        _results[index] = result;
        _completed++;
        if (_next < _results.Length) StartNext();
        else if (_completed == _results.Length) _done!.TrySetResult();
    }

    private void Arrived(int index, InFlight evaluation)
    {
        if (--evaluation.Pending == 0)
            Complete(index, new EvaluationResult { Output = evaluation.Output, Values = evaluation.Values, Adjoints = evaluation.Adjoints });
    }

    /// <inheritdoc/>
    public Task ReportValue(int index, int position, TensorData value)
    {
        if (!_inFlight.TryGetValue(index, out var evaluation)) return Task.CompletedTask;
        var plan = _graph!.Plan;
        if (position == plan.Output) evaluation.Output = value;
        if (_request!.ReportValues) evaluation.Values[plan.Ids[position]] = value;
        Arrived(index, evaluation);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ReportAdjoint(int index, int position, TensorData adjoint)
    {
        if (!_inFlight.TryGetValue(index, out var evaluation)) return Task.CompletedTask;
        evaluation.Adjoints[_graph!.Plan.Ids[position]] = adjoint;
        Arrived(index, evaluation);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ReportDone(int index)
    {
        if (_inFlight.TryGetValue(index, out var evaluation)) Arrived(index, evaluation);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ReportFailure(int index, EvaluationFailure failure)
    {
        // The first failure decides; later reports of this evaluation find it gone and are dropped.
        if (_inFlight.ContainsKey(index)) Complete(index, new EvaluationResult { Failure = failure });
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task Cancel()
    {
        if (_done is null || _done.Task.IsCompleted) return Task.CompletedTask;
        Abandon();
        _done.TrySetCanceled();
        return Task.CompletedTask;
    }

    // Tells every node to drop the state of the evaluations still in flight, and starts no more.
    private void Abandon()
    {
        _next = _results.Length;
        if (_inFlight.Count == 0) return;
        _inFlight.Clear();
        for (var p = 0; p < _graph!.Plan.Count; p++) _ = _graph.Node(p).Abandon(this.GetPrimaryKey());
    }
}
