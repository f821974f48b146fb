// Models the importer must refuse, each with one line that names the file and the node, op and opset at
// fault; and the paths real exporters take that the fixtures do not (shape chains, external data).
using Google.Protobuf;
using P = global::Onnx;

namespace Adjoint.Onnx.Tests;

public sealed class MalformedTests
{
    static P.ModelProto Mlp() => P.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(Fixture.Directory, "mlp_f32.onnx")));

    static string Refused(P.ModelProto model, string name = "bad.onnx")
    {
        var ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(model.ToByteArray(), name, null));
        Assert.DoesNotContain('\n', ex.Message);
        Assert.StartsWith(name + ": ", ex.Message);
        return ex.Message;
    }

    [Fact]
    public void Truncated_protobuf_is_not_a_model()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Fixture.Directory, "mlp_f32.onnx"));
        var ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(bytes[..(bytes.Length / 2)], "cut.onnx", null));
        Assert.DoesNotContain('\n', ex.Message);
        Assert.StartsWith("cut.onnx: not an ONNX model", ex.Message);
    }

    [Fact]
    public void Unknown_op_names_node_op_opset_and_nearest_catalogue_op()
    {
        var m = Mlp();
        var relu = m.Graph.Node.First(n => n.OpType == "Relu");
        relu.OpType = "Erf";
        var message = Refused(m);
        Assert.Contains($"node '{relu.Name}' (Erf, opset 11)", message);
        Assert.Contains("nearest catalogue op: 'gelu'", message);
        relu.OpType = "Sigmod";
        Assert.Contains("nearest catalogue op: 'sigmoid'", Refused(m));
    }

    [Fact]
    public void Missing_initializer_names_the_tensor_and_the_node_using_it()
    {
        var m = Mlp();
        var weight = m.Graph.Initializer.First(i => i.Name == "fc2.weight");
        m.Graph.Initializer.Remove(weight);
        var gemm = m.Graph.Node.First(n => n.Input.Contains("fc2.weight"));
        var message = Refused(m);
        Assert.Contains($"node '{gemm.Name}' (Gemm, opset 11)", message);
        Assert.Contains("'fc2.weight' is neither a graph input, an initializer nor an earlier node's output", message);
    }

    [Fact]
    public void Opset_too_new_or_too_old_is_refused()
    {
        var m = Mlp();
        m.OpsetImport[0].Version = 21;
        Assert.Contains("opset 21 is newer than the importer reads (7-19)", Refused(m));
        m.OpsetImport[0].Version = 6;
        Assert.Contains("opset 6 is older than the importer reads (7-19)", Refused(m));
        m.OpsetImport.Clear();
        Assert.Contains("imports no opset of the default ONNX domain", Refused(m));
    }

    [Fact]
    public void Symbolic_dimension_needs_a_size()
    {
        var m = Mlp();
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "batch";
        Assert.Contains("graph input 'x': dimension 0 is symbolic ('batch'); give it one (--dim batch=N)", Refused(m));
        var graph = OnnxImporter.Import(m.ToByteArray(), "m.onnx", null, new ImportOptions { Dimensions = new Dictionary<string, int> { ["batch"] = 5 } }).Graph;
        Assert.Equal(Shape.Of(5, 4), graph.ShapeOf("x"));
    }

    [Fact]
    public void Bad_attribute_is_an_error_naming_the_node()
    {
        var m = Mlp();
        var gemm = m.Graph.Node.First(n => n.OpType == "Gemm");
        gemm.Attribute.Add(new P.AttributeProto { Name = "transA", Type = P.AttributeProto.Types.AttributeType.Int, I = 1 });
        var message = Refused(m);
        Assert.Contains($"node '{gemm.Name}' (Gemm, opset 11): catalogue op 'linear'", message);
    }

    static P.TensorProto Ints(string name, params long[] values)
    {
        var t = new P.TensorProto { Name = name, DataType = (int)P.TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        return t;
    }

    static P.ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new P.TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
        return new P.ValueInfoProto { Name = name, Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)P.TensorProto.Types.DataType.Float, Shape = shape } } };
    }

    static P.NodeProto Node(string op, string[] inputs, string output, params P.AttributeProto[] attributes)
    {
        var n = new P.NodeProto { OpType = op, Name = "/" + output, Output = { output } };
        n.Input.AddRange(inputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    [Fact]
    public void Shape_chain_of_x_view_batch_minus_one_is_folded_to_one_reshape()
    {
        // x.view(x.size(0), -1) as torch exports it with a dynamic batch: Shape, Gather, Unsqueeze, Concat, Reshape.
        var g = new P.GraphProto { Name = "chain" };
        g.Input.Add(Info("x", 2, 3, 4));
        g.Output.Add(Info("y", 2, 12));
        g.Initializer.Add(Ints("zero", 0));
        g.Initializer[0].Dims.Clear(); // a rank-0 index: Gather drops the axis
        g.Initializer.Add(Ints("axes0", 0));
        g.Initializer.Add(Ints("minus1", -1));
        g.Node.Add(Node("Shape", ["x"], "s"));
        g.Node.Add(Node("Gather", ["s", "zero"], "n", new P.AttributeProto { Name = "axis", Type = P.AttributeProto.Types.AttributeType.Int, I = 0 }));
        g.Node.Add(Node("Unsqueeze", ["n", "axes0"], "n1"));
        g.Node.Add(Node("Concat", ["n1", "minus1"], "shape", new P.AttributeProto { Name = "axis", Type = P.AttributeProto.Types.AttributeType.Int, I = 0 }));
        g.Node.Add(Node("Reshape", ["x", "shape"], "r"));
        g.Node.Add(Node("Relu", ["r"], "y"));
        var m = new P.ModelProto { IrVersion = 8, Graph = g, OpsetImport = { new P.OperatorSetIdProto { Domain = "", Version = 13 } } };
        var path = Path.Combine(Path.GetTempPath(), $"chain-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, m.ToByteArray());
        try
        {
            var r = OnnxImporter.Import(path);
            Assert.Equal(4, r.Folded);
            Assert.Equal(new[] { "x", "r", "y" }, r.Graph.Nodes.Select(n => n.Id));
            Assert.Equal(OpAttribute.Of(2, 12), r.Graph.Node("r").Op.Attributes["shape"]);
            var x = Tensor.Of(Shape.Of(2, 3, 4), Enumerable.Range(0, 24).Select(i => (i % 5 - 2) * 0.37).ToArray());
            var inputs = new Dictionary<string, Tensor> { ["x"] = x };
            var ours = Engine.evaluate(Plan.Compile(r.Graph), inputs).Output;
            var ort = Fixture.RunOrt(path, inputs, new Dictionary<string, bool>(), false)[0];
            Assert.True(Fixture.RelativeError(ours, ort) <= 1e-7);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Initializers_shared_through_identity_become_parameters_of_their_own()
    {
        // PyTorch's exporter writes equal tensors once and names the others through Identity nodes.
        var g = new P.GraphProto { Name = "shared" };
        g.Input.Add(Info("x", 3));
        g.Output.Add(Info("y", 3));
        var w = new P.TensorProto { Name = "a.weight", DataType = (int)P.TensorProto.Types.DataType.Float, Dims = { 3 }, FloatData = { 1, 1, 1 } };
        g.Initializer.Add(w);
        g.Node.Add(Node("Identity", ["a.weight"], "b.weight"));
        g.Node.Add(Node("Mul", ["x", "a.weight"], "h"));
        g.Node.Add(Node("Mul", ["h", "b.weight"], "y"));
        var m = new P.ModelProto { IrVersion = 8, Graph = g, OpsetImport = { new P.OperatorSetIdProto { Domain = "", Version = 13 } } };
        var r = OnnxImporter.Import(m.ToByteArray(), "shared.onnx", null, new ImportOptions { Loss = "mse" });
        Assert.Equal(new[] { "a.weight", "b.weight" }, r.Parameters);
        var e = Engine.gradient(Adjoints.InputsAndParameters, Plan.Compile(r.Graph), new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.Of(Shape.Of(3), [1.0, 2.0, 3.0]), ["target"] = Tensor.Of(Shape.Of(3), [0.0, 0.0, 0.0]),
        });
        // y = x·a·b, loss = mean y²: ∂/∂b_i = (2/3) y_i x_i a_i = (2/3) x_i², each parameter its own adjoint.
        Assert.Equal(new[] { 2.0 / 3, 8.0 / 3, 6.0 }, e.Adjoint("b.weight").Data);
        Assert.Equal(new[] { 2.0 / 3, 8.0 / 3, 6.0 }, e.Adjoint("a.weight").Data);
    }

    [Fact]
    public void External_data_file_is_read_as_inline_data()
    {
        var dir = Directory.CreateTempSubdirectory("onnx-external").FullName;
        try
        {
            var m = Mlp();
            using (var data = File.Create(Path.Combine(dir, "mlp.onnx_data")))
            {
                foreach (var t in m.Graph.Initializer)
                {
                    var offset = data.Position;
                    t.RawData.WriteTo(data);
                    t.ExternalData.Add(new P.StringStringEntryProto { Key = "location", Value = "mlp.onnx_data" });
                    t.ExternalData.Add(new P.StringStringEntryProto { Key = "offset", Value = offset.ToString() });
                    t.ExternalData.Add(new P.StringStringEntryProto { Key = "length", Value = t.RawData.Length.ToString() });
                    t.DataLocation = P.TensorProto.Types.DataLocation.External;
                    t.ClearRawData();
                }
            }
            var path = Path.Combine(dir, "mlp.onnx");
            File.WriteAllBytes(path, m.ToByteArray());
            var f = Fixture.Load("mlp_f32");
            var external = OnnxImporter.Import(path);
            var inline = OnnxImporter.Import(f.ModelPath);
            Assert.Equal(inline.Graph, external.Graph);
            Assert.Equal(new FileInfo(path).Length + new FileInfo(Path.Combine(dir, "mlp.onnx_data")).Length, external.Bytes);
            var ort = Fixture.RunOrt(path, f.Inputs, f.IntegerInputs, false)[0];
            Assert.True(Fixture.RelativeError(Engine.evaluate(Plan.Compile(external.Graph), f.Inputs).Output, ort) <= 1e-5);
            File.Delete(Path.Combine(dir, "mlp.onnx_data"));
            var ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(path));
            Assert.StartsWith("mlp.onnx_data: cannot read the external data of tensor 'fc1.weight'", ex.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
