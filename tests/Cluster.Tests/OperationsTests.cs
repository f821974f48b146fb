// Issue 12, items 4 and 5, on real processes: what an operator of local-cluster.sh relies on — silos
// that listen on loopback only, a port in use refused without harm to the silo holding it, logs that are
// appended and timestamped with shutdown events, and killed silos declared dead within seconds.
using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Adjoint.Client;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Adjoint.Cluster.Tests;

[Collection(LocalClusterCollection.Name)]
[Trait("Category", "Reliability")]
public sealed partial class OperationsTests(SharedCluster shared)
{
    // A console log line as the host writes it: a UTC ISO 8601 timestamp first.
    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")]
    private static partial Regex Timestamped();

    // What local-cluster.sh exports for failure detection: `export ADJOINT__Membership__X=${...:-VALUE}`.
    [GeneratedRegex(@"^export (ADJOINT__Membership__\w+)=\$\{\w+:-([^}]+)\}", RegexOptions.Multiline)]
    private static partial Regex ScriptMembership();

    // Orleans' SiloStatus in the membership table.
    private const int Active = (int)SiloStatus.Active, Dead = (int)SiloStatus.Dead;

    private static string Log(LocalCluster cluster, string name) => File.ReadAllText(Path.Combine(cluster.RunFolder, "logs", name));

    private static void Output(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public void ClusterModeSilosListenOnLoopbackOnly()
    {
        for (var i = 0; i < LocalCluster.Silos; i++)
        {
            int[] ports = [shared.SiloPort + i, shared.SiloPort + 5 + i];
            var listeners = IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Where(e => ports.Contains(e.Port)).ToList();
            Assert.Equal(2, listeners.Count);
            Assert.All(listeners, e => Assert.True(IPAddress.IsLoopback(e.Address), $"silo {i} listens on {e}, not on a loopback address"));
        }
    }

    [Fact]
    public async Task APortInUseIsRefusedAndTheSiloHoldingItStaysInTheCluster()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = new LocalCluster(silos: 1);
        await cluster.InitializeAsync();
        try
        {
            var pid = cluster.SiloPid(0);
            // A host on silo 0's silo port (its gateway port free): refused before it touches the membership table.
            var watch = Stopwatch.StartNew();
            var (code, output) = await RunToExit(await cluster.BuildHost(), new()
            {
                ["ADJOINT__Mode"] = "Cluster", ["ADJOINT__Redis"] = cluster.Redis, ["ADJOINT__AdvertisedAddress"] = "127.0.0.1",
                ["ADJOINT__SiloPort"] = cluster.SiloPort.ToString(), ["ADJOINT__GatewayPort"] = (cluster.SiloPort + 9).ToString(),
            });
            Assert.Equal(1, code);
            Assert.StartsWith($"error: silo port {cluster.SiloPort} on 127.0.0.1 is in use", output.Trim());
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"refusal took {watch.Elapsed}");

            // The script refuses too, before starting anything: another run folder, the same ports.
            var second = new LocalCluster(silos: 1);
            try
            {
                await second.BuildHost();
                var script = await RunToExit("bash", new()
                {
                    ["ADJOINT_RUN"] = second.RunFolder, ["ADJOINT_NO_BUILD"] = "1",
                    ["ADJOINT_SILO_PORT"] = cluster.SiloPort.ToString(), ["ADJOINT_GATEWAY_PORT"] = (cluster.SiloPort + 5).ToString(),
                    ["ADJOINT_REDIS_PORT"] = (cluster.SiloPort + 8).ToString(),
                }, Path.Combine(LocalCluster.Root, "deploy", "local-cluster.sh"), "up", "1");
                Assert.Equal(1, script.Code);
                Assert.Contains($"silo port {cluster.SiloPort} (silo 0) on 127.0.0.1 is in use", script.Output);
                Assert.False(Directory.Exists(Path.Combine(second.RunFolder, "pids")), "the refused `up` started something");
            }
            finally
            {
                if (Directory.Exists(Path.Combine(second.RunFolder, "pids"))) await second.Script("down");
                Directory.Delete(second.RunFolder, recursive: true);
            }

            // The running silo neither stopped nor was declared dead.
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            Assert.True(LocalCluster.IsRunning(pid), "the silo holding the port stopped");
            Assert.DoesNotContain("I have been told I am dead", Log(cluster, "silo0.log"));
            await using var client = await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend.Cluster, Redis = cluster.Redis }, ct);
            var hosts = await client.Grains!.GetGrain<IManagementGrain>(0).GetHosts(true, ct);
            Assert.Single(hosts);
            Assert.Equal(cluster.SiloPort, hosts.Keys.Single().Endpoint.Port);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task UpAppendsTimestampedLogsAndAStopIsLogged()
    {
        var cluster = new LocalCluster(silos: 1);
        await cluster.InitializeAsync();
        try
        {
            var (code, output) = await cluster.Script("down"); // SIGTERM
            Assert.True(code == 0, output);
            var first = Log(cluster, "silo0.log");
            Assert.Contains("Adjoint.Host[1002] Adjoint silo received SIGTERM", first);
            Assert.Contains("Adjoint.Host[1003] Adjoint silo stopping", first);
            Assert.Contains("Adjoint.Host[1004] Adjoint silo stopped", first);

            (code, output) = await cluster.Script("up", "1");
            Assert.True(code == 0, output);
            var log = Log(cluster, "silo0.log");
            Assert.StartsWith(first, log);
            var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var separators = lines.Where(l => l.StartsWith("===== ")).ToList();
            Assert.Equal(2, separators.Count);
            Assert.All(separators, s => Assert.Matches(@"^===== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z local-cluster.sh: starting silo 0 ", s));
            Assert.Equal(2, lines.Count(l => l.Contains("Adjoint.Host[1001] Adjoint silo started")));
            Assert.All(lines.Where(l => !l.StartsWith("===== ")), l => Assert.Matches(Timestamped(), l));
            Assert.Equal(2, Log(cluster, "redis.log").Split('\n').Count(l => l.StartsWith("===== ")));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task KilledSilosAreDeclaredDeadWithinSecondsAndASiloStartsAloneAfterAllWereKilled()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = new LocalCluster(LocalCluster.Silos);
        await cluster.InitializeAsync();
        Process? alone = null;
        try
        {
            // The membership table as the survivor writes it (Orleans' Redis clustering: one hash entry per silo).
            using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis))
            {
                var table = redis.GetDatabase();
                async Task<List<(int Port, int Status)>> Rows() =>
                    [.. (await table.HashGetAllAsync("adjoint/members/adjoint")).Where(e => e.Name != "Version").Select(e =>
                    {
                        var row = JsonNode.Parse(e.Value.ToString())!;
                        var address = row["SiloAddress"]!["SiloAddress"]!.GetValue<string>(); // "127.0.0.1:40001@123456"
                        return (int.Parse(address.Split(':', '@')[1]), row["Status"]!.GetValue<int>());
                    })];
                Assert.Equal(LocalCluster.Silos, (await Rows()).Count(r => r.Status == Active));

                // SIGKILL silos 1 and 2: no goodbye to the membership table; silo 0 alone must notice.
                var watch = Stopwatch.StartNew();
                foreach (var i in new[] { 1, 2 }) Process.GetProcessById(cluster.SiloPid(i)).Kill();
                int[] killed = [cluster.SiloPort + 1, cluster.SiloPort + 2];
                var bound = TimeSpan.FromSeconds(20);
                var rows = await Rows();
                while (!killed.All(port => rows.Any(r => r.Port == port && r.Status == Dead)))
                {
                    Assert.True(watch.Elapsed < bound, $"two killed silos not declared dead within {bound}: {string.Join(", ", rows)}");
                    await Task.Delay(200, ct);
                    rows = await Rows();
                }
                Output($"two of three silos killed with SIGKILL: declared dead after {watch.Elapsed.TotalSeconds:F1} s");
                Assert.Contains((await Rows()), r => r.Port == cluster.SiloPort && r.Status == Active);
            }

            // Kill the survivor too; a silo started alone then finds three rows 'Active' that no one will
            // answer for. It must not wait for minutes to join.
            Process.GetProcessById(cluster.SiloPid(0)).Kill();
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            var environment = ScriptMembership().Matches(File.ReadAllText(Path.Combine(LocalCluster.Root, "deploy", "local-cluster.sh")))
                .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
            Assert.NotEmpty(environment);
            environment["ADJOINT__Mode"] = "Cluster";
            environment["ADJOINT__Redis"] = cluster.Redis;
            environment["ADJOINT__AdvertisedAddress"] = "127.0.0.1";
            environment["ADJOINT__SiloPort"] = cluster.SiloPort.ToString();
            environment["ADJOINT__GatewayPort"] = (cluster.SiloPort + 5).ToString();
            var start = new ProcessStartInfo(await cluster.BuildHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var (key, value) in environment) start.Environment[key] = value;
            var joined = Stopwatch.StartNew();
            alone = Process.Start(start)!;
            var log = new StringBuilder();
            _ = alone.StandardError.ReadToEndAsync(ct);
            var joinBound = TimeSpan.FromSeconds(30);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(joinBound);
            while (!log.ToString().Contains("Adjoint silo started"))
            {
                string? line;
                try
                {
                    line = await alone.StandardOutput.ReadLineAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new Xunit.Sdk.XunitException($"a silo alone after all were killed did not start within {joinBound}:\n{log}");
                }
                log.AppendLine(line ?? throw new InvalidOperationException($"the host exited:\n{log}"));
            }
            Output($"all three silos killed, one started alone: joined after {joined.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            if (alone is not null)
            {
                alone.Kill();
                await alone.WaitForExitAsync(CancellationToken.None);
                alone.Dispose();
            }
            await cluster.DisposeAsync();
        }
    }

    private static async Task<(int Code, string Output)> RunToExit(string file, Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stderr + await stdout);
    }
}
