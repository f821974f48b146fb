// Adjoint.Testing's cluster: its storage is shared by the silos, so trained parameters outlive a stopped silo.
using Adjoint.Client;
using Adjoint.Examples;
using Adjoint.Testing;

namespace Adjoint.Samples.Tests;

public sealed class AdjointTestClusterTests
{
    [Fact]
    public async Task ParametersSurviveAStoppedSiloAndRecordsGoWithTheCluster()
    {
        var ct = TestContext.Current.CancellationToken;
        var cluster = await AdjointTestCluster.StartAsync(silos: 2, ct);
        var service = cluster.ServiceId;
        try
        {
            var id = cluster.NewGraphId("net");
            Assert.NotEqual(id, cluster.NewGraphId("net"));
            var graph = TrainingSample.BuildNet();
            var net = await cluster.Client.DeployAsync(id, graph, ct);
            var inputs = TrainingSample.Example(1);
            await net.TrainStepAsync([inputs], new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.1 }, ct);
            var trained = await net.ReadParametersAsync(ct);
            Assert.NotEmpty(Bitwise.Differences(graph.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value.Value), trained));

            await cluster.StopSiloAsync();

            var again = await cluster.Client.DeployAsync(id, graph, ct);   // the same version, re-partitioned on one silo
            Assert.Empty(Bitwise.Differences(trained, await again.ReadParametersAsync(ct)));
            Assert.Throws<InvalidOperationException>(() => { cluster.StopSiloAsync().GetAwaiter().GetResult(); });
            Assert.True(SharedStorage.Count(service) > 0);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
        Assert.Equal(0, SharedStorage.Count(service));
    }
}
