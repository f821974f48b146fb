// PNG plots through ScottPlot, and a one-line reason instead when this platform has no SkiaSharp natives.
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Adjoint.Cli;

internal static class Plots
{
    /// <summary>The platforms whose SkiaSharp/HarfBuzz natives the tool package carries (Cli.csproj).</summary>
    public const string Supported = "linux-x64, linux-arm64, osx-x64, osx-arm64, win-x64";

    /// <summary>
    /// Draws a plot and saves it as a PNG. Null when written; otherwise why not: plotting is optional, so a
    /// platform the tool carries no native plotting library for still runs every command, without pictures.
    /// </summary>
    public static string? TrySavePng(string path, int width, int height, Action<ScottPlot.Plot> draw)
    {
        try
        {
            var plot = new ScottPlot.Plot();
            draw(plot);
            plot.SavePng(path, width, height);
            return null;
        }
        catch (Exception e) when (MissingNative(e) is { } missing)
        {
            // .NET's message names the library in quotes, then explains probing at length.
            var library = Regex.Match(missing.Message, "'([^']+)'") is { Success: true } m ? m.Groups[1].Value : "libSkiaSharp";
            return $"no {Path.GetFileName(path)}: the native plotting library {library} could not be loaded on "
                + $"{RuntimeInformation.RuntimeIdentifier}; the adjoint tool carries it for {Supported}";
        }
    }

    private static DllNotFoundException? MissingNative(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is DllNotFoundException missing) return missing;
        return null;
    }
}
