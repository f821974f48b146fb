// Issue 7, item 2: state of an evaluation that nothing will finish is reclaimed after a timeout.
using Adjoint.Grains.Hosting;
using Orleans.TestingHost;

namespace Adjoint.Grains.Tests;

/// <summary>UseAdjoint() with a short reclaim timeout.</summary>
public sealed class QuickReclaimSilo : ISiloConfigurator
{
    public static readonly TimeSpan ReclaimAfter = TimeSpan.FromMilliseconds(300);

    public void Configure(ISiloBuilder siloBuilder) => siloBuilder.UseAdjoint(o => o.ReclaimAfter = ReclaimAfter);
}

[Trait("Category", "Reliability")]
public sealed class ReclaimTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task State_whose_coordinator_is_gone_is_reclaimed_and_the_node_keeps_serving()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<QuickReclaimSilo>();
        await using var cluster = builder.Build();
        await cluster.DeployAsync(Ct);
        try
        {
            // z = x·y: a start that reaches x but never y leaves z waiting for its second argument and x
            // for its adjoint, as when the coordinator and its client are lost with messages in flight.
            var b = new GraphBuilder();
            var x = b.Input("x", Tensor.Scalar(2.0));
            var y = b.Input("y", Tensor.Scalar(3.0));
            var core = b.Build(b.Mul(x, y, "z"));
            var graph = new DistributedGraph(cluster.Client, $"reclaim-{Guid.NewGuid():N}");
            var version = (await graph.Deploy(core)).Version;
            var description = await graph.Grain.Describe(version);
            INodeGrain Node(string id) => cluster.Client.GetGrain<INodeGrain>(NodeKey.Format(graph.GraphId, version, description.Layout, description.Assignment[id], id));
            var lost = Guid.NewGuid();
            await Node("x").Start([new StartItem(new EvalContext(lost, 0, AdjointMode.All, false), null)]);
            var live = await graph.Grain.CountLiveStates(version);
            for (var i = 0; i < 100 && live < 2; i++)
            {
                await Task.Delay(10, Ct);
                live = await graph.Grain.CountLiveStates(version);
            }
            Assert.Equal(2, live);

            // Reclaimed within two timeouts (one to go stale, one for the check), with room for a slow machine.
            for (var i = 0; i < 100 && live != 0; i++)
            {
                await Task.Delay(100, Ct);
                live = await graph.Grain.CountLiveStates(version);
            }
            Assert.Equal(0, live);

            // A late message of the reclaimed evaluation opens no state; a real batch still runs.
            await Node("z").Values([new ValueItem(new EvalContext(lost, 0, AdjointMode.All, false), 1, TensorData.From(Tensor.Scalar(3.0)))]);
            var results = await graph.Evaluate(version, [null], new BatchOptions { Mode = AdjointMode.All }, Ct);
            Assert.Equal(6.0, results[0].Output!.ToTensor().ScalarValue);
            Assert.Equal(3.0, results[0].Adjoints["x"].ToTensor().ScalarValue);
            Assert.Equal(0, await graph.Grain.CountLiveStates(version));
        }
        finally
        {
            await cluster.StopAllSilosAsync(Ct);
        }
    }
}
