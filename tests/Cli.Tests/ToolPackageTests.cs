// The adjoint tool package: small enough, with the examples, the README and the plot natives of every
// supported platform. It runs `dotnet pack` (the README's test command is the only test command, so
// the package is checked there): --no-build on the build this test assembly was made with, into a
// temporary folder, under a timeout, leaving no MSBuild node behind; a few seconds.
using System.Diagnostics;
using System.IO.Compression;
using Xunit;

namespace Adjoint.Cli.Tests;

public sealed class ToolPackageTests
{
    /// <summary>The bound on Adjoint.Cli.nupkg. It was 87 MB with SkiaSharp's natives for ~30 runtimes;
    /// with those of the five supported platforms it is ~35 MB (README, "Install").</summary>
    private const long MaxBytes = 40_000_000;

    /// <summary>The runtimes/ folders the tool may carry: the plot natives (linux-x64, linux-arm64, osx
    /// for x64 and arm64, win-x64) and `win`, managed Windows-only assemblies.</summary>
    private static readonly string[] Runtimes = ["linux-arm64", "linux-x64", "osx", "win", "win-x64"];

    [Fact]
    public async Task The_tool_package_is_below_its_bound_and_carries_the_examples_the_readme_and_the_supported_natives()
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(CliRun.Examples("two-layer.json")))!;
        var output = Path.Combine(Path.GetTempPath(), $"adjoint-pack-{Guid.NewGuid():N}");
        try
        {
            var nupkg = await PackAsync(root, output);
            var size = new FileInfo(nupkg).Length;
            Assert.True(size < MaxBytes, $"{Path.GetFileName(nupkg)} is {size:N0} bytes, the bound is {MaxBytes:N0}");

            using var zip = ZipFile.OpenRead(nupkg);
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            const string tool = "tools/net10.0/any/";

            Assert.Contains("README.md", entries);
            using (var nuspec = new StreamReader(zip.GetEntry("Adjoint.Cli.nuspec")!.Open()))
                Assert.Contains("<readme>README.md</readme>", await nuspec.ReadToEndAsync(TestContext.Current.CancellationToken));

            // Every example the repository has (graph files, their .npy/.npz arrays, data/), where `adjoint demo`
            // looks for them (AppContext.BaseDirectory/examples).
            var examples = Path.Combine(root, "examples");
            var expected = new[] { "*.json", "*.npy", "*.npz" }.SelectMany(pattern => Directory.GetFiles(examples, pattern))
                .Concat(Directory.Exists(Path.Combine(examples, "data")) ? Directory.GetFiles(Path.Combine(examples, "data")) : [])
                .Select(f => tool + "examples/" + Path.GetRelativePath(examples, f).Replace('\\', '/'))
                .ToList();
            Assert.Contains(tool + "examples/two-layer.json", expected);
            var missing = expected.Where(e => !entries.Contains(e)).ToList();
            Assert.True(missing.Count == 0, $"not in {Path.GetFileName(nupkg)}: {string.Join(", ", missing)}");

            var runtimes = entries.Where(e => e.StartsWith(tool + "runtimes/", StringComparison.Ordinal))
                .Select(e => e[(tool.Length + "runtimes/".Length)..].Split('/')[0]).Distinct().Order().ToList();
            Assert.Equal(Runtimes, runtimes);
            foreach (var native in new[] { "linux-x64/native/libSkiaSharp.so", "linux-arm64/native/libSkiaSharp.so", "osx/native/libSkiaSharp.dylib", "win-x64/native/libSkiaSharp.dll",
                                           "linux-x64/native/libHarfBuzzSharp.so", "linux-arm64/native/libHarfBuzzSharp.so", "osx/native/libHarfBuzzSharp.dylib", "win-x64/native/libHarfBuzzSharp.dll" })
                Assert.Contains(tool + "runtimes/" + native, entries);
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>`dotnet pack src/Cli` of this test's configuration without building; the .nupkg's path.</summary>
    private static async Task<string> PackAsync(string root, string output)
    {
        // tests/Cli.Tests/bin/CONFIGURATION/net10.0/: src/Cli was built in the same configuration.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
        [
            "pack", Path.Combine(root, "src", "Cli", "Cli.csproj"), "-c", configuration, "--no-build", "--no-restore", "-nologo", "-nodeReuse:false",
            "-o", output, $"-p:PublishDir={Path.Combine(output, "publish")}/", $"-p:NuspecOutputPath={Path.Combine(output, "nuspec")}/",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var log = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"dotnet pack exited {process.ExitCode}:\n{log}");
        var packages = Directory.GetFiles(output, "Adjoint.Cli.*.nupkg");
        Assert.True(packages.Length == 1, $"dotnet pack made {packages.Length} Adjoint.Cli .nupkg files:\n{log}");
        return packages[0];
    }
}
