// Issue 20, items 2 and 3 in the grains: a traced evaluation is one distributed trace with a span per node
// step on the silo the node runs on; a timed one reports each node step into its result; neither when off.
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Adjoint.Grains.Tests;

[Collection(ThreeSiloCollection.Name)]
public sealed class ObservationTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ThreeSiloCluster fixture;
    // Spans of the source "Adjoint", as an OpenTelemetry exporter would receive them (all silos are in this process).
    private readonly ConcurrentBag<Activity> _spans = [];
    private readonly ActivityListener _listener;

    public ObservationTests(ThreeSiloCluster fixture)
    {
        this.fixture = fixture;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == Telemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Add,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    private List<Activity> SpansOf(string graphId) => [.. _spans.Where(s => (string?)s.GetTagItem("adjoint.graph") == graphId)];

    // The silo each node grain of the graph runs on, asked of the grains.
    private static async Task<Dictionary<string, string>> Placement(DistributedGraph graph, int version) =>
        await graph.Grain.Placement(version);

    // The nodes whose backward step runs in a mode: those whose λ is computed.
    private static List<string> BackwardNodes(Graph core, AdjointMode mode)
    {
        var plan = Plan.Compile(core);
        var reporting = DeployedGraph.Reporting(mode, false);
        return [.. Enumerable.Range(0, plan.Count).Where(p => reporting.ComputesAdjoint(plan, p)).Select(p => plan.Ids[p])];
    }

    [Fact]
    public async Task A_traced_evaluation_is_one_trace_with_a_span_per_node_step_on_the_nodes_silo()
    {
        var core = Graphs.TwoLayer();
        var graph = new DistributedGraph(fixture.Client, $"traced-{Guid.NewGuid():N}");
        var deployed = await graph.Deploy(core);
        // Four evaluations, every fourth traced: only the first.
        var results = await graph.Evaluate(deployed.Version, [null, null, null, null], new BatchOptions { TraceEvery = 4 }, Ct);
        Assert.All(results, r => Assert.True(r.Succeeded));
        var spans = SpansOf(graph.GraphId);
        var evaluation = Assert.Single(spans, s => s.OperationName == "evaluation");
        Assert.Equal(0, evaluation.GetTagItem("adjoint.evaluation"));
        Assert.Single(spans.Select(s => s.TraceId).Distinct());
        var steps = spans.Where(s => s.OperationName is "forward" or "backward").ToList();
        Assert.All(steps, s => Assert.Equal(evaluation.SpanId, s.ParentSpanId));
        Assert.Equal(core.Nodes.Select(n => n.Id).Order(), steps.Where(s => s.OperationName == "forward").Select(s => (string)s.GetTagItem("adjoint.node")!).Order());
        Assert.Equal(BackwardNodes(core, AdjointMode.All).Order(), steps.Where(s => s.OperationName == "backward").Select(s => (string)s.GetTagItem("adjoint.node")!).Order());
        // Each step's span names the silo its node grain runs on, and the graph spans several silos.
        var placement = await Placement(graph, deployed.Version);
        Assert.All(steps, s => Assert.Equal(placement[(string)s.GetTagItem("adjoint.node")!], s.GetTagItem("adjoint.silo")));
        Assert.Equal(placement.Values.Distinct().Count(), steps.Select(s => s.GetTagItem("adjoint.silo")).Distinct().Count());
        Assert.True(placement.Values.Distinct().Count() > 1, "the graph should run on more than one silo");
        Assert.All(steps, s => Assert.True((long)s.GetTagItem("adjoint.bytes_out")! > 0 || (string)s.GetTagItem("adjoint.node")! == core.Output));
        // Every node step lies within the evaluation's span.
        Assert.All(steps, s => Assert.InRange(s.StartTimeUtc, evaluation.StartTimeUtc, evaluation.StartTimeUtc + evaluation.Duration));
    }

    [Fact]
    public async Task An_untraced_untimed_batch_records_no_span_and_no_timing()
    {
        var core = Graphs.TwoLayer();
        var graph = new DistributedGraph(fixture.Client, $"plain-{Guid.NewGuid():N}");
        var deployed = await graph.Deploy(core);
        var results = await graph.Evaluate(deployed.Version, [null, null], new BatchOptions(), Ct);
        Assert.All(results, r => Assert.Empty(r.Timings));
        Assert.Empty(SpansOf(graph.GraphId));
    }

    [Fact]
    public async Task A_timed_evaluation_reports_every_node_step_with_its_silo_and_the_same_results()
    {
        var core = Graphs.TwoLayer();
        var graph = new DistributedGraph(fixture.Client, $"timed-{Guid.NewGuid():N}");
        var deployed = await graph.Deploy(core);
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters };
        var plain = await graph.Evaluate(deployed.Version, [null, null], options, Ct);
        var timed = await graph.Evaluate(deployed.Version, [null, null], new BatchOptions { Mode = AdjointMode.InputsAndParameters, Timing = true }, Ct);
        var placement = await Placement(graph, deployed.Version);
        for (var i = 0; i < 2; i++)
        {
            Assert.True(Tensor.BitwiseEqual(plain[i].Output!.ToTensor(), timed[i].Output!.ToTensor()));
            var steps = timed[i].Timings;
            Assert.Equal(core.Nodes.Select(n => n.Id).Order(), steps.Where(s => !s.Backward).Select(s => s.Node).Order());
            Assert.Equal(BackwardNodes(core, AdjointMode.InputsAndParameters).Order(), steps.Where(s => s.Backward).Select(s => s.Node).Order());
            Assert.All(steps, s => Assert.Equal(placement[s.Node], s.Silo));
            Assert.All(steps, s => Assert.True(s.DurationTicks >= 0 && s.StartTicks > 0));
            // A node's backward step begins after its forward step has ended.
            foreach (var b in steps.Where(s => s.Backward))
            {
                var f = steps.Single(s => !s.Backward && s.Node == b.Node);
                Assert.True(b.StartTicks >= f.StartTicks + f.DurationTicks - 10, $"node {b.Node}: backward step before its forward step ended");
            }
        }
    }
}
