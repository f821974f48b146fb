// Mini-batch training on rows of a data set, and scoring a data set, on whichever back end the graph
// was deployed to: the same steps, in the same order, so every back end trains the same bits.
using System.Diagnostics;

namespace Adjoint.Client;

/// <summary>How <see cref="Trainer"/> trains.</summary>
public sealed record TrainingOptions
{
    /// <summary>The epoch to stop after (epochs count from 1; a resumed run continues to this one).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>The epochs already done (a resumed run): training starts at epoch <c>StartEpoch + 1</c>,
    /// with the order that epoch would have had.</summary>
    public int StartEpoch { get; init; }

    /// <summary>The steps already done of epoch <c>StartEpoch + 1</c> (a run stopped mid-epoch): they are skipped.</summary>
    public int StartStep { get; init; }

    /// <summary>Rows per optimizer step (default: the graph's rows per evaluation). A multiple of the rows
    /// per evaluation: a step is that many evaluations, their gradients averaged.</summary>
    public int? BatchRows { get; init; }

    /// <summary>The optimizer and its learning rate.</summary>
    public OptimizerSettings Optimizer { get; init; } = new() { Kind = OptimizerKind.Adam, LearningRate = 0.001 };

    /// <summary>Whether each epoch visits the rows in a fresh seeded order.</summary>
    public bool Shuffle { get; init; }

    /// <summary>The seed of the orders (and of a validation split).</summary>
    public int Seed { get; init; }

    /// <summary>Evaluations in flight at once (the back end's window).</summary>
    public int Window { get; init; } = 64;
}

/// <summary>After each optimizer step.</summary>
public sealed record StepReport(int Epoch, int Step, int StepsPerEpoch, double Loss, long Evaluations, TimeSpan Elapsed);

/// <summary>What a data set scores: the mean loss over its evaluations and, when the graph says how
/// to score its predictions, accuracy (classification) or RMSE and MAE (regression) over its rows.</summary>
public sealed record Score(double Loss, int Rows, int Evaluations, int Padding, Metrics.Task? Task, double? Accuracy, double? Rmse, double? Mae)
{
    /// <summary>"accuracy 96.4 %" or "RMSE 0.012, MAE 0.009", or empty when nothing is scored.</summary>
    public string Metric => Task switch
    {
        Metrics.Task.Classification => $"accuracy {100 * Accuracy:F2} %",
        Metrics.Task.Regression => $"RMSE {Rmse:G4}, MAE {Mae:G4}",
        _ => "",
    };
}

/// <summary>After each epoch: the mean training loss of its steps and the validation score.</summary>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, Score? Validation, long Evaluations, TimeSpan Elapsed);

/// <summary>How a run ended: stopped or not, and where — <paramref name="LastStep"/> steps of epoch
/// <paramref name="LastEpoch"/> done (0: that epoch not started, the one before it finished).</summary>
public sealed record TrainingResult(IReadOnlyList<EpochReport> Epochs, bool Stopped, int LastEpoch, int LastStep);

/// <summary>
/// Trains a deployed graph on a data set: epochs of optimizer steps over B-row evaluations
/// (<see cref="Batches.pass"/>), a step's gradients averaged (<see cref="Optimizer.meanInOrder"/>) and
/// applied where the parameters are stored; a validation score after each epoch.
/// </summary>
public sealed class Trainer
{
    private readonly GradientGraph _graph;
    private readonly Batches.Binding _training;
    private readonly Batches.Binding? _validation;
    private readonly Metrics.Scoring? _scoring;
    private readonly TrainingOptions _options;
    private readonly int _evaluationsPerStep;
    private readonly GradientGraph _inference;
    private readonly bool _moving;
    private IReadOnlyDictionary<string, Tensor> _running;
    private readonly string[] _keys;

    /// <summary>A trainer of <paramref name="graph"/> on <paramref name="training"/> rows, scored on
    /// <paramref name="validation"/> rows (if any) with <paramref name="scoring"/>. A graph with ops in
    /// training mode (batch_norm, dropout) is scored on <paramref name="inference"/>, its inference-mode
    /// twin (<see cref="Modes.inference"/>, deployed on its own), which takes the trained parameters and
    /// running statistics before each score.</summary>
    /// <exception cref="ArgumentException">The batch is not a positive multiple of the rows per evaluation, or the epochs are out of order.</exception>
    public Trainer(GradientGraph graph, Batches.Binding training, Batches.Binding? validation, Metrics.Scoring? scoring, TrainingOptions options, GradientGraph? inference = null)
    {
        _graph = graph;
        _inference = inference ?? graph;
        _running = Modes.runningStatistics(graph.Graph);
        _moving = _running.Count > 0;
        _keys = Modes.dropoutKeys(graph.Graph);
        _training = training;
        _validation = validation;
        _scoring = scoring;
        _options = options;
        _evaluationsPerStep = Check(training, options);
    }

    /// <summary>Checks the options against the data: returns the evaluations per step.</summary>
    /// <exception cref="ArgumentException">The batch is not a positive multiple of the rows per evaluation, or the epochs are out of order.</exception>
    public static int Check(Batches.Binding training, TrainingOptions options)
    {
        var b = training.RowsPerEvaluation;
        var rows = options.BatchRows ?? b;
        if (rows < b || rows % b != 0)
            throw new ArgumentException($"--batch {rows}: the graph takes {b} rows an evaluation, so a batch is a positive multiple of {b}");
        if (options.Epochs < 1) throw new ArgumentException($"--epochs {options.Epochs}: train at least 1 epoch");
        if (options.StartEpoch < 0 || options.StartEpoch >= options.Epochs)
            throw new ArgumentException($"--epochs {options.Epochs}: the run has done {options.StartEpoch} epochs, which leaves none to do");
        if (options.StartStep < 0) throw new ArgumentException($"the steps done must not be negative, got {options.StartStep}");
        return rows / b;
    }

    /// <summary>The running statistics of the training-mode batch_norm nodes as training left them, by
    /// constant id: what a saved graph stores as their values (empty when the graph has none).</summary>
    public IReadOnlyDictionary<string, Tensor> RunningStatistics => _running;

    /// <summary>Evaluations in one epoch (the last filled up from the start of the epoch's order).</summary>
    public int EvaluationsPerEpoch => (_training.Data.Rows + _training.RowsPerEvaluation - 1) / _training.RowsPerEvaluation;

    /// <summary>Optimizer steps in one epoch.</summary>
    public int StepsPerEpoch => (EvaluationsPerEpoch + _evaluationsPerStep - 1) / _evaluationsPerStep;

    /// <summary>
    /// Trains from epoch <see cref="TrainingOptions.StartEpoch"/> + 1 to <see cref="TrainingOptions.Epochs"/>.
    /// <paramref name="stopRequested"/> is asked after every step: when it says yes the run ends there
    /// (<see cref="TrainingResult.Stopped"/>), with the step applied. <paramref name="afterEpoch"/> runs
    /// after each finished epoch (a checkpoint, say).
    /// </summary>
    public async Task<TrainingResult> RunAsync(
        IProgress<StepReport>? steps = null, Func<EpochReport, Task>? afterEpoch = null, Func<bool>? stopRequested = null,
        CancellationToken cancellationToken = default)
    {
        var reports = new List<EpochReport>();
        var watch = Stopwatch.StartNew();
        long evaluations = 0;
        var graph = _graph.Graph;
        for (var epoch = _options.StartEpoch + 1; epoch <= _options.Epochs; epoch++)
        {
            var rows = _training.Data.Rows;
            var order = _options.Shuffle ? Batches.permutation(_options.Seed, epoch, rows) : [.. Enumerable.Range(0, rows)];
            var pass = Batches.pass(graph, _training, order);
            var losses = new List<double>();
            if (epoch == _options.StartEpoch + 1 && _options.StartStep >= StepsPerEpoch)
                throw new ArgumentException($"epoch {epoch} has {StepsPerEpoch} steps; the run has done {_options.StartStep} of them");
            for (var s = epoch == _options.StartEpoch + 1 ? _options.StartStep : 0; s < StepsPerEpoch; s++)
            {
                var batch = pass.Inputs.Skip(s * _evaluationsPerStep).Take(_evaluationsPerStep)
                    .Select((set, i) => WithKeys(set, (epoch - 1L) * EvaluationsPerEpoch + s * _evaluationsPerStep + i)).ToList();
                var (loss, results) = await _graph.StepWithResultsAsync(batch, _options.Optimizer, mean: true, reportValues: _moving, cancellationToken);
                losses.Add(loss);
                // Each evaluation moves the statistics once, in submission order, as a torch forward would.
                foreach (var r in _moving ? results : [])
                    _running = Merge(_running, Modes.moveRunningStatistics(graph, _running, id => r.Values[id]));
                evaluations += batch.Count;
                steps?.Report(new StepReport(epoch, s + 1, StepsPerEpoch, losses[^1], evaluations, watch.Elapsed));
                // A stop after an epoch's last step lets the epoch finish (its score, its checkpoint) first.
                if (s < StepsPerEpoch - 1 && stopRequested?.Invoke() == true)
                    return new TrainingResult(reports, true, epoch, s + 1);
            }
            var validation = _validation is { } v ? await ScoreAsync(await InferenceAsync(cancellationToken), v, _scoring, _options.Window, _running, cancellationToken) : null;
            if (validation is not null) evaluations += validation.Evaluations;
            var report = new EpochReport(epoch, _options.Epochs, Optimizer.meanLoss(losses), validation, evaluations, watch.Elapsed);
            reports.Add(report);
            if (afterEpoch is not null) await afterEpoch(report);
            if (epoch < _options.Epochs && stopRequested?.Invoke() == true)
                return new TrainingResult(reports, true, epoch + 1, 0);
        }
        return new TrainingResult(reports, false, _options.Epochs, StepsPerEpoch);
    }

    // Dropout keys the data does not give: the evaluation's number in the whole run, so masks differ
    // from evaluation to evaluation and are the same in a resumed run.
    private IReadOnlyDictionary<string, Tensor> WithKeys(IReadOnlyDictionary<string, Tensor> set, long evaluation)
    {
        if (_keys.Length == 0) return set;
        var keyed = new Dictionary<string, Tensor>(set);
        foreach (var key in _keys)
            if (!keyed.ContainsKey(key)) keyed[key] = new Tensor(Shape.Scalar, [evaluation]);
        return keyed;
    }

    private static IReadOnlyDictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> old, IReadOnlyDictionary<string, Tensor> moved)
    {
        var next = old.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (id, t) in moved) next[id] = t;
        return next;
    }

    // The graph to score on, with the parameters as trained so far.
    private async Task<GradientGraph> InferenceAsync(CancellationToken cancellationToken)
    {
        if (ReferenceEquals(_inference, _graph)) return _graph;
        foreach (var (id, value) in await _graph.ReadParametersAsync(cancellationToken))
            await _inference.WriteParameterAsync(id, value, cancellationToken);
        return _inference;
    }

    /// <summary>
    /// Scores a data set: forward evaluations of its rows in file order, B at a time. The loss is the
    /// mean of the graph's output over the evaluations (the last one, when the rows do not fill it,
    /// holds <see cref="Score.Padding"/> rows from the start again); accuracy and errors count each row once.
    /// </summary>
    /// <exception cref="EvaluationException">An evaluation failed (the message names the node and op).</exception>
    public static async Task<Score> ScoreAsync(GradientGraph graph, Batches.Binding data, Metrics.Scoring? scoring, int window = 64, CancellationToken cancellationToken = default) =>
        await ScoreAsync(graph, data, scoring, window, null, cancellationToken);

    /// <summary>Scores a data set with <paramref name="constants"/> (running statistics, say) bound in every evaluation.</summary>
    public static async Task<Score> ScoreAsync(GradientGraph graph, Batches.Binding data, Metrics.Scoring? scoring, int window, IReadOnlyDictionary<string, Tensor>? constants, CancellationToken cancellationToken = default)
    {
        var pass = Batches.pass(graph.Graph, data, [.. Enumerable.Range(0, data.Data.Rows)]);
        // Bound in every evaluation: the constants given, and 0 for dropout keys the data does not give.
        var bound = new Dictionary<string, Tensor>(constants ?? new Dictionary<string, Tensor>());
        foreach (var key in Modes.dropoutKeys(graph.Graph))
            if (data.Data.TryColumn(key) is null) bound.TryAdd(key, new Tensor(Shape.Scalar, [0.0]));
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>> inputs = bound.Count > 0
            ? [.. pass.Inputs.Select(set => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>(set.Concat(bound)))]
            : pass.Inputs;
        var options = new BatchOptions { Backward = false, ReportValues = scoring is not null, Window = window };
        var losses = new List<double>();
        var tally = Metrics.Tally.Zero;
        var k = 0;
        await foreach (var result in graph.EvaluateBatchAsync(inputs, options, cancellationToken: cancellationToken))
        {
            result.EnsureSucceeded();
            losses.Add(result.Loss);
            if (scoring is not null)
            {
                var target = pass.Inputs[k].TryGetValue(scoring.Target, out var t) ? t : result.Values[scoring.Target];
                tally = Metrics.add(scoring.Task, result.Values[scoring.Predictions], target, pass.RealRows(k, data.RowsPerEvaluation), tally);
            }
            k++;
        }
        var task = scoring?.Task;
        return new Score(Optimizer.meanLoss(losses), data.Data.Rows, losses.Count, pass.Padding, task,
            task == Metrics.Task.Classification ? Metrics.accuracy(tally) : null,
            task == Metrics.Task.Regression ? Metrics.rmse(tally) : null,
            task == Metrics.Task.Regression ? Metrics.mae(tally) : null);
    }
}
