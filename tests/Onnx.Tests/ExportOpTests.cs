// The exporter's op table against ONNX Runtime: small graphs built in code over the catalogue ops the
// fixtures do not reach, exported (float32) and run in ORT on the same inputs as our engine.
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Adjoint.Onnx.Tests;

public sealed class ExportOpTests(ITestOutputHelper output)
{
    static Dictionary<string, OpAttribute> A(params (string, OpAttribute)[] kv) => kv.ToDictionary(p => p.Item1, p => p.Item2);

    static Tensor Random(Shape shape, int seed)
    {
        var r = new Random(seed);
        return Tensor.Of(shape, Enumerable.Range(0, shape.Count).Select(_ => (double)(float)(r.NextDouble() * 2 - 1)).ToArray());
    }

    /// <summary>The graph's output computed here and by ORT on the exported model (int64 outputs too).</summary>
    void Check(string what, Shape x, Func<GraphBuilder, NodeRef, NodeRef> make)
    {
        var b = new GraphBuilder();
        var graph = b.Build(make(b, b.Input("x", x)));
        var inputs = new Dictionary<string, Tensor> { ["x"] = Random(x, 4) };
        var ours = Engine.evaluate(Plan.Compile(graph), inputs).Output;
        var exported = OnnxExporter.Export(graph);
        using var session = new InferenceSession(exported.Model);
        var feed = NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(inputs["x"].Data.Select(d => (float)d).ToArray(), x.Dims.ToArray()));
        using var results = session.Run([feed]);
        var value = results[0].Value;
        var theirs = value switch
        {
            DenseTensor<float> f => f.ToArray().Select(v => (double)v).ToArray(),
            DenseTensor<long> l => l.ToArray().Select(v => (double)v).ToArray(),
            _ => throw new InvalidOperationException($"{what}: ORT gave {value.GetType()}"),
        };
        var ort = Tensor.Of(ours.Shape, theirs);
        Assert.Equal(ours.Count, theirs.Length);
        var error = Fixture.RelativeError(ours, ort);
        output.WriteLine($"{what}: {string.Join(", ", exported.OnnxOps.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}; vs ORT {error:E2}");
        Assert.True(error <= 1e-5, $"{what}: ORT on the export differs by {error:E3}");
    }

    [Fact]
    public void Elementwise_ops() => Check("elementwise", Shape.Of(3, 4), (b, x) =>
    {
        var p = b.Apply("abs", x) + 0.5;
        var h = b.Scale(b.Square(x), 0.3) + b.Apply("rsqrt", p) + b.Apply("sqrt", p) + b.Log(p) + b.Exp(x) + b.Sin(x) + b.Cos(x)
                + b.Apply("softplus", x) + b.Apply("softsign", x) + b.Apply("sign", x) + b.Neg(b.Relu(x)) + b.Sigmoid(x) + b.Tanh(x);
        h = h + b.LeakyRelu(x, 0.2) + b.Elu(x, 0.7) + b.Clamp(x, -0.3, 0.4) + b.Clamp(x, -0.1, double.PositiveInfinity)
            + b.Maximum(x, b.Sin(x)) + b.Minimum(x, b.Cos(x)) + b.Apply("pow", p, b.Constant(1.5)) + b.Div(x, p) - x;
        return b.Mul(h, x);
    });

    [Fact]
    public void Shape_ops() => Check("shape", Shape.Of(2, 3, 4), (b, x) =>
    {
        var s = b.Apply("slice", [x], A(("starts", OpAttribute.Of(1, -1)), ("stops", OpAttribute.Of(3, -5)), ("axes", OpAttribute.Of(1, 2)), ("steps", OpAttribute.Of(1, -1))));
        var p = b.Apply("pad", [s], A(("pads", OpAttribute.Of(0, 0, 0, 1, 1, 0)), ("value", OpAttribute.Of(0.25))));
        var t = b.Transpose(p, 0, 2);
        var m = b.Permute(t, [1, 0, 2]);
        var c = b.Apply("concat", [m, m], A(("axis", OpAttribute.Of(2))));
        var f = b.Flatten(b.Unsqueeze(c, [0]), 1, 2);
        var piece = b.Split(b.Squeeze(f, [0]), 1, [1, 3])[1];
        return b.BroadcastTo(b.Reshape(piece, [3, 1, 15]), [2, 3, 5, 15]);
    });

    [Fact]
    public void Reductions_and_normalisation() => Check("reductions", Shape.Of(2, 3, 4), (b, x) =>
    {
        var r = b.Sum(x, [1], true) + b.Mean(x, [2], true) + b.Max(x, [1, 2], true) + b.Min(x, [0], true) + b.LogSumExp(x, [2], true);
        var n = b.LayerNorm(b.Add(x, r), 2, 1e-4) + b.Apply("log_softmax", [x], A(("axis", OpAttribute.Of(1)))) + b.Softmax(x, 0);
        return b.Scale(n, 1.0 / 3) + b.SquaredNorm(x) + b.Apply("sum", x) + b.Apply("mean", x);
    });

    [Fact]
    public void Convolution_and_pooling() => Check("conv", Shape.Of(2, 4, 7, 6), (b, x) =>
    {
        var w = b.Parameter("w", Random(Shape.Of(6, 2, 3, 2), 1));
        var bias = b.Parameter("b", Random(Shape.Of(6), 2));
        var c = b.Conv2d(x, w, bias, [2, 1], [1, 0], [1, 2], 2);
        var m = b.MaxPool2d(c, [2, 2], [1, 1], [1, 1]);
        var a = b.AvgPool2d(m, [3, 3], [2, 2], [1, 1], false);
        var g = b.GlobalAvgPool(a);
        var l = b.Reshape(a, [2, 6, -1]);
        var w1 = b.Parameter("w1", Random(Shape.Of(3, 6, 2), 3));
        var c1 = b.Conv1d(l, w1, default, 2, 1, 1, 1);
        return b.Add(b.Sum(c1, [1, 2], false), b.Sum(b.Reshape(g, [2, 6]), [1], false));
    });

    [Fact]
    public void Linear_algebra_gather_and_where() => Check("linear", Shape.Of(2, 3, 4), (b, x) =>
    {
        var w = b.Parameter("W", Random(Shape.Of(5, 4), 1));
        var bias = b.Parameter("bias", Random(Shape.Of(5), 2));
        var y = b.Linear(x, w, bias);
        var z = b.MatMul(y, b.Parameter("B", Random(Shape.Of(5, 2), 3)));
        var rows = b.Reshape(z, [6, 2]);
        var added = b.AddRow(rows, b.Parameter("row", Random(Shape.Of(1, 2), 4)));
        var picked = b.Apply("gather", [added, b.Constant("idx", Tensor.Of(Shape.Of(3), [5.0, 0.0, -1.0]), ElementType.Int64)], A(("axis", OpAttribute.Of(0))));
        var mask = b.Constant("mask", Tensor.Of(Shape.Of(3, 2), [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), ElementType.Bool);
        return b.Apply("where", mask, picked, b.Neg(picked));
    });

    [Fact]
    public void Argmax_along_an_axis_and_flattened()
    {
        Check("argmax-axis", Shape.Of(3, 5), (b, x) => b.ArgMax(x, 1, true));
        Check("argmax-flat", Shape.Of(3, 5), (b, x) => b.ArgMax(x));
    }
}
