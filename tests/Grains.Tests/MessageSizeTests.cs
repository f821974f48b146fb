// Issue 7, item 4: the message size limit. Orleans 10 drops an oversized message with its connection and
// tells the caller nothing (the call waits for its response timeout); here every oversize is a clear error.
using Adjoint.Tests.Shared;

namespace Adjoint.Grains.Tests;

/// <summary>
/// On two silos with 64 KiB messages: oversized inputs are refused before they are sent, a node whose
/// value is over the limit fails its evaluation by name, results that would not fit are refused up front,
/// work items that together exceed the limit travel in several messages, graphs and stored states that
/// would not fit are refused at deployment, parameters too many for one message are read by pages and
/// stepped in parts, and the silos keep serving.
/// </summary>
[Trait("Category", "Reliability")]
[Collection(CappedCollection.Name)]
public sealed class MessageSizeTests(CappedCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The cluster's cap on evaluations in flight is 8; windows stay within it.
    // A hang guard only: without the checks Orleans loses the message and the call never returns.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    private static Tensor Filled(int rows, int cols, double value) => new(rows, cols, Enumerable.Repeat(value, rows * cols).ToArray());

    private async Task<(DistributedGraph Graph, int Version)> Deploy(string name, Graph core, int partitions = 0)
    {
        var graph = new DistributedGraph(fixture.Client, $"{name}-{Guid.NewGuid():N}");
        return (graph, (await graph.Deploy(core, partitions)).Version);
    }

    // Serves a small gradient after whatever the test did: nothing was dropped, no connection lost.
    private async Task AssertStillServing()
    {
        var core = Graphs.RandomDag(seed: 8, size: 30);
        var (graph, version) = await Deploy("after", core);
        var inputs = Enumerable.Range(0, 16).Select(s => Graphs.RandomInputs(core, s)).ToList();
        var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.InputsAndParameters, Window = 8 }, Ct).WaitAsync(Guard, Ct);
        var plan = Plan.Compile(core);
        for (var i = 0; i < inputs.Count; i++)
            Assert.True(FaultChecks.Same(FaultChecks.Expected(plan, inputs[i]), results[i]), $"evaluation {i} differs from the local engine");
    }

    [Fact]
    public async Task An_oversized_input_is_refused_before_sending_naming_node_shape_and_limit()
    {
        var b = new GraphBuilder();
        var core = b.Build(b.Sum(b.Input("x", 100, 100), "s"));
        var (graph, version) = await Deploy("input", core);
        var inputs = new[] { new Dictionary<string, Tensor> { ["x"] = Filled(100, 100, 1) } };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct));
        Assert.Equal("evaluation 0: node 'x': a value of shape 100x100 takes 80032 bytes in a message, more than the message size limit of 65536 bytes (MaxMessageBodySize)", e.Message);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_batch_whose_inputs_together_are_oversized_is_refused_before_sending()
    {
        var b = new GraphBuilder();
        var core = b.Build(b.Sum(b.Input("x", 40, 10), "s"));
        var (graph, version) = await Deploy("inputs", core);
        var inputs = Enumerable.Range(0, 30).Select(i => new Dictionary<string, Tensor> { ["x"] = Filled(40, 10, i) }).ToList();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct));
        Assert.StartsWith("the inputs of this batch of 30 evaluations take about ", e.Message);
        Assert.EndsWith("bytes in one message, more than the message size limit of 65536 bytes (MaxMessageBodySize); split it into smaller batches", e.Message);
        // Split as told, the same inputs run.
        foreach (var part in inputs.Chunk(10))
        {
            var results = await graph.Evaluate(version, part, new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct);
            Assert.All(results, r => Assert.True(r.Succeeded, r.Failure?.ToString()));
        }
    }

    [Fact]
    public async Task A_node_whose_value_is_over_the_limit_fails_its_evaluation_by_name()
    {
        // Small inputs, a 200×200 outer product (320 KB) in the middle, a scalar out.
        var b = new GraphBuilder();
        var outer = b.MatMul(b.Input("column", 200, 1), b.Input("row", 1, 200), "outer");
        var core = b.Build(b.Sum(outer, "s"));
        var (graph, version) = await Deploy("node", core);
        var inputs = Enumerable.Range(0, 3).Select(i => new Dictionary<string, Tensor> { ["column"] = Filled(200, 1, i), ["row"] = Filled(1, 200, 1) }).ToList();
        var results = await graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct);
        Assert.Equal(3, results.Count);
        foreach (var r in results)
        {
            Assert.False(r.Succeeded);
            Assert.Equal("outer", r.Failure!.Node);
            Assert.Equal("its value of shape 200x200 takes 320032 bytes in a message, more than the message size limit of 65536 bytes (MaxMessageBodySize)", r.Failure.Message);
        }
        Assert.Equal(0, await graph.Grain.CountLiveStates(version));
        // A gradient would return λ of 'outer' (200×200): refused before it runs.
        var e = await Assert.ThrowsAsync<ResultsTooLargeException>(() => graph.Evaluate(version, inputs, new BatchOptions { Mode = AdjointMode.All, Window = 8 }, Ct).WaitAsync(Guard, Ct));
        Assert.Equal(0, e.EvaluationsThatFit);
        Assert.Contains("the results of one evaluation take ", e.Message);
        Assert.Contains("the adjoint of node 'outer' (200x200)", e.Message);
        Assert.EndsWith("more than the message size limit of 65536 bytes (MaxMessageBodySize); ask for fewer results (mode InputsAndParameters or None, no ReportValues) or raise the limit", e.Message);
        await AssertStillServing();
    }

    [Fact]
    public async Task Results_that_would_not_fit_in_one_answer_are_refused_up_front()
    {
        // z_n is 50×50 (20 KB): three fit in one answer, four do not. It grows from small inputs (an outer
        // product): a 50×50 stored value would make the graph's stored state too large for a message.
        var b = new GraphBuilder();
        var core = b.Build(b.Tanh(b.MatMul(b.Input("column", 50, 1), b.Input("row", 1, 50), "outer"), "t"));
        var (graph, version) = await Deploy("results", core);
        var x = new Dictionary<string, Tensor> { ["column"] = Filled(50, 1, 0.5), ["row"] = Filled(1, 50, 1) };
        var e = await Assert.ThrowsAsync<ResultsTooLargeException>(() =>
            graph.Evaluate(version, Enumerable.Repeat(x, 4), new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct));
        Assert.Equal(3, e.EvaluationsThatFit);
        Assert.Contains("the results of 4 evaluations take about ", e.Message);
        Assert.EndsWith("more than the message size limit of 65536 bytes (MaxMessageBodySize); split the batch into batches of at most 3 evaluations", e.Message);
        var results = await graph.Evaluate(version, Enumerable.Repeat(x, 3), new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct);
        var expected = Engine.evaluate(Plan.Compile(core), x).Output;
        Assert.All(results, r => Assert.True(r.Succeeded && Tensor.BitwiseEqual(expected, r.Output!.ToTensor()), r.Failure?.ToString()));
    }

    [Fact]
    public async Task Work_items_that_together_exceed_the_limit_travel_in_several_messages()
    {
        // A 40×40 parameter (12.8 KB): eight evaluations in flight send 102 KB from one node to the next in a
        // turn, more than one message holds. Two partitions put the chain on both silos.
        var b = new GraphBuilder();
        var w = b.Parameter("w", Filled(40, 40, 0.25));
        var core = b.Build(b.Sum(b.Tanh(b.Scale(w, 2.0, "scaled"), "t"), "s"));
        var (graph, version) = await Deploy("split", core, partitions: 2);
        Assert.Equal(2, (await graph.Grain.Placement(version)).Values.Distinct().Count());
        var results = await graph.Evaluate(version, Enumerable.Repeat<IReadOnlyDictionary<string, Tensor>?>(null, 64), new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct);
        var expected = Engine.gradient(Adjoints.InputsAndParameters, Plan.Compile(core), null).Output;
        Assert.All(results, r => Assert.True(r.Succeeded && Tensor.BitwiseEqual(expected, r.Output!.ToTensor()), r.Failure?.ToString()));
        Assert.Equal(0, await graph.Grain.CountLiveStates(version));
    }

    [Fact]
    public async Task A_graph_too_large_for_one_message_is_refused_before_sending_naming_its_largest_value()
    {
        var b = new GraphBuilder();
        // About 190 KB of compact JSON: every value takes 19 characters.
        var core = b.Build(b.Sum(b.Constant("c", Filled(100, 100, 1.0 / 3)), "s"));
        var e = await Assert.ThrowsAsync<GraphRejectedException>(() => Deploy("graph", core));
        Assert.StartsWith("the graph takes ", e.Message);
        Assert.EndsWith("bytes in a message, its JSON with every stored value inline (the largest is node 'c', 100x100), more than the message size limit of 65536 bytes (MaxMessageBodySize)", e.Message);
        await AssertStillServing();
    }

    [Fact]
    public async Task A_graph_whose_stored_state_would_not_fit_is_refused_naming_it_and_older_versions()
    {
        // Each version's JSON takes about 12 KB (625 values of 19–20 characters), its stored state twice
        // that in the storage's message: two versions fit, a third does not until an older one goes.
        static Graph Version(double value)
        {
            var b = new GraphBuilder();
            return b.Build(b.Sum(b.Constant("c", Filled(25, 25, value)), "s"));
        }
        var graph = new DistributedGraph(fixture.Client, $"versions-{Guid.NewGuid():N}");
        var first = await graph.Deploy(Version(1.0 / 3));
        await graph.Deploy(Version(1.0 / 6));
        var e = await Assert.ThrowsAsync<GraphRejectedException>(() => graph.Deploy(Version(1.0 / 12)));
        Assert.StartsWith($"graph '{graph.GraphId}': its stored state, this version and the 2 still deployed, would take ", e.Message);
        Assert.EndsWith("bytes in the message that writes it to the in-memory grain storage, more than the message size limit of 65536 bytes (MaxMessageBodySize); undeploy older versions first", e.Message);
        await graph.Grain.Undeploy(first.Version);
        var third = await graph.Deploy(Version(1.0 / 12));
        var results = await graph.Evaluate(third.Version, [null], new BatchOptions { Mode = AdjointMode.None, Window = 8 }, Ct).WaitAsync(Guard, Ct);
        var expected = Engine.evaluate(Plan.Compile(Version(1.0 / 12)), null).Output;
        Assert.True(Tensor.BitwiseEqual(expected, Assert.Single(results).Output!.ToTensor()), "the third version's sum differs from the local engine");
        await AssertStillServing();
    }

    [Fact]
    public async Task A_parameter_state_that_would_not_fit_in_storage_is_refused_before_writing()
    {
        // 40×40 (12.8 KB) travels in a message; with Adam's two moments its stored state does not.
        var b = new GraphBuilder();
        var core = b.Build(b.Sum(b.Parameter("w", Filled(40, 40, 0.25)), "s"));
        var (graph, version) = await Deploy("parameter", core);
        var gradient = new Dictionary<string, TensorData> { ["w"] = TensorData.From(Filled(40, 40, 1)) };
        await graph.Grain.Step(version, new OptimizerSettings { Kind = OptimizerKind.Sgd }, gradient, Guid.NewGuid());
        var e = await Assert.ThrowsAsync<LimitExceededException>(() => graph.Grain.Step(version, new OptimizerSettings { Kind = OptimizerKind.Adam }, gradient, Guid.NewGuid()));
        Assert.Equal("parameter 'w' of shape 40x40: its stored state (value and Adam moments) would take 77120 bytes in the message that writes it to the in-memory grain storage, more than the message size limit of 65536 bytes (MaxMessageBodySize)", e.Message);
        Assert.Equal("MaxMessageBodySize", e.Limit);
        Assert.True(Tensor.BitwiseEqual(Filled(40, 40, 0.25 - 0.01), (await graph.Grain.ReadParameters(version))["w"].ToTensor()), "the refused step changed the parameter");
        await AssertStillServing();
    }

    [Fact]
    public async Task Parameters_that_together_exceed_one_message_are_read_by_pages_and_stepped_in_parts()
    {
        // Six 40x40 parameters: 12.8 KB each travels alone, all six (77 KB) do not fit in one 64 KiB message.
        var b = new GraphBuilder();
        var sums = Enumerable.Range(0, 6).Select(k => b.Sum(b.Parameter($"w{k}", Filled(40, 40, 0)))).ToList();
        var core = b.Build(sums.Skip(1).Aggregate(sums[0], (acc, x) => b.Add(acc, x)));
        var (graph, version) = await Deploy("parameters", core);
        for (var k = 0; k < 6; k++) await graph.Grain.WriteParameter(version, $"w{k}", TensorData.From(Filled(40, 40, k + 1)));

        // All at once: refused by name and size rather than lost with the connection.
        var refused = await Assert.ThrowsAsync<LimitExceededException>(() => graph.Grain.ReadParameters(version).WaitAsync(Guard, Ct));
        Assert.Equal("MaxMessageBodySize", refused.Limit);
        Assert.Equal($"graph '{graph.GraphId}' version {version}: its 6 parameters take 77496 bytes in a message, more than the message size limit of 65536 bytes (MaxMessageBodySize); "
                     + "read them by pages (ReadParameterPage, as DistributedGraph.ReadParameters does)", refused.Message);

        async Task AssertParameters(Func<int, double> expected)
        {
            var read = await graph.ReadParameters(version, Ct).WaitAsync(Guard, Ct);
            Assert.Equal(6, read.Count);
            for (var k = 0; k < 6; k++)
                Assert.True(Tensor.BitwiseEqual(Filled(40, 40, expected(k)), read[$"w{k}"].ToTensor()), $"w{k} differs");
        }
        await AssertParameters(k => k + 1);

        // A page holds what fits in the caller's budget, and at least one parameter.
        var page = await graph.Grain.ReadParameterPage(version, 2, 30_000);
        Assert.Equal(["w2", "w3"], page.Values.Keys.Order());
        Assert.Equal(4, page.Next);
        var tooSmall = await Assert.ThrowsAsync<LimitExceededException>(() => graph.Grain.ReadParameterPage(version, 0, 1_000));
        Assert.Equal("parameter 'w0' of shape 40x40 takes 12916 bytes in a message, more than the 1000 bytes the caller can receive", tooSmall.Message);

        // Six gradients in one Step would be one oversized message; the client sends them in parts.
        var gradients = Enumerable.Range(0, 6).ToDictionary(k => $"w{k}", _ => TensorData.From(Filled(40, 40, 1)));
        await graph.Step(version, new OptimizerSettings { Kind = OptimizerKind.Sgd }, gradients, Ct).WaitAsync(Guard, Ct);
        await AssertParameters(k => k + 1 - 0.01);

        // A gradient that could never travel is refused before anything is sent: no parameter moves.
        var oversized = new Dictionary<string, TensorData> { ["w0"] = TensorData.From(Filled(1, 40, 1)), ["w1"] = TensorData.From(Filled(100, 100, 1)) };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => graph.Step(version, new OptimizerSettings { Kind = OptimizerKind.Sgd }, oversized, Ct));
        Assert.StartsWith("parameter 'w1': a gradient of shape 100x100 takes 80032 bytes in a message, more than the message size limit of 65536 bytes (MaxMessageBodySize)", e.Message);
        await AssertParameters(k => k + 1 - 0.01);
        await AssertStillServing();
    }
}
