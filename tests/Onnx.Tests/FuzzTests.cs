// Corrupted fixtures: every import either succeeds or fails with an OnnxException of one line, never
// another exception (which the CLI would report as an internal error).
using Google.Protobuf;
using P = global::Onnx;

namespace Adjoint.Onnx.Tests;

public sealed class FuzzTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mlp_f32")]
    [InlineData("cnn_f64")]
    [InlineData("mixerdyn_f32")]
    public void Corrupted_bytes_are_imported_or_refused_in_one_line(string name)
    {
        var f = Fixture.Load(name);
        var original = File.ReadAllBytes(f.ModelPath);
        var random = new Random(name.Length);
        int refused = 0, imported = 0;
        for (var trial = 0; trial < 400; trial++)
        {
            var bytes = (byte[])original.Clone();
            for (var k = random.Next(1, 4); k > 0; k--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (trial % 5 == 0) bytes = bytes[..random.Next(bytes.Length)];
            try
            {
                OnnxImporter.Import(bytes, "fuzz.onnx", null, f.Options());
                imported++;
            }
            catch (OnnxException ex)
            {
                Assert.DoesNotContain('\n', ex.Message);
                Assert.StartsWith("fuzz.onnx: ", ex.Message);
                refused++;
            }
        }
        output.WriteLine($"{name}: {imported} imported, {refused} refused");
        Assert.True(refused > 0);
    }

    [Fact]
    public void Corrupted_fields_are_refused_in_one_line()
    {
        // Fields a byte flip rarely reaches: attribute lists of the wrong length, dimensions out of range.
        var m = P.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture.Load("cnn_f32").ModelPath));
        var pool = m.Graph.Node.First(n => n.OpType == "MaxPool");
        pool.Attribute.First(a => a.Name == "kernel_shape").Ints.Add(2);
        var ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(m.ToByteArray(), "f.onnx", null));
        Assert.StartsWith($"f.onnx: node '{pool.Name}' (MaxPool, opset 13): ", ex.Message);
        m = P.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture.Load("cnn_f32").ModelPath));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimValue = 1L << 40;
        ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(m.ToByteArray(), "f.onnx", null));
        Assert.Equal("f.onnx: graph input 'x': dimension 0 has no size", ex.Message);
        m = P.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture.Load("mixer_f32").ModelPath));
        m.Graph.Input[1].Name = "x";
        ex = Assert.Throws<OnnxException>(() => OnnxImporter.Import(m.ToByteArray(), "f.onnx", null));
        Assert.Equal("f.onnx: duplicate node id 'x'", ex.Message);
    }
}
