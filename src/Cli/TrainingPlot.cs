// The picture of a training run: the loss per step and per epoch on a log scale, the validation
// score on its own axis.
using ScottPlot;

namespace Adjoint.Cli;

internal static class TrainingPlot
{
    /// <summary>Writes the plot; null when written, otherwise why not (see <see cref="Plots.TrySavePng"/>).</summary>
    public static string? Write(string path, string model, IReadOnlyList<EpochRecord> history, IReadOnlyList<double> stepLosses, int stepsPerEpoch) =>
        Plots.TrySavePng(path, 900, 540, plot => Draw(plot, model, history, stepLosses, stepsPerEpoch));

    private static void Draw(Plot plot, string model, IReadOnlyList<EpochRecord> history, IReadOnlyList<double> stepLosses, int stepsPerEpoch)
    {
        // Losses span decades as a model learns: log10 of them on a linear axis, labelled as powers.
        static double Log(double v) => v > 0 ? Math.Log10(v) : double.NaN;
        var steps = stepLosses.Count;
        if (steps > 0)
        {
            // Step k of the run (resumed runs continue the count) ends at epoch (k + 1) / steps per epoch.
            var xs = Enumerable.Range(0, steps).Select(k => (k + 1.0) / stepsPerEpoch).ToArray();
            var step = plot.Add.ScatterLine(xs, stepLosses.Select(Log).ToArray());
            step.LegendText = "training loss (step)";
            step.Color = Colors.SteelBlue.WithAlpha(0.35);
        }
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var train = plot.Add.Scatter(epochs, history.Select(h => Log(h.Loss)).ToArray());
        train.LegendText = "training loss (epoch mean)";
        train.Color = Colors.SteelBlue;
        if (history.Any(h => h.ValidationLoss is not null))
        {
            var validation = plot.Add.Scatter(epochs, history.Select(h => Log(h.ValidationLoss ?? double.NaN)).ToArray());
            validation.LegendText = "validation loss";
            validation.Color = Colors.DarkOrange;
        }
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => $"{Math.Pow(10, y):G3}",
        };
        plot.Axes.Left.TickGenerator = ticks;
        plot.Axes.Left.Label.Text = "loss (log scale)";
        var metric = history.Any(h => h.Accuracy is not null) ? ("validation accuracy (%)", history.Select(h => 100 * (h.Accuracy ?? double.NaN)))
            : history.Any(h => h.Rmse is not null) ? ("validation RMSE", history.Select(h => h.Rmse ?? double.NaN))
            : ((string, IEnumerable<double>)?)null;
        if (metric is { } m)
        {
            var score = plot.Add.Scatter(epochs, m.Item2.ToArray());
            score.LegendText = m.Item1;
            score.Color = Colors.SeaGreen;
            score.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = m.Item1;
        }
        plot.Title($"{model}: training");
        plot.XLabel("epoch");
        plot.ShowLegend(Alignment.UpperCenter);
    }
}
