// Plots: a PNG when SkiaSharp loads, a one-line reason naming library and platform when it does not.
using System.Runtime.InteropServices;
using Xunit;

namespace Adjoint.Cli.Tests;

public sealed class PlotsTests
{
    [Fact]
    public void A_plot_is_written_as_a_png()
    {
        var png = Path.Combine(Path.GetTempPath(), $"adjoint-plot-{Guid.NewGuid():N}.png");
        try
        {
            Assert.Null(Plots.TrySavePng(png, 200, 100, plot => plot.Add.Scatter(new double[] { 0, 1 }, new double[] { 1, 0 })));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        }
        finally
        {
            File.Delete(png);
        }
    }

    [Fact]
    public void A_missing_native_library_is_a_reason_not_a_crash()
    {
        // What SkiaSharp throws where its native library is not shipped: the type initializer's failure
        // around .NET's DllNotFoundException.
        var missing = new TypeInitializationException("SkiaSharp.SkiaApi", new DllNotFoundException(
            "Unable to load shared library 'libSkiaSharp' or one of its dependencies. In order to help diagnose loading problems, consider using a tool like strace."));
        var reason = Plots.TrySavePng(Path.Combine(Path.GetTempPath(), "loss.png"), 200, 100, _ => throw missing);
        Assert.Equal($"no loss.png: the native plotting library libSkiaSharp could not be loaded on {RuntimeInformation.RuntimeIdentifier}; "
            + "the adjoint tool carries it for linux-x64, linux-arm64, osx-x64, osx-arm64, win-x64", reason);
    }

    [Fact]
    public void Other_failures_are_not_taken_for_a_missing_library()
    {
        Assert.Throws<InvalidOperationException>(() => Plots.TrySavePng(Path.Combine(Path.GetTempPath(), "x.png"), 200, 100, _ => throw new InvalidOperationException("a bug")));
    }
}
