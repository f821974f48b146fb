// What the CLI test classes share: the examples folder, and running the CLI in-process.
namespace Adjoint.Cli.Tests;

internal static class CliRun
{
    /// <summary>A file of the repository's examples/ folder.</summary>
    public static string Examples(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distributed.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "examples", name);
    }

    /// <summary>A file of tests/Cli.Tests/fixtures (made by the scripts there).</summary>
    public static string Fixture(string name) =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Examples(name)))!, "tests", "Cli.Tests", "fixtures", name);

    /// <summary>Runs one command line in-process; its exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Invoke(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = Cli.RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
        return (code, stdout.ToString(), stderr.ToString());
    }
}
