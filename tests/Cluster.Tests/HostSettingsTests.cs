using System.Diagnostics;

namespace Adjoint.Cluster.Tests;

/// <summary>The host refuses bad settings with one clear line and exit code 1, before starting a silo.</summary>
[Collection(LocalClusterCollection.Name)]
public sealed class HostSettingsTests
{
    private static async Task<(int Code, string Error)> RunHost(params string[] args)
    {
        var cluster = new LocalCluster(silos: 1);
        try
        {
            var start = new ProcessStartInfo(await cluster.BuildHost(), args)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            try
            {
                await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                // A host that accepted the settings runs on: do not leave it behind.
                process.Kill(entireProcessTree: true);
                throw;
            }
            return (process.ExitCode, (await error).Trim());
        }
        finally
        {
            Directory.Delete(cluster.RunFolder, recursive: true);
        }
    }

    [Fact]
    public async Task ClusterModeWithoutRedisIsRefused()
    {
        var (code, error) = await RunHost("--mode", "Cluster");
        Assert.Equal(1, code);
        Assert.Equal("error: cluster mode needs a Redis connection: set Adjoint:Redis (ADJOINT__Redis, --redis)", error);
    }

    [Fact]
    public async Task ASettingThatDoesNotConvertNamesItsKey()
    {
        var (code, error) = await RunHost("--silo-port", "eleven");
        Assert.Equal(1, code);
        Assert.Contains("'eleven' at 'Adjoint:SiloPort'", error);
    }

    [Fact]
    public async Task EqualPortsAreRefused()
    {
        var (code, error) = await RunHost("--silo-port", "40100", "--gateway-port", "40100");
        Assert.Equal(1, code);
        Assert.Equal("error: silo and gateway ports must differ, both are 40100", error);
    }

    [Fact]
    public async Task AMessageSizeBelowTheMinimumIsRefused()
    {
        var (code, error) = await RunHost("--max-message-size", "1000");
        Assert.Equal(1, code);
        Assert.Equal("error: Limits:MaxMessageBodySize must be at least 16384 bytes, got 1000", error);
    }

    [Fact]
    public async Task ListeningOnAnyAddressWithoutTlsIsRefused()
    {
        var (code, error) = await RunHost("--mode", "Cluster", "--redis", "127.0.0.1:1", "--listen-any", "true");
        Assert.Equal(1, code);
        Assert.Equal("error: Adjoint:ListenOnAnyAddress (--listen-any) opens the silo and gateway ports on every network: it needs TLS, set Adjoint:Tls:CertificatePath (--tls-certificate)", error);
    }

    [Fact]
    public async Task AFailureDetectionSettingOutOfRangeIsRefused()
    {
        var (code, error) = await RunHost("--Adjoint:Membership:NumVotesForDeathDeclaration", "0");
        Assert.Equal(1, code);
        Assert.Equal("error: Membership:NumVotesForDeathDeclaration must be at least 1, got 0", error);
    }

    [Fact]
    public async Task ADashboardAddressThatIsNoAddressIsRefused()
    {
        var (code, error) = await RunHost("--dashboard", "31999", "--dashboard-address", "the-moon");
        Assert.Equal(1, code);
        Assert.Equal("error: dashboard address 'the-moon' is not an IP address, 'localhost' or '*' (--dashboard-address)", error);
    }

    [Fact]
    public async Task ADashboardPortOutOfRangeIsRefused()
    {
        var (code, error) = await RunHost("--dashboard", "70000");
        Assert.Equal(1, code);
        Assert.Equal("error: dashboard port 70000 is not a valid port (--dashboard)", error);
    }

    [Fact]
    public async Task ADashboardPortInUseIsRefusedBeforeTheSiloStarts()
    {
        var ports = LocalCluster.PortBlock();
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, ports + 2);
        holder.Start();
        var (code, error) = await RunHost("--silo-port", ports.ToString(), "--gateway-port", (ports + 1).ToString(), "--dashboard", (ports + 2).ToString());
        Assert.Equal(1, code);
        Assert.Equal($"error: dashboard port {ports + 2} on 127.0.0.1 is in use (another silo or program listens there); stop it or choose another port (--dashboard)", error);
    }
}
