// The fixtures made by fixtures/make_fixtures.py: each model's inputs, PyTorch's float64 output, loss and
// gradients, and runs of the same model in ONNX Runtime.
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Adjoint.Onnx.Tests;

internal sealed record Fixture(string Name, string ModelPath, int Opset, bool Float64,
    IReadOnlyDictionary<string, Tensor> Inputs, IReadOnlyDictionary<string, bool> IntegerInputs, Tensor Output,
    string Loss, Tensor Target, double LossValue, IReadOnlyDictionary<string, Tensor> Gradients,
    IReadOnlyDictionary<string, int> Dimensions)
{
    /// <summary>The import options the fixture needs: sizes of its symbolic dimensions.</summary>
    public ImportOptions Options() => new() { Dimensions = Dimensions };

    public static readonly string[] Names = ["mlp_f32", "mlp_f64", "cnn_f32", "cnn_f64", "mixer_f32", "mixer_f64", "mixer14_f64", "mixerdyn_f32"];

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures");

    public static Fixture Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, name + ".json")));
        var root = doc.RootElement;
        var types = root.GetProperty("input_types").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() == "int64");
        var inputs = root.GetProperty("inputs").EnumerateObject().ToDictionary(p => p.Name, p => Nested(p.Value));
        var grads = root.GetProperty("gradients").EnumerateObject().ToDictionary(p => p.Name, p => Nested(p.Value));
        return new Fixture(name, Path.Combine(Directory, root.GetProperty("model").GetString()!), root.GetProperty("opset").GetInt32(),
            root.GetProperty("dtype").GetString() == "f64", inputs, types, Nested(root.GetProperty("output")),
            root.GetProperty("loss").GetString()!, Nested(root.GetProperty("target")), root.GetProperty("loss_value").GetDouble(), grads,
            root.GetProperty("dims").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()));
    }

    /// <summary>A JSON number or nested list as a tensor.</summary>
    public static Tensor Nested(JsonElement e)
    {
        var dims = new List<int>();
        var probe = e;
        while (probe.ValueKind == JsonValueKind.Array)
        {
            dims.Add(probe.GetArrayLength());
            probe = probe[0];
        }
        var data = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var y in x.EnumerateArray()) Walk(y);
            else data.Add(x.GetDouble());
        }
        Walk(e);
        return Tensor.Of(Shape.Of(dims.ToArray()), data.ToArray());
    }

    /// <summary>The model's outputs in ONNX Runtime for these inputs, as doubles (float32 read exactly).</summary>
    public static Tensor[] RunOrt(string modelPath, IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyDictionary<string, bool> integer, bool float64)
    {
        using var session = new InferenceSession(modelPath);
        var feeds = inputs.Select(kv =>
        {
            var dims = kv.Value.Shape.Dims.ToArray();
            return integer.GetValueOrDefault(kv.Key)
                ? NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<long>(kv.Value.Data.Select(d => (long)d).ToArray(), dims))
                : float64
                    ? NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<double>(kv.Value.Data.ToArray(), dims))
                    : NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.Data.Select(d => (float)d).ToArray(), dims));
        }).ToList();
        using var results = session.Run(feeds);
        return results.Select(r =>
        {
            if (r.Value is DenseTensor<float> f) return Tensor.Of(Shape.Of(f.Dimensions.ToArray()), f.ToArray().Select(x => (double)x).ToArray());
            var d = (DenseTensor<double>)r.Value;
            return Tensor.Of(Shape.Of(d.Dimensions.ToArray()), d.ToArray());
        }).ToArray();
    }

    /// <summary>max |a − b| / max |b|: the error relative to the reference's largest element.</summary>
    public static double RelativeError(Tensor actual, Tensor reference)
    {
        Assert.Equal(reference.Shape, actual.Shape);
        var scale = reference.Data.Max(Math.Abs);
        return actual.Data.Zip(reference.Data, (a, b) => Math.Abs(a - b)).Max() / (scale > 0 ? scale : 1.0);
    }

    public static double AbsoluteError(Tensor actual, Tensor reference)
    {
        Assert.Equal(reference.Shape, actual.Shape);
        return actual.Data.Zip(reference.Data, (a, b) => Math.Abs(a - b)).Max();
    }
}
