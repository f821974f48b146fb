// The benchmark's output: one line per figure in the form the issues fix, and the tally for the summary.
using System.Globalization;

namespace Adjoint.Bench;

internal static class Figures
{
    public static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Every line printed so far and whether it met its target.</summary>
    public static readonly List<(string Line, bool Ok)> Lines = [];

    /// <summary>A number as the lines print it (invariant culture).</summary>
    public static string F(double x, string format = "0.00") => x.ToString(format, Inv);

    /// <summary>A rows × cols tensor of uniform values in [−scale, scale].</summary>
    public static Tensor RandomTensor(Random rng, int rows, int cols, double scale)
    {
        var data = new double[rows * cols];
        for (var k = 0; k < data.Length; k++) data[k] = (rng.NextDouble() * 2 - 1) * scale;
        return new Tensor(rows, cols, data);
    }

    /// <summary>Prints <c>P&lt;k&gt; &lt;name&gt;: &lt;figure&gt; &lt;unit&gt; ratio=&lt;r&gt; target=&lt;t&gt; ok|short</c>.</summary>
    public static void Report(TextWriter w, string id, string name, string figure, string unit, double ratio, string target, bool ok)
    {
        var line = $"{id} {name}: {figure} {unit} ratio={F(ratio)} target={target} {(ok ? "ok" : "short")}";
        Lines.Add((line, ok));
        w.WriteLine(line);
        w.Flush();
    }
}
