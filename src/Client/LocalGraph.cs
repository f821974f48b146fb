using Adjoint.Grains;

namespace Adjoint.Client;

/// <summary>The local back end: a compiled plan in this process, parameters in memory.</summary>
internal sealed class LocalGraph : GradientGraph
{
    private readonly Plan _plan;
    // θ and its optimizer moments, by parameter id.
    private readonly Dictionary<string, OptimizerState> _parameters;
    private readonly Dictionary<string, Guid> _lastStep = new();
    private readonly Lock _gate = new();

    public LocalGraph(string id, Graph graph) : base(id, graph)
    {
        _plan = Plan.Compile(graph);
        _parameters = graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => OptimizerState.Initial(n.Value.Value.Clone()));
    }

    public override Task<IReadOnlyDictionary<string, Tensor>> ReadParametersAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return Task.FromResult<IReadOnlyDictionary<string, Tensor>>(_parameters.ToDictionary(kv => kv.Key, kv => kv.Value.Value.Clone()));
    }

    public override Task WriteParameterAsync(string id, Tensor value, CancellationToken cancellationToken = default)
    {
        CheckParameter(id, value);
        lock (_gate)
        {
            _parameters[id] = OptimizerState.Initial(value.Clone());
            _lastStep.Remove(id);
        }
        return Task.CompletedTask;
    }

    public override Task<IReadOnlyDictionary<string, AdamMoments>> ReadMomentsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
            return Task.FromResult<IReadOnlyDictionary<string, AdamMoments>>(_parameters.Where(kv => kv.Value.M is not null)
                .ToDictionary(kv => kv.Key, kv => new AdamMoments(kv.Value.AdamStep, kv.Value.M.Clone(), kv.Value.V.Clone())));
    }

    public override Task WriteMomentsAsync(string id, AdamMoments moments, CancellationToken cancellationToken = default)
    {
        CheckMoments(id, moments);
        lock (_gate)
        {
            var state = _parameters[id];
            _parameters[id] = new OptimizerState(state.Value, moments.Step, moments.M.Clone(), moments.V.Clone());
        }
        return Task.CompletedTask;
    }

    private protected override Task<IReadOnlyList<GradientResult>> RunAsync(
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>?> inputSets, BatchOptions options, CancellationToken cancellationToken)
    {
        Dictionary<string, Tensor> parameters;
        lock (_gate) parameters = _parameters.ToDictionary(kv => kv.Key, kv => kv.Value.Value);
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
        var reporting = new Reporting(options.Backward, options.Adjoints, options.ReportValues);
        // Keep every value when they are reported; otherwise let the engine drop what no VJP needs.
        var keepAll = reporting.Values || !reporting.Backward || reporting.Adjoints == Adjoints.All;
        var e = keepAll ? new Evaluation(_plan) : new Evaluation(_plan, Adjoints.InputsAndParameters);
        foreach (var (id, value) in parameters) e.Set(id, value);
        if (inputs is not null) e.SetAll(inputs);
        try
        {
            Engine.forward(e);
            if (reporting.Backward) Engine.backward(reporting.Adjoints, e);
        }
        catch (EvaluationException failure)
        {
            return new GradientResult { Failure = new EvaluationFailure(failure.Node, failure.Op, failure.Reason) };
        }
        var adjoints = new Dictionary<string, Tensor>();
        var values = new Dictionary<string, Tensor>();
        for (var p = 0; p < _plan.Count; p++)
        {
            if (reporting.ReportsAdjoint(_plan, p)) adjoints[_plan.Ids[p]] = e.AdjointAt(p).Clone();
            // z_n comes back as the output; the values map holds every z only when values are asked for.
            if (reporting.Values) values[_plan.Ids[p]] = e.ValueAt(p).Clone();
        }
        return new GradientResult { Output = e.Output.Clone(), Adjoints = adjoints, Values = values };
    }

    private protected override Task<GradientGraph> DeployDerivedAsync(string id, Graph graph, CancellationToken cancellationToken) =>
        Task.FromResult<GradientGraph>(new LocalGraph(id, graph));

    private protected override Task StepAsync(TrainingStep step, CancellationToken cancellationToken)
    {
        var rule = step.Optimizer.ToRule();
        lock (_gate)
        {
            foreach (var (id, gradient) in step.Gradients)
            {
                // At most once per step, as in the parameter grains.
                if (_lastStep.TryGetValue(id, out var last) && last == step.Id) continue;
                _parameters[id] = Optimizer.step(rule, _parameters[id], gradient);
                _lastStep[id] = step.Id;
            }
        }
        return Task.CompletedTask;
    }
}
