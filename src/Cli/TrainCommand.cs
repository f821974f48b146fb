// `adjoint train` and `adjoint eval`: a user's model on a user's data, on any back end.
using System.Text.Json;
using System.Text.Json.Nodes;
using Adjoint.Client;
using Spectre.Console;

namespace Adjoint.Cli;

/// <summary>What <c>train</c> was asked for on its command line.</summary>
internal sealed record TrainSettings
{
    public required string Model { get; init; }
    public required string Data { get; init; }
    public string? Columns { get; init; }
    public int Epochs { get; init; } = 10;
    public int? Batch { get; init; }
    public string Optimizer { get; init; } = "adam";
    public double? LearningRate { get; init; }
    public bool? Shuffle { get; init; }
    public int? Seed { get; init; }
    public string? Validation { get; init; }
    public string? Save { get; init; }
    public bool Resume { get; init; }
    public string? Plot { get; init; }
    public string? Predictions { get; init; }
    public string? Target { get; init; }
}

/// <summary><c>train</c> and <c>eval</c>.</summary>
internal static class TrainCommand
{
    /// <summary>The exit code of a run stopped by Ctrl-C (after its step, saved): 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>Set by the first Ctrl-C of a <c>train</c> run: stop after the current step and save.</summary>
    public static volatile bool StopRequested;

    /// <summary>Where a checkpoint's training state goes: "trained.json" → "trained.training.json".</summary>
    public static string StatePath(string checkpoint) => Path.ChangeExtension(checkpoint, ".training.json");

    /// <summary>Where a checkpoint's Adam moments go: "trained.json" → "trained.moments.npz" (arrays "W.m", "W.v").</summary>
    public static string MomentsPath(string checkpoint) => Path.ChangeExtension(checkpoint, ".moments.npz");

    // A resumed run steps as the uninterrupted one: Adam's moments and step counts come back too.
    private static async Task RestoreMoments(GradientGraph model, string checkpoint, TrainingState state, CancellationToken cancellationToken)
    {
        if (state.AdamSteps.Count == 0) return;
        var path = MomentsPath(checkpoint);
        IReadOnlyDictionary<string, NpyArray> arrays;
        try
        {
            using var stream = File.OpenRead(path);
            arrays = Npz.read(stream, Path.GetFileName(path));
        }
        catch (Exception e) when (e is IOException or NpyException)
        {
            throw new UserError($"--resume: the checkpoint's Adam moments ({Path.GetFileName(path)}) cannot be read: {e.Message}");
        }
        foreach (var (id, step) in state.AdamSteps)
        {
            if (!arrays.TryGetValue(id + ".m", out var m) || !arrays.TryGetValue(id + ".v", out var v))
                throw new UserError($"--resume: {Path.GetFileName(path)} has no moments for parameter '{id}' (arrays {id}.m and {id}.v)");
            try
            {
                await model.WriteMomentsAsync(id, new AdamMoments(step, new Tensor(Shape.Of(m.Dims), m.Data), new Tensor(Shape.Of(v.Dims), v.Data)), cancellationToken);
            }
            catch (ArgumentException e)
            {
                throw new UserError($"--resume: {Path.GetFileName(path)}: {e.Message.Split(" (Parameter")[0]}");
            }
        }
    }

    public static async Task<int> Train(TrainSettings s, ClientChoice backend, bool json, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var graph = GraphFile.load(s.Model);
        var state = s.Resume ? TrainingState.Read(s.Model) : null;
        var seed = Agree("--seed", s.Seed, state?.Seed) ?? 0;
        var shuffle = Agree("--shuffle", s.Shuffle, state?.Shuffle) ?? false;
        var batch = Agree("--batch", s.Batch, state?.Batch);
        var optimizer = Optimizer(s.Optimizer, s.LearningRate ?? state?.LearningRate);
        if (state is not null && state.Optimizer != s.Optimizer)
            throw new UserError($"--optimizer {s.Optimizer}: the checkpoint was trained with {state.Optimizer}; a resumed run keeps its optimizer");
        var (training, validation) = ReadData(graph, s, seed);
        var scoring = Scoring(graph, s.Predictions, s.Target);
        var options = new TrainingOptions
        {
            Epochs = s.Epochs, StartEpoch = state?.EpochsDone ?? 0, StartStep = state?.StepsDone ?? 0,
            BatchRows = batch, Optimizer = optimizer, Shuffle = shuffle, Seed = seed,
        };
        try
        {
            Trainer.Check(training, options);
        }
        catch (ArgumentException e)
        {
            throw new UserError(e.Message);
        }

        var save = s.Save ?? (s.Resume ? s.Model : null);
        var plotPath = s.Plot ?? (save is not null ? Path.ChangeExtension(save, ".png") : Path.GetFileNameWithoutExtension(s.Model) + "-training.png");
        var history = state?.History ?? [];
        var stepLosses = state?.StepLosses ?? [];

        await using var client = await backend.ConnectAsync(cancellationToken);
        var model = await client.DeployAsync(Path.GetFileNameWithoutExtension(s.Model), graph, cancellationToken);
        if (state is not null) await RestoreMoments(model, s.Model, state, cancellationToken);
        // Ops in training mode (batch_norm, dropout) are scored in inference mode, on a twin of the model.
        var inference = Modes.hasTrainingOps(graph) && validation is not null
            ? await client.DeployAsync(Path.GetFileNameWithoutExtension(s.Model) + "-inference", Modes.inference(graph), cancellationToken)
            : null;
        var trainer = new Trainer(model, training, validation, scoring, options, inference);
        var results = Console(stdout, json);
        var progressConsole = ProgressConsole(stderr, json);
        void Line(string markup)
        {
            if (json) return;
            results.MarkupLine(markup);
        }
        Line($"training [bold]{Markup.Escape(Path.GetFileName(s.Model))}[/] on {Markup.Escape(BackendName(client.Backend))}: {training.Data.Rows} rows ({training.RowsPerEvaluation} an evaluation, {trainer.StepsPerEpoch} steps an epoch), "
            + (validation is null ? "no validation" : $"{validation.Data.Rows} validation rows") + $", {Markup.Escape(s.Optimizer)} lr {optimizer.LearningRate}"
            + (state is null ? "" : $", resumed after epoch {state.EpochsDone}" + (state.StepsDone > 0 ? $" step {state.StepsDone}" : "")));

        async Task Checkpoint(int epochsDone, int stepsDone)
        {
            if (save is null) return;
            // The trained parameters, and the running statistics as the values of their constants.
            var parameters = new Dictionary<string, Tensor>(await model.ReadParametersAsync(cancellationToken));
            foreach (var (id, t) in trainer.RunningStatistics) parameters[id] = t;
            GraphFile.save(Models.WithValues(graph, parameters), save);
            var moments = await model.ReadMomentsAsync(cancellationToken);
            var momentsFile = MomentsPath(save);
            if (moments.Count > 0)
                Npz.writeFile(momentsFile, moments.SelectMany(kv => new[]
                {
                    new KeyValuePair<string, NpyArray>(kv.Key + ".m", new NpyArray(kv.Value.M.Shape.Dims.ToArray(), kv.Value.M.Data)),
                    new KeyValuePair<string, NpyArray>(kv.Key + ".v", new NpyArray(kv.Value.V.Shape.Dims.ToArray(), kv.Value.V.Data)),
                }));
            else File.Delete(momentsFile);
            new TrainingState
            {
                Model = state?.Model ?? Path.GetFullPath(s.Model), Optimizer = s.Optimizer, LearningRate = optimizer.LearningRate, Seed = seed, Shuffle = shuffle,
                Batch = batch, EpochsDone = epochsDone, StepsDone = stepsDone, History = history, StepLosses = stepLosses,
                AdamSteps = moments.ToDictionary(kv => kv.Key, kv => kv.Value.Step),
            }.Write(StatePath(save));
        }

        var stepsToRun = (s.Epochs - options.StartEpoch) * trainer.StepsPerEpoch - options.StartStep;
        TrainingResult result = null!;
        StopRequested = false;
        async Task Run(ProgressTask? bar)
        {
            var lastValidation = "";
            var progress = new Progress<StepReport>(r =>
            {
                stepLosses.Add(r.Loss);
                if (bar is null) return;
                bar.Increment(1);
                var rate = r.Elapsed.TotalSeconds > 0 ? r.Evaluations / r.Elapsed.TotalSeconds : 0;
                bar.Description = Markup.Escape($"epoch {r.Epoch}/{s.Epochs} · loss {r.Loss:F4}{lastValidation} · {rate:F0} evaluations/s");
            });
            result = await trainer.RunAsync(new SynchronousProgress<StepReport>(((IProgress<StepReport>)progress).Report), async e =>
            {
                history.Add(EpochRecord.Of(e));
                lastValidation = e.Validation is { } v ? $" · validation {v.Metric}" : "";
                var rate = e.Elapsed.TotalSeconds > 0 ? e.Evaluations / e.Elapsed.TotalSeconds : 0;
                var line = $"epoch {e.Epoch,3}/{e.Epochs}  loss {e.Loss:F4}"
                    + (e.Validation is { } val ? $"  validation loss {val.Loss:F4}" + (val.Metric.Length > 0 ? $"  {val.Metric}" : "") : "")
                    + $"  {rate:F0} evaluations/s";
                if (bar is not null && !System.Console.IsOutputRedirected) progressConsole!.MarkupLine(Markup.Escape(line));
                else Line(Markup.Escape(line));
                await Checkpoint(e.Epoch, 0);
            }, () => StopRequested, cancellationToken);
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        if (progressConsole is null) await Run(null);
        else
            await progressConsole.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(ctx => Run(ctx.AddTask("training", maxValue: stepsToRun)));
        if (result.Stopped) await Checkpoint(result.LastEpoch - 1, result.LastStep);

        // Plotting is optional: a platform without the native plotting library trains all the same.
        var plotSkipped = history.Count > 0 ? TrainingPlot.Write(plotPath, Path.GetFileName(s.Model), history, stepLosses, trainer.StepsPerEpoch) : "no epoch finished";
        if (plotSkipped is not null && history.Count > 0) stderr.WriteLine($"note: {plotSkipped}");
        var last = history.Count > 0 ? history[^1] : null;
        if (json)
            Output.Json(stdout, new JsonObject
            {
                ["model"] = s.Model, ["backend"] = client.Backend.ToString(), ["rows"] = training.Data.Rows, ["rowsPerEvaluation"] = training.RowsPerEvaluation,
                ["stepsPerEpoch"] = trainer.StepsPerEpoch, ["stopped"] = result.Stopped, ["epochsDone"] = result.Stopped ? result.LastEpoch - 1 : result.LastEpoch,
                ["seconds"] = watch.Elapsed.TotalSeconds,
                ["epochs"] = new JsonArray([.. history.Select(h => (JsonNode)h.ToJson())]),
                ["saved"] = save is null ? null : Path.GetFullPath(save), ["plot"] = plotSkipped is null ? Path.GetFullPath(plotPath) : null,
            });
        else
        {
            Line(result.Stopped
                ? (result.LastStep == 0 ? $"stopped after epoch {result.LastEpoch - 1} (Ctrl-C)" : $"stopped after epoch {result.LastEpoch} step {result.LastStep} of {trainer.StepsPerEpoch} (Ctrl-C)")
                  + $"{(save is null ? "; nothing saved (no --save)" : $"; saved {Markup.Escape(save)}, continue with --resume")}"
                : $"trained {s.Epochs - options.StartEpoch} epochs in {watch.Elapsed.TotalSeconds:F1} s" + (last?.ValidationLoss is { } v ? $": validation loss {v:F4}" + (last.Accuracy is { } a ? $", accuracy {100 * a:F2} %" : last.Rmse is { } r ? $", RMSE {r:G4}" : "") : ""));
            if (save is not null && !result.Stopped) Line($"saved {Markup.Escape(save)} (the graph with its trained parameters) and {Markup.Escape(StatePath(save))}");
            if (plotSkipped is null) Line($"wrote {Markup.Escape(plotPath)}");
        }
        return result.Stopped ? Interrupted : 0;
    }

    /// <summary><c>eval MODEL --data DATA</c>: the loss and the score of a model on a data set.</summary>
    public static async Task<int> Eval(string modelPath, string dataPath, string? columns, string? predictions, string? target, ClientChoice backend, bool json, TextWriter stdout, CancellationToken cancellationToken)
    {
        // Scored as torch's model.eval() would: batch_norm on its running statistics, no dropout.
        var graph = Modes.inference(GraphFile.load(modelPath));
        var data = Bind(graph, dataPath, columns);
        var scoring = Scoring(graph, predictions, target);
        await using var client = await backend.ConnectAsync(cancellationToken);
        var model = await client.DeployAsync(Path.GetFileNameWithoutExtension(modelPath), graph, cancellationToken);
        var score = await Trainer.ScoreAsync(model, data, scoring, cancellationToken: cancellationToken);
        if (json) Output.Json(stdout, ScoreJson(score));
        else
        {
            stdout.WriteLine($"{Path.GetFileName(dataPath)}: {score.Rows} rows in {score.Evaluations} evaluations of {data.RowsPerEvaluation}"
                + (score.Padding > 0 ? $" (the last filled up with {score.Padding} rows from the start)" : ""));
            stdout.WriteLine($"loss {score.Loss:F6}" + (score.Metric.Length > 0 ? $"  {score.Metric}" : ""));
        }
        return 0;
    }

    public static JsonObject ScoreJson(Score s) => new()
    {
        ["loss"] = Output.Number(s.Loss), ["rows"] = s.Rows, ["evaluations"] = s.Evaluations, ["padding"] = s.Padding,
        ["task"] = s.Task?.ToString().ToLowerInvariant(),
        ["accuracy"] = s.Accuracy is { } a ? Output.Number(a) : null,
        ["rmse"] = s.Rmse is { } r ? Output.Number(r) : null, ["mae"] = s.Mae is { } m ? Output.Number(m) : null,
    };

    private static string BackendName(Backend b) => b switch
    {
        Backend.Local => "the local engine",
        Backend.Embedded => "the embedded silo",
        _ => "the cluster",
    };

    // A resumed run keeps its order and batches: an option given again must say what the checkpoint says.
    private static T? Agree<T>(string option, T? given, T? recorded) where T : struct
    {
        if (given is { } g && recorded is { } r && !EqualityComparer<T>.Default.Equals(g, r))
            throw new UserError($"{option} {g}: the checkpoint was trained with {r}; a resumed run keeps it (leave {option} out)");
        return given ?? recorded;
    }

    private static OptimizerSettings Optimizer(string name, double? learningRate)
    {
        var lr = learningRate ?? (name == "sgd" ? 0.01 : 0.001);
        if (!(lr > 0) || double.IsInfinity(lr)) throw new UserError($"--lr {lr}: the learning rate must be a positive number");
        return name switch
        {
            "sgd" => new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = lr },
            "adam" => new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = lr },
            _ => throw new UserError($"--optimizer {name}: choose sgd or adam"),
        };
    }

    private static Batches.Binding Bind(Graph graph, string path, string? columns)
    {
        try
        {
            var spec = columns is null ? null : Microsoft.FSharp.Core.FSharpOption<Microsoft.FSharp.Collections.FSharpList<DataFile.ColumnSpec>>.Some(DataFile.parseColumns(columns));
            if (!File.Exists(path)) throw new UserError($"{path}: no such data file");
            return Batches.bind(graph, DataFile.load(path, spec, graph));
        }
        catch (DataFile.DataFileException e)
        {
            throw new UserError(e.Message);
        }
    }

    // The training rows and the validation rows: another file, or a seeded fraction of the data.
    private static (Batches.Binding Training, Batches.Binding? Validation) ReadData(Graph graph, TrainSettings s, int seed)
    {
        var data = Bind(graph, s.Data, s.Columns);
        if (s.Validation is null) return (data, null);
        if (double.TryParse(s.Validation, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var fraction) && !File.Exists(s.Validation))
        {
            try
            {
                var (training, validation) = Batches.split(seed, fraction, data.Data);
                return (new Batches.Binding(data.RowsPerEvaluation, training), new Batches.Binding(data.RowsPerEvaluation, validation));
            }
            catch (ArgumentException e)
            {
                throw new UserError($"--validation {s.Validation}: {e.Message.Split(" (Parameter")[0]}");
            }
        }
        return (data, Bind(graph, s.Validation, s.Columns));
    }

    private static Metrics.Scoring? Scoring(Graph graph, string? predictions, string? target)
    {
        try
        {
            var scoring = Metrics.scoring(graph, Opt(predictions), Opt(target));
            if (scoring is null && (predictions is not null || target is not null))
                throw new UserError($"--predictions/--target: nodes of shapes that fit no score (classification takes predictions [B, C] and int64 labels [B] or probabilities [B, C]; regression two nodes of one shape)");
            return scoring?.Value;
        }
        catch (ArgumentException e)
        {
            throw new UserError(e.Message.Split(" (Parameter")[0]);
        }
    }

    private static Microsoft.FSharp.Core.FSharpOption<string>? Opt(string? s) => s is null ? null : Microsoft.FSharp.Core.FSharpOption<string>.Some(s);

    private static IAnsiConsole Console(TextWriter stdout, bool json)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Interactive = InteractionSupport.No });
        if (System.Console.IsOutputRedirected || stdout != System.Console.Out) console.Profile.Width = 200;
        return console;
    }

    // The progress bar, on stderr when it is a terminal (logs and progress never go to stdout).
    private static IAnsiConsole? ProgressConsole(TextWriter stderr, bool json)
    {
        if (json || stderr != System.Console.Error || System.Console.IsErrorRedirected) return null;
        return AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr), Interactive = InteractionSupport.Yes });
    }

    // Reports on the caller's thread, in order (Progress<T> posts to the thread pool and may reorder).
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

/// <summary>One finished epoch as a checkpoint and the plot keep it.</summary>
internal sealed record EpochRecord(int Epoch, double Loss, double? ValidationLoss, double? Accuracy, double? Rmse, double? Mae)
{
    public static EpochRecord Of(EpochReport e) => new(e.Epoch, e.Loss, e.Validation?.Loss, e.Validation?.Accuracy, e.Validation?.Rmse, e.Validation?.Mae);

    public JsonObject ToJson() => new()
    {
        ["epoch"] = Epoch, ["loss"] = Output.Number(Loss),
        ["validationLoss"] = ValidationLoss is { } v ? Output.Number(v) : null,
        ["accuracy"] = Accuracy is { } a ? Output.Number(a) : null,
        ["rmse"] = Rmse is { } r ? Output.Number(r) : null, ["mae"] = Mae is { } m ? Output.Number(m) : null,
    };
}

/// <summary>What <c>--save</c> writes beside the trained graph, and <c>--resume</c> reads back.</summary>
internal sealed record TrainingState
{
    public string Format { get; init; } = "adjoint-training";
    public required string Model { get; init; }
    public required string Optimizer { get; init; }
    public double LearningRate { get; init; }
    public int Seed { get; init; }
    public bool Shuffle { get; init; }
    public int? Batch { get; init; }
    public int EpochsDone { get; init; }
    public int StepsDone { get; init; }
    public List<EpochRecord> History { get; init; } = [];
    public List<double> StepLosses { get; init; } = [];
    public Dictionary<string, int> AdamSteps { get; init; } = [];

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Options));

    public static TrainingState Read(string checkpoint)
    {
        var path = TrainCommand.StatePath(checkpoint);
        if (!File.Exists(path))
            throw new UserError($"--resume: {checkpoint} has no training state beside it ({Path.GetFileName(path)}); resume from a file that train --save wrote");
        try
        {
            var state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path), Options);
            if (state is null || state.Format != "adjoint-training") throw new UserError($"{Path.GetFileName(path)}: not an adjoint training state");
            return state;
        }
        catch (JsonException e)
        {
            throw new UserError($"{Path.GetFileName(path)}: not a valid training state: {e.Message}");
        }
    }
}
