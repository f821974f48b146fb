using Adjoint.Grains;

namespace Adjoint.Client;

/// <summary>The embedded and cluster back ends: a graph version deployed to node grains; <paramref name="deploy"/>
/// deploys another graph (a derived one) to the same silos.</summary>
internal sealed class ClusterGraph(string id, Graph graph, DistributedGraph distributed, int version,
    Func<string, Graph, CancellationToken, Task<GradientGraph>> deploy) : GradientGraph(id, graph)
{
    /// <summary>The deployed version this graph evaluates.</summary>
    public int Version { get; } = version;

    /// <summary>The grain-level handle (its coordinator and resubmit count), for tests and diagnostics.</summary>
    internal DistributedGraph Distributed => distributed;

    public override async Task<IReadOnlyDictionary<string, Tensor>> ReadParametersAsync(CancellationToken cancellationToken = default)
    {
        var stored = await distributed.ReadParameters(Version, cancellationToken);
        return stored.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor());
    }

    public override Task WriteParameterAsync(string id, Tensor value, CancellationToken cancellationToken = default)
    {
        CheckParameter(id, value);
        return distributed.Grain.WriteParameter(Version, id, TensorData.From(value)).WaitAsync(cancellationToken);
    }

    public override async Task<IReadOnlyDictionary<string, AdamMoments>> ReadMomentsAsync(CancellationToken cancellationToken = default)
    {
        var stored = await distributed.ReadMoments(Version, cancellationToken);
        return stored.Where(kv => kv.Value.M is not null)
            .ToDictionary(kv => kv.Key, kv => new AdamMoments(kv.Value.AdamStep, kv.Value.M!.ToTensor(), kv.Value.V!.ToTensor()));
    }

    public override Task WriteMomentsAsync(string id, AdamMoments moments, CancellationToken cancellationToken = default)
    {
        CheckMoments(id, moments);
        return distributed.Grain.WriteMoments(Version, id, new ParameterMoments(moments.Step, TensorData.From(moments.M), TensorData.From(moments.V))).WaitAsync(cancellationToken);
    }

    private protected override async Task<IReadOnlyList<GradientResult>> RunAsync(
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>?> inputSets, BatchOptions options, CancellationToken cancellationToken)
    {
        var mode = !options.Backward ? AdjointMode.None
            : options.Adjoints == Adjoints.All ? AdjointMode.All : AdjointMode.InputsAndParameters;
        var fixedTimeout = options.EvaluationTimeout is { } t && t != Timeout.InfiniteTimeSpan ? t : (TimeSpan?)null;
        var batch = new Grains.BatchOptions
        {
            Mode = mode,
            ReportValues = options.ReportValues,
            Window = options.Window,
            EvaluationTimeout = fixedTimeout,
            AdaptiveEvaluationTimeout = options.EvaluationTimeout is null,
            CoordinatorCheck = options.CoordinatorCheck,
            Timing = options.Timing,
            TraceEvery = options.TraceEvery,
        };
        List<EvaluationResult> results;
        try
        {
            results = await distributed.Evaluate(Version, inputSets, batch, cancellationToken);
        }
        catch (ResultsTooLargeException e) when (e.EvaluationsThatFit >= 1 && e.EvaluationsThatFit < inputSets.Count)
        {
            // The results come back in one answer per batch: run the chunk in parts whose answers fit.
            results = [];
            foreach (var part in inputSets.Chunk(e.EvaluationsThatFit))
                results.AddRange(await distributed.Evaluate(Version, part, batch, cancellationToken));
        }
        return results.Select(GradientResult.From).ToList();
    }

    private protected override Task<GradientGraph> DeployDerivedAsync(string id, Graph graph, CancellationToken cancellationToken) =>
        deploy(id, graph, cancellationToken);

    private protected override Task StepAsync(TrainingStep step, CancellationToken cancellationToken) =>
        distributed.Step(Version, step.Optimizer, step.Gradients.ToDictionary(kv => kv.Key, kv => TensorData.From(kv.Value)), step.Id, cancellationToken);
}
