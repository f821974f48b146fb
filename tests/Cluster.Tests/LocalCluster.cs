using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// A real cluster of separate processes, brought up once for the collection by
/// <c>deploy/local-cluster.sh up 3</c> (a private redis-server and three silo hosts) in a run folder of
/// its own, and brought down at the end.
/// </summary>
public class LocalCluster(int silos) : IAsyncLifetime
{
    /// <summary>The silos of the shared cluster.</summary>
    public const int Silos = 3;

    public static string Root { get; } = FindRoot();

    public string RunFolder { get; } = Directory.CreateTempSubdirectory("adjoint-cluster-").FullName;

    /// <summary>Extra environment for the script and so for every silo (e.g. ADJOINT__Tls__CertificatePath).</summary>
    public Dictionary<string, string> Environment { get; } = new();

    /// <summary>
    /// Silo i listens on SiloPort + i and its gateway on SiloPort + 5 + i: away from the defaults a dev
    /// host or another cluster may hold, a range of its own for each cluster, known to tests that need to
    /// tell silos apart.
    /// </summary>
    public int SiloPort { get; } = PortBlock();

    /// <summary>
    /// A block of ten free ports in 30000–32759, a different one on each call in this process. Below
    /// Linux's ephemeral range (32768–60999): a port in that range can be taken between the check and the
    /// bind by any outgoing connection (a silo's own connection to Redis once took silo 2's port), and above
    /// Orleans TestCluster's ranges (12000–22000, 22300–30000), which the Grains tests use at the same time.
    /// </summary>
    public static int PortBlock()
    {
        const int first = 30000, blocks = 276;
        var listening = IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Select(e => e.Port).ToHashSet();
        lock (BlocksGiven)
        {
            var start = Random.Shared.Next(blocks);
            for (var k = 0; k < blocks; k++)
            {
                var port = first + (start + k) % blocks * 10;
                if (BlocksGiven.Contains(port) || Enumerable.Range(port, 10).Any(listening.Contains)) continue;
                BlocksGiven.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException("no free block of ten ports in 30000-32759");
    }

    private static readonly HashSet<int> BlocksGiven = [];

    /// <summary>Silo i serves its metrics for Prometheus at http://127.0.0.1:PrometheusPort + i/metrics (a block of its own).</summary>
    public int PrometheusPort { get; } = PortBlock();

    /// <summary>The Redis connection string clients pass to --cluster.</summary>
    public string Redis { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        await BuildHost();
        var (code, output) = await Script("up", silos.ToString());
        Assert.True(code == 0, $"local-cluster.sh up failed ({code}):\n{output}");
        Redis = File.ReadAllText(Path.Combine(RunFolder, "cluster")).Trim();
    }

    public async ValueTask DisposeAsync()
    {
        await Script("down");
        // ADJOINT_KEEP_RUN=1 keeps the run folder (the silos' logs) to look into a failure.
        if (System.Environment.GetEnvironmentVariable("ADJOINT_KEEP_RUN") != "1") Directory.Delete(RunFolder, recursive: true);
    }

    /// <summary>The pids the script recorded (read before <c>down</c> removes them).</summary>
    public IReadOnlyList<int> Pids() =>
        Directory.GetFiles(Path.Combine(RunFolder, "pids"), "*.pid").Select(f => int.Parse(File.ReadAllText(f).Trim())).ToList();

    /// <summary>The pid of silo i (listening on SiloPort + i), as the script recorded it.</summary>
    public int SiloPid(int silo) => int.Parse(File.ReadAllText(Path.Combine(RunFolder, "pids", $"silo{silo}.pid")).Trim());

    /// <summary>
    /// Whether a process runs. An exited process whose parent is gone stays a zombie until init reaps it,
    /// and .NET still reports it as not exited; it is dead all the same (local-cluster.sh sees it so too).
    /// </summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            if (Process.GetProcessById(pid).HasExited) return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
        // /proc/<pid>/stat: "pid (name) S ..."; the state follows the name's closing parenthesis.
        var stat = Path.Combine("/proc", pid.ToString(), "stat");
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].FirstOrDefault() != 'Z';
        }
        catch (IOException)
        {
            return !OperatingSystem.IsLinux();
        }
    }

    private static readonly SemaphoreSlim BuildGate = new(1, 1);
    private static bool _built;

    /// <summary>Builds the host the way the script does (once per test run) and returns its executable.</summary>
    public async Task<string> BuildHost()
    {
        await BuildGate.WaitAsync();
        try
        {
            if (!_built)
            {
                var (code, output) = await Script("build");
                Assert.True(code == 0, output);
                _built = true;
            }
        }
        finally
        {
            BuildGate.Release();
        }
        return Path.Combine(Root, "src", "Host", "bin", "Release", "net10.0", "adjoint-host");
    }

    public async Task<(int Code, string Output)> Script(params string[] args)
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(Root, "deploy", "local-cluster.sh"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ADJOINT_RUN"] = RunFolder;
        start.Environment["ADJOINT_NO_BUILD"] = _built ? "1" : "";
        foreach (var (key, value) in Environment) start.Environment[key] = value;
        start.Environment["ADJOINT_REDIS_PORT"] = FreePort().ToString();
        start.Environment["ADJOINT_SILO_PORT"] = SiloPort.ToString();
        start.Environment["ADJOINT_GATEWAY_PORT"] = (SiloPort + 5).ToString();
        start.Environment["ADJOINT_PROMETHEUS_PORT"] = PrometheusPort.ToString();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Distributed.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Distributed.sln not found above the test binaries");
    }
}

/// <summary>The cluster the collection shares: three silos.</summary>
public sealed class SharedCluster() : LocalCluster(Silos);

[CollectionDefinition(Name)]
public sealed class LocalClusterCollection : ICollectionFixture<SharedCluster>
{
    public const string Name = "local cluster";
}
