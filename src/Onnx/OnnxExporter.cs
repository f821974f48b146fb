// An Adjoint graph to an ONNX ModelProto (opset 17) for inference: the forward graph of the model's output,
// parameters and constants as initializers, inputs as graph inputs.
using Google.Protobuf;
using Microsoft.FSharp.Core;
using P = global::Onnx;

namespace Adjoint.Onnx;

/// <summary>How <see cref="OnnxExporter"/> writes a graph.</summary>
public sealed record ExportOptions
{
    /// <summary>"float" (what ONNX Runtime computes fastest, and the only type its CPU Conv takes) or "double".</summary>
    public string FloatType { get; init; } = "float";

    /// <summary>The node exported as the model's output (default: the graph's output, or the model output a
    /// loss is computed from when the graph's output is a loss).</summary>
    public string? Output { get; init; }
}

/// <summary>An exported model and what it holds.</summary>
/// <param name="Model">The serialized ModelProto.</param>
/// <param name="Output">The node exported as the output.</param>
/// <param name="OnnxOps">ONNX nodes written, by op type.</param>
/// <param name="Parameters">Parameters, written as initializers.</param>
/// <param name="Constants">Constants, and tensors that ONNX takes as inputs where the catalogue has attributes (shapes,
/// axes, bounds), written as Constant nodes (so that importing the model again keeps them constant).</param>
/// <param name="Inputs">Graph inputs.</param>
public sealed record ExportResult(byte[] Model, string Output, IReadOnlyDictionary<string, int> OnnxOps,
    int Parameters, int Constants, IReadOnlyList<string> Inputs);

/// <summary>Writes Adjoint graphs as ONNX models.</summary>
public static class OnnxExporter
{
    /// <summary>The opset exported models import.</summary>
    public const int Opset = 17;

    static readonly HashSet<string> Losses = ["cross_entropy", "mse", "softmax_cross_entropy"];

    /// <summary>The graph's forward computation of its (model) output as an ONNX model.</summary>
    public static ExportResult Export(Graph graph, ExportOptions? options = null)
    {
        options ??= new ExportOptions();
        var floatType = options.FloatType switch
        {
            "float" => P.TensorProto.Types.DataType.Float,
            "double" => P.TensorProto.Types.DataType.Double,
            var t => throw new OnnxException($"export: float type '{t}' is not 'float' or 'double'"),
        };
        var output = options.Output ?? graph.Output;
        if (!graph.Contains(output)) throw new OnnxException($"export: no node '{output}' in the graph");
        if (options.Output is null && Losses.Contains(graph.Node(output).Op.Name)) output = graph.Node(output).Ancestors[0];
        var writer = new Writer(graph, floatType);
        writer.Emit(output);
        var g = writer.Graph;
        g.Name = "adjoint";
        g.Output.Add(writer.Info(output));
        var model = new P.ModelProto
        {
            IrVersion = 8,
            ProducerName = "adjoint",
            Graph = g,
            OpsetImport = { new P.OperatorSetIdProto { Domain = "", Version = Opset } },
        };
        var counts = g.Node.GroupBy(n => n.OpType).ToDictionary(k => k.Key, k => k.Count());
        return new ExportResult(model.ToByteArray(), output, counts, writer.Parameters, writer.Constants, g.Input.Select(i => i.Name).ToList());
    }

    sealed class Writer(Graph graph, P.TensorProto.Types.DataType floatType)
    {
        readonly HashSet<string> _done = new();
        public P.GraphProto Graph { get; } = new();
        public int Parameters { get; private set; }
        public int Constants { get; private set; }

        P.TensorProto.Types.DataType TypeOf(string id) => graph.ElementTypeOf(id) switch
        {
            ElementType.Int64 => P.TensorProto.Types.DataType.Int64,
            ElementType.Bool => P.TensorProto.Types.DataType.Bool,
            _ => floatType,
        };

        public P.ValueInfoProto Info(string id)
        {
            var shape = new P.TensorShapeProto();
            foreach (var d in graph.ShapeOf(id).Dims) shape.Dim.Add(new P.TensorShapeProto.Types.Dimension { DimValue = d });
            return new P.ValueInfoProto
            {
                Name = id,
                Type = new P.TypeProto { TensorType = new P.TypeProto.Types.Tensor { ElemType = (int)TypeOf(id), Shape = shape } },
            };
        }

        /// <summary>The node and its ancestors, ancestors first (depth first, without recursion).</summary>
        public void Emit(string root)
        {
            var stack = new Stack<(string Id, bool Expanded)>();
            stack.Push((root, false));
            while (stack.Count > 0)
            {
                var (id, expanded) = stack.Pop();
                if (_done.Contains(id)) continue;
                if (expanded)
                {
                    _done.Add(id);
                    Write(graph.Node(id));
                    continue;
                }
                stack.Push((id, true));
                foreach (var a in graph.Node(id).Ancestors.Reverse())
                    if (!_done.Contains(a)) stack.Push((a, false));
            }
        }

        /// <summary>A value that is not trained: a Constant node, so that importing the model again makes it a
        /// constant (initializers are parameters).</summary>
        string Constant(string name, Tensor value, P.TensorProto.Types.DataType type)
        {
            Add("Constant", name).Attribute.Add(new P.AttributeProto
            {
                Name = "value", Type = P.AttributeProto.Types.AttributeType.Tensor, T = TensorCodec.Write("", value, type),
            });
            Constants++;
            return name;
        }

        string Ints(string name, IEnumerable<long> values)
        {
            var v = values.Select(x => (double)x).ToArray();
            return Constant(name, Tensor.Of(Shape.Of(v.Length), v), P.TensorProto.Types.DataType.Int64);
        }

        string Scalar(string name, double value) => Constant(name, Tensor.Scalar(value), floatType);

        P.NodeProto Add(string op, string output, params string[] inputs)
        {
            var n = new P.NodeProto { OpType = op, Name = output, Output = { output } };
            n.Input.AddRange(inputs);
            Graph.Node.Add(n);
            return n;
        }

        static P.AttributeProto Int(string name, long v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Int, I = v };
        static P.AttributeProto Float(string name, double v) => new() { Name = name, Type = P.AttributeProto.Types.AttributeType.Float, F = (float)v };
        static P.AttributeProto IntList(string name, IEnumerable<long> v)
        {
            var a = new P.AttributeProto { Name = name, Type = P.AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(v);
            return a;
        }

        /// <summary>The attribute as given, or the catalogue's default for it (null when it has none).</summary>
        static OpAttribute? Get(Node n, string name)
        {
            if (n.Op.Attributes.TryGetValue(name, out var v)) return v;
            var entry = Catalogue.tryFind(n.Op.Name);
            if (FSharpOption<OpEntry>.get_IsNone(entry)) return null;
            var spec = entry.Value.Attributes.FirstOrDefault(s => s.Name == name);
            return spec is not null && FSharpOption<OpAttribute>.get_IsSome(spec.Default) ? spec.Default.Value : null;
        }

        static int GetInt(Node n, string name) => Get(n, name) is OpAttribute.Int i ? i.Item : throw Bad(n, $"attribute '{name}' is not an integer");
        static double GetFloat(Node n, string name) => Get(n, name)?.AsFloat ?? throw Bad(n, $"attribute '{name}' is missing");
        static bool GetBool(Node n, string name) => Get(n, name) is OpAttribute.Bool b ? b.Item : throw Bad(n, $"attribute '{name}' is not true or false");
        static int[]? GetInts(Node n, string name) => Get(n, name) switch
        {
            OpAttribute.Ints xs => xs.Item,
            OpAttribute.Int x => [x.Item],
            _ => null,
        };

        static OnnxException Bad(Node n, string detail) => new($"export: node '{n.Id}' (op '{n.Op.Name}'): {detail}");

        /// <summary>A per-axis attribute given as 1 or k values, as k values.</summary>
        static long[] PerAxis(Node n, string name, int k, int fallback)
        {
            var v = GetInts(n, name);
            if (v is null) return Enumerable.Repeat((long)fallback, k).ToArray();
            if (v.Length == 1) return Enumerable.Repeat((long)v[0], k).ToArray();
            if (v.Length != k) throw Bad(n, $"attribute '{name}' has {v.Length} values, not 1 or {k}");
            return v.Select(x => (long)x).ToArray();
        }

        void Write(Node n)
        {
            var id = n.Id;
            var a = n.Ancestors;
            Shape In(int k) => graph.ShapeOf(a[k]);
            switch (n.Op.Kind)
            {
                case OpKind.Input:
                    Graph.Input.Add(Info(id));
                    return;
                case OpKind.Parameter:
                    Parameters++;
                    Graph.Initializer.Add(TensorCodec.Write(id, n.Value.Value, TypeOf(id)));
                    return;
                case OpKind.Constant:
                    Constant(id, n.Value.Value, TypeOf(id));
                    return;
            }
            switch (n.Op.Name)
            {
                case "add" or "addrow": Add("Add", id, a); break;
                case "sub": Add("Sub", id, a); break;
                case "mul": Add("Mul", id, a); break;
                case "div": Add("Div", id, a); break;
                case "pow": Add("Pow", id, a); break;
                case "neg": Add("Neg", id, a); break;
                case "relu": Add("Relu", id, a); break;
                case "sigmoid": Add("Sigmoid", id, a); break;
                case "tanh": Add("Tanh", id, a); break;
                case "exp": Add("Exp", id, a); break;
                case "log": Add("Log", id, a); break;
                case "sin": Add("Sin", id, a); break;
                case "cos": Add("Cos", id, a); break;
                case "sqrt": Add("Sqrt", id, a); break;
                case "abs": Add("Abs", id, a); break;
                case "sign": Add("Sign", id, a); break;
                case "softplus": Add("Softplus", id, a); break;
                case "softsign": Add("Softsign", id, a); break;
                case "maximum": Add("Max", id, a); break;
                case "minimum": Add("Min", id, a); break;
                case "matmul": Add("MatMul", id, a); break;
                case "where": Add("Where", id, a); break;
                case "global_avg_pool": Add("GlobalAveragePool", id, a); break;
                case "dropout":
                    // Inference: the identity (ONNX Runtime runs the exported model for predictions).
                    Add("Identity", id, a[0]);
                    break;
                case "square": Add("Mul", id, a[0], a[0]); break;
                case "rsqrt":
                    Add("Sqrt", id + "/sqrt", a[0]);
                    Add("Reciprocal", id, id + "/sqrt");
                    break;
                case "scale": Add("Mul", id, a[0], Scalar(id + "/factor", GetFloat(n, "factor"))); break;
                case "leaky_relu": Add("LeakyRelu", id, a[0]).Attribute.Add(Float("alpha", GetFloat(n, "alpha"))); break;
                case "elu": Add("Elu", id, a[0]).Attribute.Add(Float("alpha", GetFloat(n, "alpha"))); break;
                case "clamp":
                    Add("Clip", id, a[0],
                        Get(n, "min") is { } lo ? Scalar(id + "/min", lo.AsFloat) : "",
                        Get(n, "max") is { } hi ? Scalar(id + "/max", hi.AsFloat) : "");
                    break;
                case "linear":
                    if (In(0).Rank == 2) Add("Gemm", id, a).Attribute.Add(Int("transB", 1));
                    else
                    {
                        Add("Transpose", id + "/Wt", a[1]).Attribute.Add(IntList("perm", [1, 0]));
                        if (a.Length == 3)
                        {
                            Add("MatMul", id + "/xWt", a[0], id + "/Wt");
                            Add("Add", id, id + "/xWt", a[2]);
                        }
                        else Add("MatMul", id, a[0], id + "/Wt");
                    }
                    break;
                case "reshape" or "flatten" or "squeeze" or "unsqueeze":
                    // The output's shape is known: one Reshape to it says all four.
                    Add("Reshape", id, a[0], Ints(id + "/shape", graph.ShapeOf(id).Dims.Select(d => (long)d)));
                    break;
                case "permute":
                    Add("Transpose", id, a[0]).Attribute.Add(IntList("perm", GetInts(n, "axes")!.Select(x => (long)x)));
                    break;
                case "transpose":
                {
                    var r = In(0).Rank;
                    var perm = Enumerable.Range(0, r).Select(x => (long)x).ToArray();
                    int d0 = GetInt(n, "dim0"), d1 = GetInt(n, "dim1");
                    d0 = d0 < 0 ? d0 + r : d0;
                    d1 = d1 < 0 ? d1 + r : d1;
                    (perm[d0], perm[d1]) = (perm[d1], perm[d0]);
                    Add("Transpose", id, a[0]).Attribute.Add(IntList("perm", perm));
                    break;
                }
                case "broadcast_to":
                    Add("Expand", id, a[0], Ints(id + "/shape", graph.ShapeOf(id).Dims.Select(d => (long)d)));
                    break;
                case "concat": Add("Concat", id, a).Attribute.Add(Int("axis", GetInt(n, "axis"))); break;
                case "gather": Add("Gather", id, a).Attribute.Add(Int("axis", GetInt(n, "axis"))); break;
                case "slice":
                {
                    var starts = GetInts(n, "starts")!;
                    var axes = GetInts(n, "axes") ?? Enumerable.Range(0, starts.Length).ToArray();
                    var steps = GetInts(n, "steps") ?? Enumerable.Repeat(1, starts.Length).ToArray();
                    Add("Slice", id, a[0], Ints(id + "/starts", starts.Select(x => (long)x)),
                        Ints(id + "/ends", GetInts(n, "stops")!.Select(x => (long)x)),
                        Ints(id + "/axes", axes.Select(x => (long)x)), Ints(id + "/steps", steps.Select(x => (long)x)));
                    break;
                }
                case "pad":
                {
                    var r = In(0).Rank;
                    var pads = GetInts(n, "pads")!;
                    var onnx = new long[2 * r];
                    for (var k = 0; k < pads.Length / 2; k++) (onnx[k], onnx[k + r]) = (pads[2 * k], pads[2 * k + 1]);
                    var value = GetFloat(n, "value");
                    Add("Pad", id, a[0], Ints(id + "/pads", onnx), Constant(id + "/value", Tensor.Scalar(value), TypeOf(a[0])));
                    break;
                }
                case "sum":
                {
                    var node = Add("ReduceSum", id, GetInts(n, "axes") is { } axes ? [a[0], Ints(id + "/axes", axes.Select(x => (long)x))] : [a[0]]);
                    node.Attribute.Add(Int("keepdims", GetBool(n, "keepdims") ? 1 : 0));
                    break;
                }
                case "mean" or "max" or "min" or "logsumexp":
                {
                    var op = n.Op.Name switch { "mean" => "ReduceMean", "max" => "ReduceMax", "min" => "ReduceMin", _ => "ReduceLogSumExp" };
                    var node = Add(op, id, a[0]);
                    if (GetInts(n, "axes") is { } axes) node.Attribute.Add(IntList("axes", axes.Select(x => (long)x)));
                    node.Attribute.Add(Int("keepdims", GetBool(n, "keepdims") ? 1 : 0));
                    break;
                }
                case "split":
                {
                    // ONNX Split makes every piece; the others are unused outputs.
                    var sizes = GetInts(n, "sizes")!;
                    var index = GetInt(n, "index");
                    var node = Add("Split", id, a[0], Ints(id + "/split", sizes.Select(x => (long)x)));
                    node.Output.Clear();
                    node.Output.AddRange(Enumerable.Range(0, sizes.Length).Select(k => k == index ? id : $"{id}/{k}"));
                    node.Attribute.Add(Int("axis", GetInt(n, "axis")));
                    break;
                }
                case "argmax":
                {
                    var keepdims = GetBool(n, "keepdims") ? 1 : 0;
                    if (Get(n, "axis") is OpAttribute.Int axis)
                    {
                        var node = Add("ArgMax", id, a[0]);
                        node.Attribute.Add(Int("axis", axis.Item));
                        node.Attribute.Add(Int("keepdims", keepdims));
                    }
                    else
                    {
                        // Of the flattened tensor, then shaped as the node is (rank 0, or ones with keepdims).
                        Add("Reshape", id + "/flat", a[0], Ints(id + "/flat_shape", [-1]));
                        var node = Add("ArgMax", id + "/argmax", id + "/flat");
                        node.Attribute.Add(Int("axis", 0));
                        node.Attribute.Add(Int("keepdims", 0));
                        Add("Reshape", id, id + "/argmax", Ints(id + "/shape", graph.ShapeOf(id).Dims.Select(d => (long)d)));
                    }
                    break;
                }
                case "sqnorm": Add("ReduceSumSquare", id, a[0]).Attribute.Add(Int("keepdims", 0)); break;
                case "softmax": Add("Softmax", id, a[0]).Attribute.Add(Int("axis", GetInt(n, "axis"))); break;
                case "log_softmax": Add("LogSoftmax", id, a[0]).Attribute.Add(Int("axis", GetInt(n, "axis"))); break;
                case "layer_norm":
                {
                    var dims = GetInt(n, "dims");
                    var x = In(0);
                    var inputs = a.ToList();
                    if (inputs.Count == 1)
                    {
                        // ONNX needs a Scale: ones over the normalised dimensions.
                        var shape = Shape.Of(x.Dims.Skip(x.Rank - dims).ToArray());
                        inputs.Add(Constant(id + "/scale", Tensor.Of(shape, Enumerable.Repeat(1.0, shape.Count).ToArray()), floatType));
                    }
                    var node = Add("LayerNormalization", id, inputs.ToArray());
                    node.Attribute.Add(Int("axis", -dims));
                    node.Attribute.Add(Float("epsilon", GetFloat(n, "eps")));
                    break;
                }
                case "batch_norm":
                {
                    if (GetBool(n, "training")) throw Bad(n, "batch norm in training mode (batch statistics) has no inference export; build the graph with training=false to use the running statistics");
                    Add("BatchNormalization", id, a).Attribute.Add(Float("epsilon", GetFloat(n, "eps")));
                    break;
                }
                case "conv2d" or "conv1d":
                {
                    var k = n.Op.Name == "conv2d" ? 2 : 1;
                    var padding = PerAxis(n, "padding", k, 0);
                    var node = Add("Conv", id, a);
                    node.Attribute.Add(IntList("strides", PerAxis(n, "stride", k, 1)));
                    node.Attribute.Add(IntList("pads", padding.Concat(padding)));
                    node.Attribute.Add(IntList("dilations", PerAxis(n, "dilation", k, 1)));
                    node.Attribute.Add(Int("group", GetInt(n, "groups")));
                    break;
                }
                case "max_pool2d" or "avg_pool2d":
                {
                    var kernel = PerAxis(n, "kernel", 2, 1);
                    var stride = GetInts(n, "stride") is null ? kernel : PerAxis(n, "stride", 2, 1);
                    var padding = PerAxis(n, "padding", 2, 0);
                    var node = Add(n.Op.Name == "max_pool2d" ? "MaxPool" : "AveragePool", id, a[0]);
                    node.Attribute.Add(IntList("kernel_shape", kernel));
                    node.Attribute.Add(IntList("strides", stride));
                    node.Attribute.Add(IntList("pads", padding.Concat(padding)));
                    if (n.Op.Name == "max_pool2d") node.Attribute.Add(IntList("dilations", PerAxis(n, "dilation", 2, 1)));
                    else node.Attribute.Add(Int("count_include_pad", GetBool(n, "count_include_pad") ? 1 : 0));
                    break;
                }
                default:
                    throw Bad(n, "this op has no ONNX export (docs/onnx.md lists the ops that have one)");
            }
        }
    }
}
