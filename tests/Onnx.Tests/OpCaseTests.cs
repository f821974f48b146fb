// ONNX attribute paths the PyTorch fixtures do not take (Gemm's alpha, beta and transposes, Conv's
// auto_pad with uneven padding, AveragePool without padded cells, pre-13 Softmax, Clip, Pad, Slice,
// Expand, reductions), each a one-node model run in ONNX Runtime and imported.
using Google.Protobuf;
using P = global::Onnx;

namespace Adjoint.Onnx.Tests;

public sealed class OpCaseTests(ITestOutputHelper output)
{
    static P.AttributeProto I(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };
    static P.AttributeProto F(string name, float v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = v };
    static P.AttributeProto S(string name, string v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };
    static P.AttributeProto Is(string name, params long[] v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints, Ints = { v } };

    /// <summary>float32 values in [−1, 1), exact as doubles.</summary>
    static Tensor Random(Shape shape, int seed)
    {
        var r = new Random(seed);
        return Tensor.Of(shape, Enumerable.Range(0, shape.Count).Select(_ => (double)(float)(r.NextDouble() * 2 - 1)).ToArray());
    }

    static P.TensorProto Float(string name, Tensor t) => new()
    {
        Name = name, DataType = (int)P.TensorProto.Types.DataType.Float, Dims = { t.Shape.Dims.Select(d => (long)d) }, FloatData = { t.Data.Select(d => (float)d) },
    };

    static P.TensorProto Long(string name, params long[] v) => new() { Name = name, DataType = (int)P.TensorProto.Types.DataType.Int64, Dims = { v.Length }, Int64Data = { v } };

    /// <summary>A model of one node on input x (and initializers), its output y; imported and run in ORT.</summary>
    void Check(string what, int opset, Shape x, P.NodeProto node, params P.TensorProto[] initializers)
    {
        var g = new P.GraphProto { Name = what };
        var shape = new P.TensorShapeProto();
        foreach (var d in x.Dims) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
        g.Input.Add(new P.ValueInfoProto { Name = "x", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)P.TensorProto.Types.DataType.Float, Shape = shape } } });
        g.Output.Add(new P.ValueInfoProto { Name = "y", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)P.TensorProto.Types.DataType.Float } } });
        g.Initializer.AddRange(initializers);
        node.Name = what;
        if (!node.Output.Contains("y")) node.Output.Insert(0, "y");
        g.Node.Add(node);
        var model = new P.ModelProto { IrVersion = 7, Graph = g, OpsetImport = { new P.OperatorSetIdProto { Domain = "", Version = opset } } };
        var path = Path.Combine(Path.GetTempPath(), $"case-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        try
        {
            var inputs = new Dictionary<string, Tensor> { ["x"] = Random(x, 3) };
            var ours = Engine.evaluate(Plan.Compile(OnnxImporter.Import(path).Graph), inputs).Output;
            var ort = Fixture.RunOrt(path, inputs, new Dictionary<string, bool>(), false)[0];
            var error = Fixture.RelativeError(ours, ort);
            output.WriteLine($"{what}: {ours.Shape}, vs ONNX Runtime {error:E2}");
            Assert.True(error <= 1e-5, $"{what}: relative error {error:E3} against ONNX Runtime");
        }
        finally
        {
            File.Delete(path);
        }
    }

    static P.NodeProto Node(string op, string[] inputs, params P.AttributeProto[] attributes)
    {
        var n = new P.NodeProto { OpType = op };
        n.Input.AddRange(inputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    /// <summary>The node with further outputs after y (which the model does not use).</summary>
    static P.NodeProto Outputs(P.NodeProto n, params string[] names)
    {
        n.Output.AddRange(names);
        return n;
    }

    [Fact]
    public void Gemm_with_alpha_beta_and_transposes() =>
        Check("gemm", 13, Shape.Of(4, 3), Node("Gemm", ["x", "B", "C"], F("alpha", 0.5f), F("beta", 2f), I("transA", 1)),
            Float("B", Random(Shape.Of(4, 5), 1)), Float("C", Random(Shape.Of(1, 5), 2)));

    [Fact]
    public void Gemm_with_transB_and_a_matrix_C() =>
        Check("gemm-b", 11, Shape.Of(3, 4), Node("Gemm", ["x", "B", "C"], I("transB", 1), F("beta", 0.25f)),
            Float("B", Random(Shape.Of(5, 4), 1)), Float("C", Random(Shape.Of(3, 5), 2)));

    [Theory]
    [InlineData("SAME_UPPER")]
    [InlineData("SAME_LOWER")]
    [InlineData("VALID")]
    public void Conv_with_auto_pad_and_stride(string autoPad) =>
        Check($"conv-{autoPad}", 13, Shape.Of(2, 3, 6, 5), Node("Conv", ["x", "W", "b"], S("auto_pad", autoPad), Is("strides", 2, 2), Is("kernel_shape", 3, 2)),
            Float("W", Random(Shape.Of(4, 3, 3, 2), 1)), Float("b", Random(Shape.Of(4), 2)));

    [Fact]
    public void Conv_with_uneven_pads_dilation_and_groups() =>
        Check("conv-pads", 11, Shape.Of(1, 4, 6, 6), Node("Conv", ["x", "W"], Is("pads", 0, 1, 2, 1), Is("dilations", 2, 1), I("group", 2)),
            Float("W", Random(Shape.Of(6, 2, 2, 3), 1)));

    [Fact]
    public void Conv1d() =>
        Check("conv1d", 13, Shape.Of(2, 3, 9), Node("Conv", ["x", "W"], Is("pads", 1, 1), Is("strides", 2)), Float("W", Random(Shape.Of(4, 3, 3), 1)));

    [Fact]
    public void AveragePool_with_pads_not_counting_them() =>
        Check("avgpool", 11, Shape.Of(2, 2, 5, 5), Node("AveragePool", ["x"], Is("kernel_shape", 3, 3), Is("strides", 2, 2), Is("pads", 1, 1, 1, 1)));

    [Fact]
    public void MaxPool_with_pads_and_stride_1() =>
        Check("maxpool", 12, Shape.Of(1, 2, 5, 4), Node("MaxPool", ["x"], Is("kernel_shape", 3, 3), Is("pads", 1, 1, 1, 1)));

    [Fact]
    public void Softmax_before_opset_13_coerces_to_a_matrix() =>
        Check("softmax-11", 11, Shape.Of(2, 3, 4), Node("Softmax", ["x"], I("axis", 1)));

    [Fact]
    public void LogSoftmax_at_opset_13_is_along_one_axis() =>
        Check("logsoftmax-13", 13, Shape.Of(2, 3, 4), Node("LogSoftmax", ["x"], I("axis", 1)));

    [Fact]
    public void Clip_with_constant_bounds() =>
        Check("clip", 13, Shape.Of(3, 4), Node("Clip", ["x", "lo", "hi"]), Float("lo", Tensor.Scalar(-0.25)), Float("hi", Tensor.Scalar(0.5)));

    [Fact]
    public void Pad_constant() =>
        Check("pad", 13, Shape.Of(2, 3), Node("Pad", ["x", "pads", "v"]), Long("pads", 1, 0, 0, 2), Float("v", Tensor.Scalar(0.75)));

    [Fact]
    public void Slice_with_negative_step() =>
        Check("slice", 13, Shape.Of(4, 6), Node("Slice", ["x", "s", "e", "a", "st"]), Long("s", -1, 1), Long("e", long.MinValue, long.MaxValue), Long("a", 1, 0), Long("st", -2, 2));

    [Fact]
    public void Expand_both_ways() =>
        Check("expand", 13, Shape.Of(3, 1), Node("Expand", ["x", "shape"]), Long("shape", 2, 1, 4));

    [Fact]
    public void ReduceMean_at_opset_18_takes_axes_as_input() =>
        Check("reducemean-18", 18, Shape.Of(2, 3, 4), Node("ReduceMean", ["x", "axes"], I("keepdims", 0)), Long("axes", -1, 0));

    [Fact]
    public void ReduceSum_at_opset_11_takes_axes_as_attribute() =>
        Check("reducesum-11", 11, Shape.Of(2, 3, 4), Node("ReduceSum", ["x"], Is("axes", 1)));

    [Fact]
    public void Transpose_default_reverses_the_axes() => Check("transpose", 13, Shape.Of(2, 3, 4), Node("Transpose", ["x"]));

    [Fact]
    public void LeakyRelu_and_Elu_alphas()
    {
        Check("leakyrelu", 13, Shape.Of(3, 4), Node("LeakyRelu", ["x"], F("alpha", 0.2f)));
        Check("elu", 13, Shape.Of(3, 4), Node("Elu", ["x"], F("alpha", 0.7f)));
    }

    [Fact]
    public void BatchNormalization_in_training_mode_uses_the_batch_statistics() =>
        Check("batchnorm-train", 15, Shape.Of(3, 2, 4, 4), Outputs(Node("BatchNormalization", ["x", "s", "b", "m", "v"], I("training_mode", 1), F("epsilon", 1e-3f)), "mean", "var"),
            Float("s", Random(Shape.Of(2), 1)), Float("b", Random(Shape.Of(2), 2)), Float("m", Random(Shape.Of(2), 3)),
            Float("v", Tensor.Of(Shape.Of(2), [0.5, 2.0])));

    [Fact]
    public void BatchNormalization_at_opset_7_in_inference() =>
        Check("batchnorm-7", 7, Shape.Of(2, 3, 2, 2), Node("BatchNormalization", ["x", "s", "b", "m", "v"]),
            Float("s", Random(Shape.Of(3), 1)), Float("b", Random(Shape.Of(3), 2)), Float("m", Random(Shape.Of(3), 3)),
            Float("v", Tensor.Of(Shape.Of(3), [0.5, 2.0, 1.25])));

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(-1)]
    public void Flatten_at_an_axis(int axis) => Check($"flatten-{axis}", 13, Shape.Of(2, 3, 4), Node("Flatten", ["x"], I("axis", axis)));

    [Fact]
    public void LayerNormalization_over_the_last_two_axes() =>
        Check("layernorm-2", 17, Shape.Of(2, 3, 4), Node("LayerNormalization", ["x", "s", "b"], I("axis", -2), F("epsilon", 1e-4f)),
            Float("s", Random(Shape.Of(3, 4), 1)), Float("b", Random(Shape.Of(3, 4), 2)));

    [Theory]
    [InlineData(11, 0)]
    [InlineData(13, 1)]
    [InlineData(18, 2)]
    public void Split_piece_at_an_opset(int opset, int piece)
    {
        // y is piece `piece` of three along axis 1: sizes 1, 2, 3 before 18, three equal pieces at 18.
        var n = Node("Split", opset is >= 13 and < 18 ? ["x", "sizes"] : ["x"], I("axis", 1));
        if (opset < 13) n.Attribute.Add(Is("split", 1, 2, 3));
        if (opset >= 18) n.Attribute.Add(I("num_outputs", 3));
        n.Output.AddRange(Enumerable.Range(0, 3).Select(k => k == piece ? "y" : $"p{k}"));
        Check($"split-{opset}", opset, Shape.Of(2, 6), n, opset is >= 13 and < 18 ? [Long("sizes", 1, 2, 3)] : []);
    }

    [Fact]
    public void ArgMax_along_an_axis_is_int64()
    {
        var g = new P.GraphProto { Name = "argmax" };
        var shape = new P.TensorShapeProto { Dim = { new P.TensorShapeProto.Types.Dimension { DimValue = 3 }, new P.TensorShapeProto.Types.Dimension { DimValue = 4 } } };
        g.Input.Add(new P.ValueInfoProto { Name = "x", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)P.TensorProto.Types.DataType.Float, Shape = shape } } });
        g.Output.Add(new P.ValueInfoProto { Name = "y", Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)P.TensorProto.Types.DataType.Int64 } } });
        g.Node.Add(new P.NodeProto { OpType = "ArgMax", Name = "am", Input = { "x" }, Output = { "y" }, Attribute = { I("axis", 1), I("keepdims", 0) } });
        var m = new P.ModelProto { IrVersion = 8, Graph = g, OpsetImport = { new P.OperatorSetIdProto { Domain = "", Version = 13 } } };
        var x = Tensor.Of(Shape.Of(3, 4), [0.1, 0.7, 0.2, 0.7, -1, -2, -0.5, -3, 4, 3, 2, 1]);
        var graph = OnnxImporter.Import(m.ToByteArray(), "argmax.onnx", null).Graph;
        Assert.Equal(ElementType.Int64, graph.ElementTypeOf("y"));
        Assert.Equal(new[] { 1.0, 2.0, 0.0 }, Engine.evaluate(Plan.Compile(graph), new Dictionary<string, Tensor> { ["x"] = x }).Output.Data);
    }
}
