// A user's program on the facade: the seed's two-layer net built with GraphBuilder, evaluated and trained
// through AdjointClient on any back end, its parameters read back (the README's facade snippet is RunAsync's).
using Adjoint.Client;

namespace Adjoint.Examples;

/// <summary>What one run of the sample learnt.</summary>
/// <param name="Losses">The mean loss before each training step.</param>
/// <param name="Evaluated">Evaluations of the batch that succeeded.</param>
/// <param name="Parameters">The trained parameters, by node id.</param>
public sealed record SampleRun(IReadOnlyList<double> Losses, int Evaluated, IReadOnlyDictionary<string, Tensor> Parameters);

/// <summary>Builds, evaluates and trains ‖σ(XW1)W2 − y‖² on a back end.</summary>
public static class TrainingSample
{
    /// <summary>Training steps each run takes.</summary>
    public const int Steps = 30;

    /// <summary>The seed's two-layer net ‖σ(XW1)W2 − y‖²: X 4×3 and y 4×1 inputs, W1 3×5 and W2 5×1 parameters.</summary>
    public static Graph BuildNet()
    {
        var b = new GraphBuilder();
        var x = b.Input("X", 4, 3);
        var y = b.Input("y", 4, 1);
        var w1 = b.Parameter("W1", Fill(3, 5, (i, j) => 0.3 * Math.Sin(1 + i + 2 * j)));
        var w2 = b.Parameter("W2", Fill(5, 1, (i, _) => 0.5 * Math.Cos(i)));
        var h = b.Sigmoid(b.MatMul(x, w1), "h");
        return b.Build(b.SquaredNorm(b.Sub(b.MatMul(h, w2), y), "loss"));
    }

    /// <summary>Example k: X and its target y = sin(Σ_j X_ij).</summary>
    public static IReadOnlyDictionary<string, Tensor> Example(int k)
    {
        var x = Fill(4, 3, (i, j) => Math.Cos(0.7 * k + 1.3 * i - 0.4 * j));
        var y = Fill(4, 1, (i, _) => Math.Sin(x[i, 0] + x[i, 1] + x[i, 2]));
        return new Dictionary<string, Tensor> { ["X"] = x, ["y"] = y };
    }

    /// <summary>Runs the sample on the local engine and on an embedded silo and prints what they learnt;
    /// 0 when both learnt the same parameters bit for bit.</summary>
    public static async Task<int> MainAsync(TextWriter output, string outputDirectory, CancellationToken ct)
    {
        Directory.CreateDirectory(outputDirectory);
        var runs = new Dictionary<Backend, SampleRun>();
        foreach (var backend in new[] { Backend.Local, Backend.Embedded })
        {
            var run = await RunAsync(new AdjointClientOptions { Backend = backend }, output, outputDirectory, ct);
            output.WriteLine($"{backend}: loss {run.Losses[0]:0.######} -> {run.Losses[^1]:0.######} in {Steps} Adam steps; {run.Evaluated} evaluations");
            output.WriteLine($"{backend}: W2 = [{string.Join(", ", run.Parameters["W2"].Data.Select(v => v.ToString("0.######", System.Globalization.CultureInfo.InvariantCulture)))}]");
            runs[backend] = run;
        }
        var same = runs[Backend.Local].Parameters.All(kv => Tensor.BitwiseEqual(kv.Value, runs[Backend.Embedded].Parameters[kv.Key]));
        output.WriteLine($"Local and Embedded trained the same parameters bit for bit: {(same ? "yes" : "no")}");
        return same ? 0 : 1;
    }

    /// <summary>Deploys the net, takes its gradient, evaluates a batch, trains it and reads its parameters;
    /// on a silo also lists, describes, exports and undeploys the model.</summary>
    public static async Task<SampleRun> RunAsync(AdjointClientOptions options, TextWriter output, string outputDirectory, CancellationToken ct)
    {
        var graph = BuildNet();
        var inputs = Example(0);
        var inputSets = Enumerable.Range(0, 100).Select(Example).ToList();
        var miniBatch = Enumerable.Range(0, 8).Select(Example).ToList();
        var progress = new LastProgress();
        var losses = new List<double>();
        var evaluated = 0;

        // <facade>
        await using var client = await AdjointClient.ConnectAsync(options, ct); // Backend.Local, Backend.Embedded, or Backend.Cluster with Redis = "127.0.0.1:6390"
        var net = await client.DeployAsync("two-layer", graph, ct);
        var g = await net.GradientAsync(inputs, Adjoints.All, ct);                       // z_n and every λ
        await foreach (var r in net.EvaluateBatchAsync(inputSets, new BatchOptions { Window = 64 }, progress, ct)) evaluated += r.Succeeded ? 1 : 0;
        for (var step = 0; step < Steps; step++)
            losses.Add(await net.TrainStepAsync(miniBatch, new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.05 }, ct));
        var parameters = await net.ReadParametersAsync(ct);

        if (client.Backend != Backend.Local)
        {
            // What is deployed (embedded silo or cluster): models, versions, trained values.
            var models = await client.ListModelsAsync(ct);                                  // ids and versions
            var about = await client.DescribeAsync("two-layer", version: 0, ct);            // 0: the latest
            var (_, trained) = await client.ExportAsync("two-layer", cancellationToken: ct); // the graph with trained values
            GraphFile.save(trained, Path.Combine(outputDirectory, "two-layer-trained.json"));
            await client.UndeployAsync("two-layer", about.Version, ct);                     // or UndeployAllAsync
            output.WriteLine($"{client.Backend}: {models.Count} model(s); '{about.GraphId}' v{about.Version}, {about.NodeCount} nodes");
        }
        // </facade>

        output.WriteLine($"{client.Backend}: z_n = {g.Loss:0.######}, λ_W1 is {g.Adjoint("W1").Shape}; batch {progress.Last.Completed} of {progress.Last.Total}");
        return new SampleRun(losses, evaluated, parameters);
    }

    private static Tensor Fill(int rows, int cols, Func<int, int, double> value) =>
        Tensor.OfRows([.. Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Select(j => value(i, j)).ToArray())]);

    // Progress<T> would report on the thread pool, after the batch; this keeps the last report in order.
    private sealed class LastProgress : IProgress<BatchProgress>
    {
        public BatchProgress Last { get; private set; }

        public void Report(BatchProgress value) => Last = value;
    }
}
