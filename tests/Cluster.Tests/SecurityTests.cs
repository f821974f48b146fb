using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Adjoint.Client;

namespace Adjoint.Cluster.Tests;

/// <summary>
/// TLS on a real cluster of silo processes (silo-to-silo and client-to-gateway), with a self-signed
/// certificate made here; and a dev-mode host that listens on loopback only.
/// </summary>
[Trait("Category", "Reliability")]
[Collection(LocalClusterCollection.Name)]
public sealed class SecurityTests
{
    private static string SelfSignedPfx(string folder, string password)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=adjoint-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false)); // server and client auth
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(folder, "adjoint-test.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    [Fact]
    public async Task ATlsClusterServesTlsClientsAndRefusesPlainOnes()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = new LocalCluster(silos: 2);
        var pfx = SelfSignedPfx(cluster.RunFolder, "test-password");
        cluster.Environment["ADJOINT__Tls__CertificatePath"] = pfx;
        cluster.Environment["ADJOINT__Tls__CertificatePassword"] = "test-password";
        await cluster.InitializeAsync();
        try
        {
            Assert.All(Enumerable.Range(0, 2), i =>
                Assert.Contains("TLS on", File.ReadAllText(Path.Combine(cluster.RunFolder, "logs", $"silo{i}.log"))));
            await using (var client = await AdjointClient.ConnectAsync(new AdjointClientOptions
            {
                Backend = Backend.Cluster, Redis = cluster.Redis, TlsCertificatePath = pfx, TlsCertificatePassword = "test-password",
            }, ct))
            {
                var net = await client.DeployAsync("tls", Graphs.TwoLayer(), ct);
                var reference = Engine.gradient(Adjoints.All, Plan.Compile(Graphs.TwoLayer()), null);
                var g = await net.GradientAsync(cancellationToken: ct);
                Assert.True(Tensor.BitwiseEqual(reference.Adjoint("W1"), g.Adjoint("W1")));
            }
            // Without TLS the gateways refuse the connection: a clear error, not a hang.
            var watch = Stopwatch.StartNew();
            var refused = await Assert.ThrowsAsync<ClusterUnreachableException>(() => AdjointClient.ConnectAsync(new AdjointClientOptions
            {
                Backend = Backend.Cluster, Redis = cluster.Redis, ConnectTimeout = TimeSpan.FromSeconds(3),
            }, ct));
            Assert.StartsWith("cannot reach the cluster 'adjoint'", refused.Message);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"refusal took {watch.Elapsed}");
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task ADevModeHostListensOnLoopbackOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = new LocalCluster(silos: 1);
        var host = await cluster.BuildHost();
        var siloPort = LocalCluster.PortBlock();
        var start = new ProcessStartInfo(host, ["--silo-port", siloPort.ToString(), "--gateway-port", (siloPort + 1).ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        try
        {
            var log = new System.Text.StringBuilder();
            while (!log.ToString().Contains("Adjoint silo started"))
            {
                var line = await process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct)
                    ?? throw new InvalidOperationException($"the host exited:\n{log}");
                log.AppendLine(line);
            }
            Assert.Contains("mode Dev", log.ToString());
            var listeners = IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners()
                .Where(e => e.Port == siloPort || e.Port == siloPort + 1).ToList();
            Assert.Equal(2, listeners.Count);
            Assert.All(listeners, e => Assert.True(IPAddress.IsLoopback(e.Address), $"{e} is not a loopback address"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(ct);
            Directory.Delete(cluster.RunFolder, recursive: true);
        }
    }
}
