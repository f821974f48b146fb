using System.Runtime.CompilerServices;
using Adjoint.Grains;

namespace Adjoint.Client;

/// <summary>
/// A graph ready to evaluate on one back end: values, gradients, batches, training and parameters.
/// Every back end computes the same bits; only where the work happens differs.
/// </summary>
public abstract partial class GradientGraph
{
    private protected GradientGraph(string id, Graph graph)
    {
        Id = id;
        Graph = graph;
    }

    /// <summary>The id the graph was deployed under.</summary>
    public string Id { get; }

    /// <summary>The graph.</summary>
    public Graph Graph { get; }

    /// <summary>
    /// Evaluates a batch; results come back in submission order, a chunk (one window) at a time, with
    /// progress after each chunk. A failing op fails only its own evaluation (see <see cref="GradientResult.Failure"/>).
    /// </summary>
    public async IAsyncEnumerable<GradientResult> EvaluateBatchAsync(
        IEnumerable<IReadOnlyDictionary<string, Tensor>?> inputSets, BatchOptions? options = null,
        IProgress<BatchProgress>? progress = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new BatchOptions();
        if (options.Window < 1) throw new ArgumentOutOfRangeException(nameof(options), "the window must be at least 1");
        if (options.EvaluationTimeout is { } e && e <= TimeSpan.Zero && e != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(options), $"the evaluation timeout must be positive or Timeout.InfiniteTimeSpan, got {e}");
        if (options.CoordinatorCheck is { } c && c <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), $"the coordinator check period must be positive, got {c}");
        var sets = inputSets.ToList();
        var done = 0;
        using var timeout = options.Timeout is { } t ? new CancellationTokenSource(t) : null;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? CancellationToken.None);
        // Chunks of several windows: long enough to keep the pipeline full, short enough to stream.
        foreach (var chunk in sets.Chunk(Math.Max(4 * options.Window, 256)))
        {
            IReadOnlyList<GradientResult> results;
            try
            {
                results = await RunAsync(chunk, options, linked.Token);
            }
            catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the batch did not finish within {options.Timeout}");
            }
            foreach (var r in results) yield return r;
            done += results.Count;
            progress?.Report(new BatchProgress(done, sets.Count));
        }
    }

    /// <summary>Forward pass only: z_n and every node's value; raises <see cref="EvaluationException"/> if an op fails.</summary>
    public async Task<GradientResult> EvaluateAsync(IReadOnlyDictionary<string, Tensor>? inputs = null, CancellationToken cancellationToken = default) =>
        (await RunAsync([inputs], new BatchOptions { Backward = false, ReportValues = true }, cancellationToken))[0].EnsureSucceeded();

    /// <summary>Forward and backward: z_n and the adjoints the mode asks for; raises <see cref="EvaluationException"/> if an op fails.</summary>
    public async Task<GradientResult> GradientAsync(
        IReadOnlyDictionary<string, Tensor>? inputs = null, Adjoints adjoints = Adjoints.All, CancellationToken cancellationToken = default) =>
        (await RunAsync([inputs], new BatchOptions { Adjoints = adjoints }, cancellationToken))[0].EnsureSucceeded();

    /// <summary>
    /// One optimizer step: the gradient of Σ z_n over the batch (parameter adjoints summed in submission
    /// order; with mean set, of the mean z_n, the sum times 1/N), applied to every parameter where it is stored (<see cref="ApplyStepAsync"/>, which retries
    /// a step that storage or a silo failed). Returns the mean z_n before the step.
    /// </summary>
    /// <exception cref="TrainingStepException">The step could not be applied to every parameter after
    /// its retries; <see cref="TrainingStepException.Step"/> finishes it exactly once when passed to
    /// <see cref="ApplyStepAsync"/> later.</exception>
    public Task<double> TrainStepAsync(
        IEnumerable<IReadOnlyDictionary<string, Tensor>?> batch, OptimizerSettings optimizer, CancellationToken cancellationToken = default) =>
        TrainStepAsync(batch, optimizer, mean: false, cancellationToken);

    /// <inheritdoc cref="TrainStepAsync(IEnumerable{IReadOnlyDictionary{string, Tensor}?}, OptimizerSettings, CancellationToken)"/>
    public async Task<double> TrainStepAsync(
        IEnumerable<IReadOnlyDictionary<string, Tensor>?> batch, OptimizerSettings optimizer, bool mean, CancellationToken cancellationToken = default) =>
        (await StepWithResultsAsync(batch, optimizer, mean, reportValues: false, cancellationToken)).Loss;

    // A step that also hands back its evaluations (with every node's value when asked: a training-mode
    // batch_norm's running statistics move with its input's values).
    internal async Task<(double Loss, IReadOnlyList<GradientResult> Results)> StepWithResultsAsync(
        IEnumerable<IReadOnlyDictionary<string, Tensor>?> batch, OptimizerSettings optimizer, bool mean, bool reportValues, CancellationToken cancellationToken)
    {
        var results = await RunAsync(batch.ToList(), new BatchOptions { Adjoints = Adjoints.InputsAndParameters, ReportValues = reportValues }, cancellationToken);
        if (results.Count == 0) throw new ArgumentException("a training step needs at least one evaluation", nameof(batch));
        foreach (var r in results) r.EnsureSucceeded();
        var gradients = Graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter)
            .Select(n => (n.Id, Terms: results.Where(r => r.Adjoints.ContainsKey(n.Id)).Select(r => r.Adjoints[n.Id]).ToList()))
            .Where(p => p.Terms.Count > 0)
            .ToDictionary(p => p.Id, p => mean ? Optimizer.meanInOrder(p.Terms) : Optimizer.sumInOrder(p.Terms));
        await ApplyStepAsync(new TrainingStep(Guid.NewGuid(), optimizer, gradients), cancellationToken);
        return (Optimizer.meanLoss(results.Select(r => r.Loss)), results);
    }

    /// <summary>How often <see cref="ApplyStepAsync"/> tries a step before it gives up, waiting 0.25 s,
    /// 0.5 s, 1 s, … between tries (about 30 s in all: long enough for Redis or a silo to restart).</summary>
    public int StepAttempts { get; init; } = 8;

    /// <summary>
    /// Applies an optimizer step to every parameter it names. Each parameter applies a given step at
    /// most once, and its value and optimizer moments change together, only when stored: a step that
    /// failed (storage down, a silo lost) is tried again with the same id, and finishing it later
    /// never counts it twice where it was already applied.
    /// </summary>
    /// <exception cref="TrainingStepException">Every try failed; the message names the storage or cluster error.</exception>
    public async Task ApplyStepAsync(TrainingStep step, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(step);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StepAsync(step, cancellationToken);
                return;
            }
            catch (Exception e) when (Retriable(e) && !cancellationToken.IsCancellationRequested)
            {
                if (attempt >= StepAttempts)
                    throw new TrainingStepException(step, $"training step {step.Id} failed {attempt} times and may be applied to only some parameters: {e.Message}", e);
                await Task.Delay(TimeSpan.FromMilliseconds(250 << Math.Min(attempt - 1, 4)), cancellationToken);
            }
        }
    }

    // Storage refused (nothing changed), or the call was lost with a silo or timed out (it may or may
    // not have been applied: the step id makes the retry safe either way).
    private static bool Retriable(Exception e) =>
        e is StorageFailedException or TimeoutException or SiloUnavailableException or OrleansMessageRejectionException
        || (e.InnerException is { } inner && Retriable(inner));

    /// <summary>The current value of every parameter, by node id.</summary>
    public abstract Task<IReadOnlyDictionary<string, Tensor>> ReadParametersAsync(CancellationToken cancellationToken = default);

    /// <summary>Overwrites a parameter's value (and restarts its optimizer moments).</summary>
    public abstract Task WriteParameterAsync(string id, Tensor value, CancellationToken cancellationToken = default);

    /// <summary>Adam's step count and moments of every parameter that has taken an Adam step, by node id:
    /// what a checkpoint keeps so that a resumed run steps as an uninterrupted one.</summary>
    public abstract Task<IReadOnlyDictionary<string, AdamMoments>> ReadMomentsAsync(CancellationToken cancellationToken = default);

    /// <summary>Restores a parameter's Adam step count and moments, keeping its value.</summary>
    public abstract Task WriteMomentsAsync(string id, AdamMoments moments, CancellationToken cancellationToken = default);

    /// <summary>Checks that restored moments name a parameter and have its shape.</summary>
    private protected void CheckMoments(string id, AdamMoments moments)
    {
        CheckParameter(id, moments.M);
        CheckParameter(id, moments.V);
        if (moments.Step < 1) throw new ArgumentException($"node '{id}': moments after {moments.Step} Adam steps; restore moments of at least one step", nameof(moments));
    }

    /// <summary>Runs evaluations, results in submission order.</summary>
    private protected abstract Task<IReadOnlyList<GradientResult>> RunAsync(
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>?> inputSets, BatchOptions options, CancellationToken cancellationToken);

    /// <summary>Applies one optimizer step where the parameters are stored, at most once per parameter and step id.</summary>
    private protected abstract Task StepAsync(TrainingStep step, CancellationToken cancellationToken);

    /// <summary>Checks that a parameter write names a parameter and has its shape.</summary>
    private protected void CheckParameter(string id, Tensor value)
    {
        var node = Graph.Node(id);
        if (node.Op.Kind != OpKind.Parameter)
            throw new ArgumentException($"node '{id}' is a {node.Op.Name}, not a parameter", nameof(id));
        if (!value.Shape.Equals(Graph.ShapeOf(id)))
            throw new ArgumentException($"node '{id}': value of shape {value.Shape} does not match the parameter's shape {Graph.ShapeOf(id)}", nameof(value));
    }
}
