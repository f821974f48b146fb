// The distributed engine against the local engine on 1 and 3 silos: values and every adjoint bitwise
// equal, batches, failures, concurrency, parameters, and no per-evaluation state left behind.
using Orleans.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Adjoint.Grains.Tests;

public abstract class DistributedEngineTests(ClusterFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DistributedGraph NewGraph(string name) => new(fixture.Client, $"{name}-{Guid.NewGuid():N}");

    private static async Task AssertNoLiveState(DistributedGraph graph, int version, bool settle = false)
    {
        // When every evaluation succeeded, every node freed its state before its result was complete;
        // after failures and cancellation the last frees may still be on their way, so poll briefly.
        var live = await graph.Grain.CountLiveStates(version);
        for (var i = 0; settle && i < 100 && live != 0; i++)
        {
            await Task.Delay(20, Ct);
            live = await graph.Grain.CountLiveStates(version);
        }
        Assert.Equal(0, live);
    }

    private static async Task<List<EvaluationResult>> RunAndCompare(
        DistributedGraph graph, int version, Graph core, IReadOnlyList<Dictionary<string, Tensor>?> inputs, BatchOptions options)
    {
        var results = await graph.Evaluate(version, inputs, options, Ct);
        Assert.Equal(inputs.Count, results.Count);
        var plan = Plan.Compile(core);
        for (var i = 0; i < inputs.Count; i++)
            Local.AssertEqual(plan, inputs[i], results[i], options.Mode, options.ReportValues);
        await AssertNoLiveState(graph, version);
        return results;
    }

    [Theory]
    [InlineData(AdjointMode.All)]
    [InlineData(AdjointMode.InputsAndParameters)]
    [InlineData(AdjointMode.None)]
    public async Task Two_layer_net_equals_the_local_engine_bitwise(AdjointMode mode)
    {
        var core = Graphs.TwoLayer();
        var graph = NewGraph("two-layer");
        var deployed = await graph.Deploy(core);
        Assert.Equal(fixture.Silos, deployed.Partitions);
        await RunAndCompare(graph, deployed.Version, core, [null, new() { ["X"] = Graphs.RandomX(1) }],
            new BatchOptions { Mode = mode, ReportValues = true });
    }

    [Theory]
    [InlineData(AdjointMode.All)]
    [InlineData(AdjointMode.InputsAndParameters)]
    public async Task Rank_3_and_4_tensors_with_broadcasting_equal_the_local_engine_bitwise(AdjointMode mode)
    {
        var core = GraphFile.load(Path.Combine(AppContext.BaseDirectory, "examples", "broadcast.json"));
        var graph = NewGraph("broadcast");
        var deployed = await graph.Deploy(core);
        await RunAndCompare(graph, deployed.Version, core, [null, Graphs.RandomInputs(core, 3)],
            new BatchOptions { Mode = mode, ReportValues = true });
    }

    [Theory]
    [InlineData(AdjointMode.All)]
    [InlineData(AdjointMode.InputsAndParameters)]
    public async Task Random_dag_of_250_nodes_equals_the_local_engine_bitwise(AdjointMode mode)
    {
        var core = Graphs.RandomDag(seed: 7, size: 250);
        Assert.True(core.Count >= 200);
        var graph = NewGraph("dag");
        var deployed = await graph.Deploy(core);
        await RunAndCompare(graph, deployed.Version, core,
            [.. Enumerable.Range(0, 4).Select(s => Graphs.RandomInputs(core, s))],
            new BatchOptions { Mode = mode, ReportValues = true });
    }

    [Fact]
    public async Task Random_dags_of_other_seeds_equal_the_local_engine_bitwise()
    {
        foreach (var seed in new[] { 11, 12 })
        {
            var core = Graphs.RandomDag(seed, size: 220);
            var graph = NewGraph("dag");
            var deployed = await graph.Deploy(core);
            await RunAndCompare(graph, deployed.Version, core, [Graphs.RandomInputs(core, seed)],
                new BatchOptions { Mode = AdjointMode.All, ReportValues = true });
        }
    }

    [Fact]
    public async Task Random_graphs_of_every_op_of_the_catalogue_equal_the_local_engine_bitwise()
    {
        // Every op twice per graph, each with a shape class and attributes of its row in the op table
        // (tests/OpTable), its arguments leaves or computed from earlier ops; two seeds.
        var ops = Adjoint.OpTable.RandomOpGraph.allOps();
        foreach (var seed in new[] { 1, 2 })
        {
            var core = Adjoint.OpTable.RandomOpGraph.build(seed, ops, 2);
            foreach (var op in ops) Assert.Contains(core.Nodes, n => n.Op.Name == op);
            var graph = NewGraph("ops");
            var deployed = await graph.Deploy(core);
            await RunAndCompare(graph, deployed.Version, core,
                [null, new Dictionary<string, Tensor>(Adjoint.OpTable.RandomOpGraph.inputs(core, seed))],
                new BatchOptions { Mode = AdjointMode.All, ReportValues = true });
        }
    }

    [Fact]
    public async Task A_batch_of_1000_evaluations_comes_back_in_submission_order()
    {
        var core = Graphs.TwoLayer();
        var graph = NewGraph("batch");
        var deployed = await graph.Deploy(core);
        var inputs = Enumerable.Range(0, 1000).Select(i => new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) }).ToList();
        await RunAndCompare(graph, deployed.Version, core, inputs!, new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 100 });
    }

    [Fact]
    public async Task A_failing_op_fails_only_its_evaluation()
    {
        var core = Graphs.Solve();
        var graph = NewGraph("solve");
        var deployed = await graph.Deploy(core);
        var regular = new Tensor(2, 2, [2.0, 1.0, 1.0, 3.0]);
        var singular = new Tensor(2, 2, [1.0, 2.0, 2.0, 4.0]);
        var rhs = new Tensor(2, 1, [1.0, -1.0]);
        var inputs = Enumerable.Range(0, 10)
            .Select(i => new Dictionary<string, Tensor> { ["A"] = i % 4 == 3 ? singular : regular, ["b"] = rhs }).ToList();
        inputs.Add(new Dictionary<string, Tensor> { ["A"] = regular });
        var results = await graph.Evaluate(deployed.Version, inputs, new BatchOptions { Mode = AdjointMode.All }, Ct);
        var plan = Plan.Compile(core);
        for (var i = 0; i < 10; i++)
        {
            if (i % 4 != 3)
            {
                Local.AssertEqual(plan, inputs[i], results[i], AdjointMode.All, values: false);
                continue;
            }
            var local = Assert.Throws<EvaluationException>(() => Engine.gradient(Adjoints.All, plan, inputs[i]));
            Assert.Equal(new EvaluationFailure(local.Node, local.Op, local.Reason), results[i].Failure);
            Assert.Equal("x", results[i].Failure!.Node);
            Assert.Equal("solve", results[i].Failure!.Op);
        }
        Assert.Equal(new EvaluationFailure("b", "input", "no value bound to this input"), results[10].Failure);
        await AssertNoLiveState(graph, deployed.Version, settle: true);
        // A malformed request fails as a whole, before anything starts.
        var wrongShape = await Assert.ThrowsAsync<ArgumentException>(() =>
            graph.Evaluate(deployed.Version, [new Dictionary<string, Tensor> { ["A"] = rhs }], null, Ct));
        Assert.Contains("node 'A': value of shape 2x1 does not match the declared shape 2x2", wrongShape.Message);
        var computed = await Assert.ThrowsAsync<ArgumentException>(() =>
            graph.Evaluate(deployed.Version, [new Dictionary<string, Tensor> { ["x"] = rhs }], null, Ct));
        Assert.Contains("node 'x' is computed by op 'solve'", computed.Message);
    }

    [Fact]
    public async Task Integer_and_boolean_inputs_bind_exactly_and_a_value_not_of_their_type_fails_the_request()
    {
        var b = new GraphBuilder();
        var labels = b.TypedInput("labels", Shape.Of(3), ElementType.Int64);
        var mask = b.TypedInput("mask", Shape.Of(3), ElementType.Bool);
        var x = b.Input("x", Shape.Of(3));
        var core = b.Build(b.Sum(x * labels * mask, "z"));
        var graph = NewGraph("typed");
        var deployed = await graph.Deploy(core);
        var good = new Dictionary<string, Tensor>
        {
            ["labels"] = new(Shape.Of(3), [9007199254740992.0, -3, 7]), ["mask"] = new(Shape.Of(3), [1, 0, 1]),
            ["x"] = new(Shape.Of(3), [0.5, 0.25, 2]),
        };
        await RunAndCompare(graph, deployed.Version, core, [good], new BatchOptions { Mode = AdjointMode.All, ReportValues = true });
        var fraction = new Dictionary<string, Tensor>(good) { ["labels"] = new(Shape.Of(3), [1, 2.5, 3]) };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => graph.Evaluate(deployed.Version, [good, fraction], null, Ct));
        Assert.Equal("evaluation 1: node 'labels': an int64 value must hold a whole number within ±2^53 in every element, got 2.5 at flat index 1", e.Message);
        var two = new Dictionary<string, Tensor>(good) { ["mask"] = new(Shape.Of(3), [0, 2, 1]) };
        e = await Assert.ThrowsAsync<ArgumentException>(() => graph.Evaluate(deployed.Version, [two], null, Ct));
        Assert.Equal("evaluation 0: node 'mask': a bool value must hold 0 or 1 (false or true) in every element, got 2 at flat index 1", e.Message);
    }

    [Fact]
    public async Task Two_clients_run_concurrent_batches()
    {
        var core = Graphs.RandomDag(seed: 3, size: 120);
        var first = NewGraph("shared");
        var deployed = await first.Deploy(core);
        using var host = await fixture.StartSecondClient();
        var second = new DistributedGraph(host.Services.GetRequiredService<IClusterClient>(), first.GraphId);
        Assert.Equal(deployed.Version, (await second.Deploy(core)).Version);
        var inputs1 = Enumerable.Range(0, 60).Select(s => Graphs.RandomInputs(core, s)).ToList();
        var inputs2 = Enumerable.Range(100, 60).Select(s => Graphs.RandomInputs(core, s)).ToList();
        var options = new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 16 };
        var run1 = first.Evaluate(deployed.Version, inputs1, options, Ct);
        var run2 = second.Evaluate(deployed.Version, inputs2, options, Ct);
        var results = await Task.WhenAll(run1, run2);
        var plan = Plan.Compile(core);
        for (var i = 0; i < 60; i++)
        {
            Local.AssertEqual(plan, inputs1[i], results[0][i], options.Mode, values: false);
            Local.AssertEqual(plan, inputs2[i], results[1][i], options.Mode, values: false);
        }
        await AssertNoLiveState(first, deployed.Version);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Deploy_rejects_with_the_cores_message_and_versions_changes()
    {
        var graph = NewGraph("versions");
        var bad = """{ "format": "adjoint-graph", "version": 1, "output": "y", "nodes": [ { "id": "x", "op": "input", "shape": [1, 1] }, { "id": "y", "op": "sigmod", "ancestors": ["x"] } ] }""";
        var local = Assert.Throws<GraphFile.GraphFileException>(() => GraphFile.parse(bad, null));
        var rejected = await Assert.ThrowsAsync<GraphRejectedException>(() => graph.Grain.Deploy(bad, 0));
        Assert.Equal(local.Message, rejected.Message);
        Assert.Equal(local.Path, rejected.Path);

        // Asking for a version before it exists fails, and does not stop it from working once deployed.
        await Assert.ThrowsAsync<KeyNotFoundException>(() => graph.Evaluate(1, [null], new BatchOptions(), Ct));
        var v1 = await graph.Deploy(Graphs.TwoLayer());
        Assert.True(v1.Created);
        Assert.Equal(v1.Version, (await graph.Deploy(Graphs.TwoLayer())).Version);
        // A batch on v1 still in flight while v2 is deployed finishes on v1.
        var inFlight = graph.Evaluate(v1.Version, [.. Enumerable.Range(0, 200).Select(i => new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) })],
            new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 8 }, Ct);
        var changed = Graphs.Solve();
        var v2 = await graph.Deploy(changed);
        var plan1 = Plan.Compile(Graphs.TwoLayer());
        var finished = await inFlight;
        for (var i = 0; i < finished.Count; i++)
            Local.AssertEqual(plan1, new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) }, finished[i], AdjointMode.InputsAndParameters, values: false);
        Assert.True(v2.Created);
        Assert.Equal(v1.Version + 1, v2.Version);
        var description = await graph.Grain.Describe(0);
        Assert.Equal(v2.Version, description.Version);
        Assert.Equal([v1.Version, v2.Version], description.Versions);
        Assert.Equal(changed, GraphFile.parse(description.Json, null));
        // The old version still evaluates the old graph.
        await RunAndCompare(graph, v1.Version, Graphs.TwoLayer(), [null], new BatchOptions());
        await graph.Grain.Undeploy(v1.Version);
        Assert.Equal([v2.Version], (await graph.Grain.Describe(0)).Versions);
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adam)]
    public async Task Optimizer_steps_in_the_parameter_grains_equal_the_local_steps(OptimizerKind kind)
    {
        var core = Graphs.TwoLayer();
        var graph = NewGraph("train");
        var version = (await graph.Deploy(core)).Version;
        var settings = new OptimizerSettings { Kind = kind, LearningRate = 0.05 };
        var local = core.Nodes.Where(n => n.Op.Kind == OpKind.Parameter).ToDictionary(n => n.Id, n => n.Value!.Value);
        var moments = local.ToDictionary(kv => kv.Key, kv => AdamMoments.Zero(kv.Value.Shape));
        var inputs = Enumerable.Range(0, 8).Select(i => new Dictionary<string, Tensor> { ["X"] = Graphs.RandomX(i) }).ToList();
        for (var step = 0; step < 3; step++)
        {
            var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct);
            var gradients = DistributedGraph.SumParameterAdjoints(results, local.Keys);
            await graph.Grain.Step(version, settings, gradients, Guid.NewGuid());
            foreach (var id in local.Keys.ToList())
            {
                var g = gradients[id].ToTensor();
                if (kind == OptimizerKind.Sgd) local[id] = Optimizer.sgd(settings.LearningRate, local[id], g);
                else (local[id], moments[id]) = Optimizer.adam(settings.ToAdam(), moments[id], local[id], g);
            }
            var stored = await graph.Grain.ReadParameters(version);
            foreach (var (id, value) in local)
                Assert.True(Tensor.BitwiseEqual(value, stored[id].ToTensor()), $"{kind} step {step}: {id} differs");
            // The next batch sees the new parameters: it equals the local engine with them bound.
            var withParameters = new Dictionary<string, Tensor>(inputs[0]);
            foreach (var (id, value) in local) withParameters[id] = value;
            var next = await graph.Evaluate(version, [inputs[0]], new BatchOptions { Mode = AdjointMode.InputsAndParameters }, Ct);
            Local.AssertEqual(Plan.Compile(core), withParameters, next[0], AdjointMode.InputsAndParameters, values: false);
        }
        await graph.Grain.WriteParameter(version, "W2", TensorData.From(Tensor.Zeros(core.ShapeOf("W2"))));
        Assert.All((await graph.Grain.ReadParameters(version))["W2"].Data, x => Assert.Equal(0.0, x));
        await AssertNoLiveState(graph, version);
    }

    [Fact]
    public async Task Timeout_and_cancellation_end_a_batch_and_free_its_state()
    {
        var core = Graphs.RandomDag(seed: 5, size: 150);
        var graph = NewGraph("cancel");
        var version = (await graph.Deploy(core)).Version;
        var inputs = Enumerable.Range(0, 2000).Select(s => Graphs.RandomInputs(core, s)).ToList();
        await Assert.ThrowsAsync<TimeoutException>(() =>
            graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.All, Timeout = TimeSpan.FromMilliseconds(200) }, Ct));
        await AssertNoLiveState(graph, version, settle: true);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(200);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.All }, cts.Token));
        await AssertNoLiveState(graph, version, settle: true);
    }

    [Fact]
    public void A_tensor_payload_costs_8_bytes_per_element_plus_a_small_header()
    {
        var serializer = fixture.Client.ServiceProvider.GetRequiredService<Serializer>();
        var tensor = new TensorData([10, 10, 50], new double[5000]);
        var bytes = serializer.SerializeToArray(tensor);
        Assert.InRange(bytes.Length, 8 * 5000, 8 * 5000 + 32);
        Assert.True(Tensor.BitwiseEqual(tensor.ToTensor(), serializer.Deserialize<TensorData>(bytes)!.ToTensor()));
        // The core's own Tensor travels through its surrogate at the same cost.
        var core = new Tensor(100, 50, [.. Enumerable.Range(0, 5000).Select(i => Math.Sin(i))]);
        var coreBytes = serializer.SerializeToArray(core);
        Assert.InRange(coreBytes.Length, 8 * 5000, 8 * 5000 + 32);
        Assert.True(Tensor.BitwiseEqual(core, serializer.Deserialize<Tensor>(coreBytes)));
    }

    [Fact]
    public void A_tensor_stored_in_the_version_1_format_reads_back_row_major()
    {
        // Version 1 wrote rows and cols, then the doubles column-major: parameter state stored before N-d
        // tensors holds it. Made here from a version-2 payload of the same 2×3 matrix by rewriting its
        // field: length 4 + 4·2 + 48 = 60 becomes 8 + 48 = 56, the marker −3 goes, the data is transposed.
        var serializer = fixture.Client.ServiceProvider.GetRequiredService<Serializer>();
        var matrix = new TensorData([2, 3], [1, 2, 3, 4, 5, 6]);
        var v2 = serializer.SerializeToArray(matrix);
        var marker = v2.AsSpan().IndexOf(new byte[] { 0xFD, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0, 3, 0, 0, 0 });
        // Orleans writes a length below 128 as the one byte 2n + 1.
        Assert.True(marker > 0 && v2[marker - 1] == 2 * 60 + 1, $"the version-2 field is not where the test expects it: {Convert.ToHexString(v2)}");
        var columnMajor = new double[] { 1, 4, 2, 5, 3, 6 };
        var v1 = new List<byte>(v2[..(marker - 1)]) { 2 * 56 + 1 };
        v1.AddRange(BitConverter.GetBytes(2));
        v1.AddRange(BitConverter.GetBytes(3));
        foreach (var x in columnMajor) v1.AddRange(BitConverter.GetBytes(x));
        v1.AddRange(v2[(marker + 12 + 48)..]);
        var read = serializer.Deserialize<TensorData>(v1.ToArray())!;
        Assert.Equal(Shape.Of(2, 3), read.ShapeOf());
        Assert.Equal([1.0, 2, 3, 4, 5, 6], read.Data);
    }
}

[Collection(OneSiloCollection.Name)]
public sealed class OneSilo(OneSiloCluster fixture) : DistributedEngineTests(fixture);

[Collection(ThreeSiloCollection.Name)]
public sealed class ThreeSilos(ThreeSiloCluster fixture) : DistributedEngineTests(fixture)
{
    [Fact]
    public async Task Every_node_grain_runs_on_the_silo_its_partition_names()
    {
        var core = Graphs.RandomDag(seed: 9, size: 200);
        var graph = new DistributedGraph(fixture.Client, $"placement-{Guid.NewGuid():N}");
        var version = (await graph.Deploy(core)).Version;
        var description = await graph.Grain.Describe(version);
        Assert.Equal(3, description.Partitions);
        Assert.Equal(3, description.Assignment.Values.Distinct().Count());
        var hosts = await fixture.Client.GetGrain<IManagementGrain>(0).GetHosts(true, TestContext.Current.CancellationToken);
        var silos = SiloOrder.Sort(hosts.Keys).Select(s => s.ToString()).ToList();
        Assert.Equal(3, silos.Count);
        Assert.Equal<int[]>(Partition.assign(Plan.Compile(core), 3), [.. Plan.Compile(core).Ids.Select(id => description.Assignment[id])]);
        var placement = await graph.Grain.Placement(version);
        foreach (var (node, partition) in description.Assignment)
            Assert.Equal(silos[partition], placement[node]);
    }
}
