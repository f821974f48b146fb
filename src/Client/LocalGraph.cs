using Adjoint.Grains;

namespace Adjoint.Client;

/// <summary>The local back end: a compiled plan in this process, parameters in memory.</summary>
internal sealed class LocalGraph : GradientGraph
{
    private readonly Plan _plan;
    private readonly Dictionary<string, Tensor> _parameters;
    private readonly Dictionary<string, AdamMoments> _moments = new();
    private readonly Dictionary<string, Guid> _lastStep = new();
    private readonly Lock _gate = new();

    public LocalGraph(string id, Graph graph) : base(id, graph)
    {
        _plan = Plan.Compile(graph);
        _parameters = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value.Value.Clone());
    }

    public override Task<IReadOnlyDictionary<string, Tensor>> ReadParametersAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return Task.FromResult<IReadOnlyDictionary<string, Tensor>>(_parameters.ToDictionary(kv => kv.Key, kv => kv.Value.Clone()));
    }

    public override Task WriteParameterAsync(string id, Tensor value, CancellationToken cancellationToken = default)
    {
        CheckParameter(id, value);
        lock (_gate)
        {
            _parameters[id] = value.Clone();
            _moments.Remove(id);
            _lastStep.Remove(id);
        }
        return Task.CompletedTask;
    }

    private protected override Task<IReadOnlyList<GradientResult>> RunAsync(
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>?> inputSets, BatchOptions options, CancellationToken cancellationToken)
    {
        Dictionary<string, Tensor> parameters;
        lock (_gate) parameters = new Dictionary<string, Tensor>(_parameters);
        var results = new List<GradientResult>(inputSets.Count);
        foreach (var inputs in inputSets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            results.Add(Evaluate(inputs, parameters, options));
        }
        return Task.FromResult<IReadOnlyList<GradientResult>>(results);
    }

    private GradientResult Evaluate(IReadOnlyDictionary<string, Tensor>? inputs, Dictionary<string, Tensor> parameters, BatchOptions options)
    {
        // Keep every value when they are reported; otherwise let the engine drop what no VJP needs.
        var keepAll = options.ReportValues || !options.Backward || options.Adjoints == Adjoints.All;
        var e = keepAll ? new Evaluation(_plan) : new Evaluation(_plan, Adjoints.InputsAndParameters);
        foreach (var (id, value) in parameters) e.Set(id, value);
        if (inputs is not null) e.SetAll(inputs);
        try
        {
            Engine.forward(e);
            if (options.Backward) Engine.backward(options.Adjoints, e);
        }
        catch (EvaluationException failure)
        {
            return new GradientResult { Failure = new EvaluationFailure(failure.Node, failure.Op, failure.Reason) };
        }
        var adjoints = new Dictionary<string, Tensor>();
        if (options.Backward)
        {
            for (var p = 0; p < _plan.Count; p++)
            {
                var kind = _plan.Op(p).Kind;
                if (options.Adjoints == Adjoints.InputsAndParameters && kind is not (OpKind.Input or OpKind.Parameter)) continue;
                if (e.AdjointAt(p) is { } lambda) adjoints[_plan.Ids[p]] = lambda.Clone();
            }
        }
        var values = new Dictionary<string, Tensor>();
        if (options.ReportValues)
            for (var p = 0; p < _plan.Count; p++) values[_plan.Ids[p]] = e.ValueAt(p).Clone();
        return new GradientResult { Output = e.Output.Clone(), Adjoints = adjoints, Values = values };
    }

    private protected override Task StepAsync(TrainingStep step, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var (id, gradient) in step.Gradients)
            {
                // At most once per step, as in the parameter grains.
                if (_lastStep.TryGetValue(id, out var last) && last == step.Id) continue;
                var theta = _parameters[id];
                if (step.Optimizer.Kind == OptimizerKind.Sgd)
                {
                    _parameters[id] = Optimizer.sgd(step.Optimizer.LearningRate, theta, gradient);
                }
                else
                {
                    var moments = _moments.TryGetValue(id, out var m) ? m : AdamMoments.Zero(theta.Shape);
                    var (next, updated) = Optimizer.adam(step.Optimizer.ToAdam(), moments, theta, gradient);
                    _parameters[id] = next;
                    _moments[id] = updated;
                }
                _lastStep[id] = step.Id;
            }
        }
        return Task.CompletedTask;
    }
}
