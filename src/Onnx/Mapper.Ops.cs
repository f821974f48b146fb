// The ONNX op table of the importer: one case per ONNX op type, each to catalogue ops (or folded at import).
using P = global::Onnx;
namespace Adjoint.Onnx;

internal sealed partial class Mapper
{
    static readonly Dictionary<string, string> Unary = new()
    {
        ["Relu"] = "relu", ["Sigmoid"] = "sigmoid", ["Tanh"] = "tanh", ["Exp"] = "exp", ["Log"] = "log",
        ["Sqrt"] = "sqrt", ["Abs"] = "abs", ["Neg"] = "neg", ["Sin"] = "sin", ["Cos"] = "cos",
        ["Softplus"] = "softplus", ["Softsign"] = "softsign", ["Sign"] = "sign",
    };

    static readonly Dictionary<string, string> Binary = new()
    {
        ["Add"] = "add", ["Sub"] = "sub", ["Mul"] = "mul", ["Div"] = "div", ["Pow"] = "pow",
    };

    static readonly Dictionary<string, string> Reductions = new()
    {
        ["ReduceSum"] = "sum", ["ReduceMean"] = "mean", ["ReduceMax"] = "max", ["ReduceMin"] = "min",
        ["ReduceLogSumExp"] = "logsumexp",
    };

    /// <summary>Every ONNX op type the importer maps (docs/onnx.md lists them with their notes).</summary>
    internal static IEnumerable<string> Supported =>
        Unary.Keys.Concat(Binary.Keys).Concat(Reductions.Keys).Concat(new[]
        {
            "Gemm", "MatMul", "LeakyRelu", "Elu", "Reciprocal", "Identity", "Dropout", "Constant", "Shape", "Size",
            "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose", "Concat", "Gather", "Slice",
            "Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization", "Conv", "MaxPool", "AveragePool",
            "GlobalAveragePool", "GlobalMaxPool", "Clip", "Max", "Min", "Sum", "Pad", "Where", "Expand", "Split", "ArgMax",
        }).Order();

    void MapNode(P.NodeProto n)
    {
        if (n.Output.Count == 0 || n.Output[0].Length == 0) throw Fail("the node has no output");
        var op = n.OpType;
        if (Unary.TryGetValue(op, out var unary))
        {
            SetOutput(Op(unary, new[] { DataIn(0) }));
            return;
        }
        if (Binary.TryGetValue(op, out var binary))
        {
            MapBinary(binary);
            return;
        }
        if (Reductions.TryGetValue(op, out var reduction))
        {
            MapReduction(op, reduction);
            return;
        }
        switch (op)
        {
            case "Gemm": MapGemm(); break;
            case "MatMul": SetOutput(Op("matmul", new[] { DataIn(0), DataIn(1) })); break;
            case "LeakyRelu": SetOutput(Op("leaky_relu", new[] { DataIn(0) }, A(("alpha", OpAttribute.Of(Float("alpha", 0.01f)))))); break;
            case "Elu": SetOutput(Op("elu", new[] { DataIn(0) }, A(("alpha", OpAttribute.Of(Float("alpha", 1.0)))))); break;
            case "Reciprocal":
                SetOutput(Op("div", new[] { _b.Constant($"{Out}/one", Tensor.Scalar(1.0)), DataIn(0) }));
                break;
            case "Identity": MapIdentity(); break;
            case "Dropout":
                // Inference: the identity (opset 12+ may ask for training through input 2).
                if (In(2) is { } training && KnownScalar(training, "training_mode") != 0)
                    throw Fail("training-mode Dropout is not mapped; export the model in inference mode (model.eval())");
                OnlyFirstOutput("the dropout mask");
                Alias(Need(0));
                break;
            case "Constant": MapConstant(); break;
            case "Shape": MapShape(); break;
            case "Size":
                SetKnown(0, Tensor.Scalar(Need(0).Shape.Count), ElementType.Int64);
                _folded++;
                break;
            case "Cast": MapCast(); break;
            case "Unsqueeze": MapUnsqueeze(); break;
            case "Squeeze": MapSqueeze(); break;
            case "Reshape": MapReshape(); break;
            case "Flatten": MapFlatten(); break;
            case "Transpose": MapTranspose(); break;
            case "Concat": MapConcat(); break;
            case "Gather": MapGather(); break;
            case "Slice": MapSlice(); break;
            case "Softmax": MapSoftmax("softmax"); break;
            case "LogSoftmax": MapSoftmax("log_softmax"); break;
            case "LayerNormalization": MapLayerNorm(); break;
            case "BatchNormalization": MapBatchNorm(); break;
            case "Conv": MapConv(); break;
            case "MaxPool": MapPool("max_pool2d"); break;
            case "AveragePool": MapPool("avg_pool2d"); break;
            case "GlobalAveragePool": SetOutput(Op("global_avg_pool", new[] { DataIn(0) })); break;
            case "GlobalMaxPool":
            {
                var x = DataIn(0);
                var axes = Enumerable.Range(2, x.Shape.Rank - 2).Select(a => (long)a);
                SetOutput(Op("max", new[] { x }, A(("axes", IntsAttr(axes)), ("keepdims", OpAttribute.Of(true)))));
                break;
            }
            case "Clip": MapClip(); break;
            case "Max": MapVariadic("maximum"); break;
            case "Min": MapVariadic("minimum"); break;
            case "Sum": MapVariadic("add"); break;
            case "Pad": MapPad(); break;
            case "Where":
                SetOutput(Op("where", new[] { DataIn(0, constant: true), DataIn(1), DataIn(2) }));
                break;
            case "Expand": MapExpand(); break;
            case "Split": MapSplit(); break;
            case "ArgMax":
            {
                if (Int("select_last_index", 0) != 0) throw Fail("ArgMax with select_last_index=1 is not mapped (the catalogue's argmax takes the first maximum)");
                var x = DataIn(0);
                SetOutput(Op("argmax", new[] { x }, A(("axis", OpAttribute.Of(Axis(Int("axis", 0), x.Shape.Rank))), ("keepdims", OpAttribute.Of(Int("keepdims", 1) != 0)))));
                break;
            }
            default:
                throw Fail($"no catalogue op maps ONNX {op} (nearest catalogue op: '{OnnxImporter.NearestCatalogueOp(op)}'); docs/onnx.md lists the ONNX ops that are mapped");
        }
    }

    void MapIdentity()
    {
        var v = Need(0);
        // PyTorch's exporter shares equal initializers (fresh batch norms' ones and zeros) through Identity
        // nodes named as the parameters they were: each output is its own tensor, trained (or constant) on its own.
        if (v is { HasNode: false, Known: not null })
            _values[Out] = new Value(Out, v.Type) { Known = v.Known, Trainable = v.Trainable };
        else Alias(v);
    }

    void MapBinary(string op)
    {
        var a = Need(0);
        var b = Need(1);
        // Integer bookkeeping on constants (shape arithmetic) is folded; everything else is a node.
        if (op != "pow" && Foldable(a) && Foldable(b) && a.Type == ElementType.Int64 && b.Type == ElementType.Int64
            && a.Known!.Count is var na && b.Known!.Count is var nb && (na == nb || na == 1 || nb == 1) && a.Known.Rank <= 1 && b.Known.Rank <= 1)
        {
            var n = Math.Max(na, nb);
            var data = new double[n];
            for (var i = 0; i < n; i++)
            {
                var x = (long)a.Known.Data[na == 1 ? 0 : i];
                var y = (long)b.Known.Data[nb == 1 ? 0 : i];
                data[i] = op switch
                {
                    "add" => x + y,
                    "sub" => x - y,
                    "mul" => x * y,
                    _ => y == 0 ? throw Fail("integer division by zero") : x / y,
                };
            }
            var shape = a.Known.Rank >= b.Known.Rank ? a.Known.Shape : b.Known.Shape;
            SetKnown(0, Tensor.Of(n == shape.Count ? shape : Shape.Of(n), data), ElementType.Int64);
            _folded++;
            return;
        }
        SetOutput(Op(op, new[] { Data(a), Data(b) }));
    }

    void MapGemm()
    {
        var alpha = Float("alpha", 1.0);
        var beta = Float("beta", 1.0);
        var transA = Int("transA", 0) != 0;
        var transB = Int("transB", 0) != 0;
        var a = DataIn(0);
        var b = DataIn(1);
        var c = In(2);
        if (a.Shape.Rank != 2 || b.Shape.Rank != 2) throw Fail($"Gemm needs matrices, got A {a.Shape} and B {b.Shape}");
        if (transA) a = Helper("transpose", new[] { a }, null, "transA");
        // torch.nn.Linear's export: x Wᵀ + b, the catalogue's linear.
        if (transB && alpha == 1.0 && (c is null || beta == 1.0 && c.Shape.Rank == 1 && c.Shape.Dim(0) == b.Shape.Dim(0)))
        {
            SetOutput(Op("linear", c is null ? new[] { a, b } : new[] { a, b, Data(c) }));
            return;
        }
        if (transB) b = Helper("transpose", new[] { b }, null, "transB");
        var y = Op("matmul", new[] { a, b }, null, c is null && alpha == 1.0 ? null : $"{Out}/AB");
        if (alpha != 1.0) y = Op("scale", new[] { y }, A(("factor", OpAttribute.Of(alpha))), c is null ? null : $"{Out}/alphaAB");
        if (c is not null)
        {
            var cn = Data(c);
            if (beta != 1.0) cn = Helper("scale", new[] { cn }, A(("factor", OpAttribute.Of(beta))), "betaC");
            y = Op("add", new[] { y, cn });
        }
        SetOutput(y);
    }

    void MapConstant()
    {
        Tensor value;
        var type = ElementType.Float64;
        if (Attr("value") is { } v)
        {
            var t = TensorCodec.Read(v.T, baseDirectory, file);
            value = t.Value;
            type = t.ElementType;
            _sawDouble |= t.OnnxType == global::Onnx.TensorProto.Types.DataType.Double && type == ElementType.Float64;
        }
        else if (Attr("value_float") is { } f) value = Tensor.Scalar(f.F);
        else if (Attr("value_floats") is { } fs) value = Tensor.Of(Shape.Of(fs.Floats.Count), fs.Floats.Select(x => (double)x).ToArray());
        else if (Attr("value_int") is { } i) (value, type) = (Tensor.Scalar(i.I), ElementType.Int64);
        else if (Attr("value_ints") is { } iss) (value, type) = (Tensor.Of(Shape.Of(iss.Ints.Count), iss.Ints.Select(x => (double)x).ToArray()), ElementType.Int64);
        else throw Fail("a Constant needs 'value', 'value_float(s)' or 'value_int(s)' (sparse and string constants are not mapped)");
        SetKnown(0, value, type);
        _folded++;
    }

    void MapShape()
    {
        var x = Need(0);
        var dims = x.Shape.Dims.Select(d => (double)d).ToArray();
        var r = dims.Length;
        var start = (int)Int("start", 0);
        var end = (int)Int("end", r);
        start = Math.Clamp(start < 0 ? start + r : start, 0, r);
        end = Math.Clamp(end < 0 ? end + r : end, 0, r);
        var slice = dims[start..Math.Max(start, end)];
        SetKnown(0, Tensor.Of(Shape.Of(slice.Length), slice), ElementType.Int64);
        _folded++;
    }

    void MapCast()
    {
        var x = Need(0);
        var to = (int)Int("to", 0);
        var type = TensorCodec.ElementTypeOf(to) ?? throw Fail($"Cast to {TensorCodec.TypeName(to)} is not mapped");
        if (Foldable(x))
        {
            var data = x.Known!.Data.Select(d => type switch
            {
                ElementType.Int64 => Math.Truncate(d),
                ElementType.Bool => d != 0 ? 1.0 : 0.0,
                _ => to == (int)global::Onnx.TensorProto.Types.DataType.Float ? (double)(float)d : d,
            }).ToArray();
            SetKnown(0, Tensor.Of(x.Known.Shape, data), type);
            _folded++;
            return;
        }
        if (type != x.Type)
            throw Fail($"Cast of a computed {ElementTypeName(x.Type)} tensor to {ElementTypeName(type)} is not mapped");
        // float32 ↔ float64 of a computed tensor: the graph computes in float64 throughout.
        Alias(x);
    }

    static string ElementTypeName(ElementType t) => t switch
    {
        ElementType.Int64 => "int64",
        ElementType.Bool => "bool",
        _ => "float64",
    };

    long[]? AxesInputOrAttribute(int input, int inputsFromOpset)
    {
        if (_opset >= inputsFromOpset) return In(input) is { } a ? KnownInts(a, "axes") : null;
        return Ints("axes");
    }

    void MapUnsqueeze()
    {
        var x = Need(0);
        var axes = AxesInputOrAttribute(1, 13) ?? throw Fail("Unsqueeze needs axes");
        var rank = x.Shape.Rank + axes.Length;
        var norm = axes.Select(a => Axis(a, rank)).Order().ToArray();
        if (Foldable(x))
        {
            var dims = x.Shape.Dims.ToList();
            foreach (var a in norm) dims.Insert(a, 1);
            FoldReshape(x, dims.ToArray());
            return;
        }
        SetOutput(Op("unsqueeze", new[] { Data(x) }, A(("axes", IntsAttr(norm.Select(a => (long)a))))));
    }

    void MapSqueeze()
    {
        var x = Need(0);
        var axes = AxesInputOrAttribute(1, 13);
        var rank = x.Shape.Rank;
        var norm = (axes ?? Enumerable.Range(0, rank).Where(d => x.Shape.Dim(d) == 1).Select(d => (long)d).ToArray())
            .Select(a => Axis(a, rank)).ToHashSet();
        foreach (var a in norm)
            if (x.Shape.Dim(a) != 1) throw Fail($"Squeeze axis {a} has size {x.Shape.Dim(a)}, not 1, in shape {x.Shape}");
        if (Foldable(x))
        {
            FoldReshape(x, Enumerable.Range(0, rank).Where(d => !norm.Contains(d)).Select(d => x.Shape.Dim(d)).ToArray());
            return;
        }
        SetOutput(Op("squeeze", new[] { Data(x) }, A(("axes", IntsAttr(norm.Order().Select(a => (long)a))))));
    }

    void FoldReshape(Value x, int[] dims)
    {
        SetKnown(0, Tensor.Of(Shape.Of(dims), x.Known!.Data), x.Type);
        _folded++;
    }

    void MapReshape()
    {
        var x = Need(0);
        long[] shape = _opset >= 5 ? KnownInts(Need(1), "shape") : Ints("shape") ?? throw Fail("Reshape needs a shape");
        var allowZero = Int("allowzero", 0) != 0;
        var dims = new int[shape.Length];
        for (var k = 0; k < shape.Length; k++)
        {
            if (shape[k] == 0 && !allowZero)
            {
                if (k >= x.Shape.Rank) throw Fail($"shape {Show(shape)} copies dimension {k} (0), which input {x.Shape} does not have");
                dims[k] = x.Shape.Dim(k);
            }
            else if (shape[k] < -1 || shape[k] == 0) throw Fail($"shape {Show(shape)} has dimension {shape[k]}");
            else dims[k] = checked((int)shape[k]);
        }
        var unknown = Array.IndexOf(dims, -1);
        if (unknown >= 0)
        {
            var rest = dims.Where((d, k) => k != unknown).Aggregate(1L, (a, d) => a * d);
            if (rest == 0 || x.Shape.Count % rest != 0) throw Fail($"input {x.Shape} cannot take shape {Show(shape)}");
            dims[unknown] = (int)(x.Shape.Count / rest);
        }
        if (dims.Aggregate(1L, (a, d) => a * d) != x.Shape.Count) throw Fail($"input {x.Shape} cannot take shape {Show(shape)}");
        if (Foldable(x))
        {
            FoldReshape(x, dims);
            return;
        }
        SetOutput(Op("reshape", new[] { Data(x) }, A(("shape", OpAttribute.Of(dims)))));
    }

    static string Show(IEnumerable<long> xs) => $"[{string.Join(", ", xs)}]";

    void MapFlatten()
    {
        var x = Need(0);
        var r = x.Shape.Rank;
        var axis = Int("axis", 1);
        if (axis < -r || axis > r) throw Fail($"axis {axis} is out of range for rank {r}");
        if (axis < 0) axis += r;
        var outer = x.Shape.Dims.Take((int)axis).Aggregate(1, (a, d) => a * d);
        var dims = new[] { outer, x.Shape.Count / outer };
        if (Foldable(x))
        {
            FoldReshape(x, dims);
            return;
        }
        SetOutput(Op("reshape", new[] { Data(x) }, A(("shape", OpAttribute.Of(dims)))));
    }

    void MapTranspose()
    {
        var x = DataIn(0);
        var r = x.Shape.Rank;
        var perm = Ints("perm") ?? Enumerable.Range(0, r).Reverse().Select(d => (long)d).ToArray();
        SetOutput(Op("permute", new[] { x }, A(("axes", IntsAttr(perm.Select(p => (long)Axis(p, r)))))));
    }

    void MapConcat()
    {
        var parts = Enumerable.Range(0, _node.Input.Count).Select(In).Where(v => v is not null).Select(v => v!).ToArray();
        if (parts.Length == 0) throw Fail("Concat needs an input");
        var axis = Axis(Int("axis", 0), parts[0].Shape.Rank);
        if (parts.All(Foldable) && parts.All(p => p.Shape.Rank == 1))
        {
            var data = parts.SelectMany(p => p.Known!.Data).ToArray();
            SetKnown(0, Tensor.Of(Shape.Of(data.Length), data), parts[0].Type);
            _folded++;
            return;
        }
        SetOutput(Op("concat", parts.Select(p => Data(p)).ToArray(), A(("axis", OpAttribute.Of(axis)))));
    }

    void MapGather()
    {
        var data = Need(0);
        var indices = Need(1);
        var axis = Axis(Int("axis", 0), data.Shape.Rank);
        if (Foldable(data) && Foldable(indices) && data.Shape.Rank == 1)
        {
            var n = data.Shape.Dim(0);
            var picked = KnownInts(indices, "indices").Select(i =>
            {
                var j = i < 0 ? i + n : i;
                if (j < 0 || j >= n) throw Fail($"index {i} is out of range for {n} elements");
                return data.Known!.Data[j];
            }).ToArray();
            SetKnown(0, Tensor.Of(indices.Shape, picked), data.Type);
            _folded++;
            return;
        }
        SetOutput(Op("gather", new[] { Data(data), Data(indices, constant: true) }, A(("axis", OpAttribute.Of(axis)))));
    }

    void MapSlice()
    {
        var x = Need(0);
        long[] starts, ends;
        long[]? axes, steps = null;
        if (_opset >= 10)
        {
            starts = KnownInts(Need(1), "starts");
            ends = KnownInts(Need(2), "ends");
            axes = In(3) is { } a ? KnownInts(a, "axes") : null;
            steps = In(4) is { } s ? KnownInts(s, "steps") : null;
        }
        else
        {
            starts = Ints("starts") ?? throw Fail("Slice needs starts");
            ends = Ints("ends") ?? throw Fail("Slice needs ends");
            axes = Ints("axes");
        }
        var r = x.Shape.Rank;
        axes ??= Enumerable.Range(0, starts.Length).Select(d => (long)d).ToArray();
        if (Foldable(x) && r == 1)
        {
            var n = x.Shape.Dim(0);
            var step = steps?[0] ?? 1;
            if (step == 0) throw Fail("a Slice step of 0");
            long Norm(long v, long lo, long hi) => Math.Clamp(v < 0 ? v + n : v, lo, hi);
            var begin = step > 0 ? Norm(starts[0], 0, n) : Norm(starts[0], -1, n - 1);
            var stop = step > 0 ? Norm(ends[0], 0, n) : Norm(ends[0], -1, n - 1);
            var picked = new List<double>();
            for (var i = begin; step > 0 ? i < stop : i > stop; i += step) picked.Add(x.Known!.Data[i]);
            SetKnown(0, Tensor.Of(Shape.Of(picked.Count), picked.ToArray()), x.Type);
            _folded++;
            return;
        }
        var attributes = A(("starts", IntsAttr(starts)), ("stops", IntsAttr(ends)), ("axes", IntsAttr(axes.Select(a => (long)Axis(a, r)))));
        if (steps is not null) attributes["steps"] = IntsAttr(steps);
        SetOutput(Op("slice", new[] { Data(x) }, attributes));
    }

    void MapSoftmax(string op)
    {
        var x = DataIn(0);
        var r = x.Shape.Rank;
        var axis = Axis(Int("axis", _opset >= 13 ? -1 : 1), r);
        if (_opset >= 13 || axis == r - 1)
        {
            SetOutput(Op(op, new[] { x }, A(("axis", OpAttribute.Of(axis)))));
            return;
        }
        // Before opset 13 the input is taken as a matrix: dimensions before the axis × the rest.
        var outer = x.Shape.Dims.Take(axis).Aggregate(1, (a, d) => a * d);
        var flat = Helper("reshape", new[] { x }, A(("shape", OpAttribute.Of(outer, x.Shape.Count / outer))), "2d");
        var s = Helper(op, new[] { flat }, A(("axis", OpAttribute.Of(1))), op);
        SetOutput(Op("reshape", new[] { s }, A(("shape", OpAttribute.Of(x.Shape.Dims.ToArray())))));
    }

    void MapLayerNorm()
    {
        var x = DataIn(0);
        var r = x.Shape.Rank;
        var axis = Axis(Int("axis", -1), r);
        var eps = Float("epsilon", 1e-5f);
        OnlyFirstOutput("the mean and inverse standard deviation");
        var args = new List<NodeRef> { x };
        if (In(1) is { } scale)
        {
            if (scale.Shape.Rank != r - axis)
                throw Fail($"Scale of shape {scale.Shape} for normalising the last {r - axis} dimensions of {x.Shape}: the catalogue's layer_norm takes a weight of exactly those dimensions");
            args.Add(Data(scale));
            if (In(2) is { } bias) args.Add(Data(bias));
        }
        SetOutput(Op("layer_norm", args.ToArray(), A(("dims", OpAttribute.Of(r - axis)), ("eps", OpAttribute.Of(eps)))));
    }

    void MapBatchNorm()
    {
        if (_opset < 9 && Int("spatial", 1) == 0) throw Fail("BatchNormalization with spatial=0 is not mapped");
        var training = Int("training_mode", 0) != 0;
        var eps = Float("epsilon", 1e-5f);
        var momentum = Float("momentum", 0.9f);
        OnlyFirstOutput("the running statistics");
        var x = DataIn(0);
        var args = new[] { x, DataIn(1), DataIn(2), DataIn(3, constant: true), DataIn(4, constant: true) };
        var attributes = A(("training", OpAttribute.Of(training)), ("eps", OpAttribute.Of(eps)));
        // ONNX moves running statistics by m·running + (1 − m)·batch; torch's (and the catalogue's) momentum is 1 − m.
        if (training) attributes["momentum"] = OpAttribute.Of(1.0 - momentum);
        SetOutput(Op("batch_norm", args, attributes));
    }

    /// <summary>Per spatial axis the padding before and after, from pads or auto_pad.</summary>
    (long[] Begin, long[] End) Padding(Shape x, int[] kernel, long[] strides, long[] dilations)
    {
        var n = kernel.Length;
        var autoPad = Str("auto_pad", "NOTSET");
        var begin = new long[n];
        var end = new long[n];
        switch (autoPad)
        {
            case "NOTSET":
                var pads = Ints("pads") ?? new long[2 * n];
                if (pads.Length != 2 * n) throw Fail($"pads {Show(pads)} needs {2 * n} values");
                for (var k = 0; k < n; k++) (begin[k], end[k]) = (pads[k], pads[k + n]);
                break;
            case "VALID":
                break;
            case "SAME_UPPER":
            case "SAME_LOWER":
                for (var k = 0; k < n; k++)
                {
                    long size = x.Dim(2 + k);
                    var output = (size + strides[k] - 1) / strides[k];
                    var total = Math.Max(0, (output - 1) * strides[k] + (kernel[k] - 1) * dilations[k] + 1 - size);
                    var small = total / 2;
                    (begin[k], end[k]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
                }
                break;
            default:
                throw Fail($"auto_pad '{autoPad}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
        }
        if (begin.Concat(end).Any(p => p < 0)) throw Fail($"negative padding {Show(begin.Concat(end))}");
        return (begin, end);
    }

    void MapConv()
    {
        var x = DataIn(0);
        var w = DataIn(1);
        var spatial = x.Shape.Rank - 2;
        if (spatial is not (1 or 2)) throw Fail($"Conv of a rank-{x.Shape.Rank} input {x.Shape}: conv1d (N, C, L) and conv2d (N, C, H, W) are mapped");
        var kernel = w.Shape.Dims.Skip(2).ToArray();
        var strides = Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = Ints("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var (begin, end) = Padding(x.Shape, kernel, strides, dilations);
        if (!begin.SequenceEqual(end))
        {
            // Padding that differs before and after: a pad node (zeros) ahead of an unpadded convolution.
            var pads = new List<int> { 0, 0, 0, 0 };
            for (var k = 0; k < spatial; k++) pads.AddRange(new[] { (int)begin[k], (int)end[k] });
            x = Helper("pad", new[] { x }, A(("pads", OpAttribute.Of(pads.ToArray()))), "pad");
            begin = new long[spatial];
        }
        var args = In(2) is { } bias ? new[] { x, w, Data(bias) } : new[] { x, w };
        var attributes = A(("stride", IntsAttr(strides)), ("padding", IntsAttr(begin)), ("dilation", IntsAttr(dilations)),
            ("groups", OpAttribute.Of((int)Int("group", 1))));
        SetOutput(Op(spatial == 2 ? "conv2d" : "conv1d", args, attributes));
    }

    void MapPool(string op)
    {
        var x = DataIn(0);
        if (x.Shape.Rank != 4) throw Fail($"{_node.OpType} of a rank-{x.Shape.Rank} input {x.Shape}: 2-D pooling of (N, C, H, W) is mapped");
        var kernel = (Ints("kernel_shape") ?? throw Fail("kernel_shape is required")).Select(k => (int)k).ToArray();
        var strides = Ints("strides") ?? new long[] { 1, 1 };
        var dilations = Ints("dilations") ?? new long[] { 1, 1 };
        if (op == "avg_pool2d" && dilations.Any(d => d != 1)) throw Fail("AveragePool with dilations is not mapped");
        var (begin, end) = Padding(x.Shape, kernel, strides, dilations);
        if (!begin.SequenceEqual(end)) throw Fail($"pooling with padding {Show(begin)} before and {Show(end)} after is not mapped (the catalogue pads both sides alike)");
        if (Int("ceil_mode", 0) != 0)
            for (var k = 0; k < 2; k++)
            {
                var span = x.Shape.Dim(2 + k) + 2 * begin[k] - ((kernel[k] - 1) * dilations[k] + 1);
                if (span % strides[k] != 0) throw Fail("ceil_mode=1 changes the output size here and is not mapped");
            }
        OnlyFirstOutput("the indices of the maxima");
        var attributes = A(("kernel", OpAttribute.Of(kernel)), ("stride", IntsAttr(strides)), ("padding", IntsAttr(begin)));
        if (op == "max_pool2d") attributes["dilation"] = IntsAttr(dilations);
        else attributes["count_include_pad"] = OpAttribute.Of(Int("count_include_pad", 0) != 0);
        SetOutput(Op(op, new[] { x }, attributes));
    }

    void MapReduction(string onnxOp, string op)
    {
        var x = DataIn(0);
        var keepdims = Int("keepdims", 1) != 0;
        var axes = AxesInputOrAttribute(1, onnxOp == "ReduceSum" ? 13 : 18);
        if (axes is { Length: 0 }) axes = null;
        if (axes is null && Int("noop_with_empty_axes", 0) != 0)
        {
            Alias(Need(0));
            return;
        }
        var attributes = A(("keepdims", OpAttribute.Of(keepdims)));
        if (axes is not null) attributes["axes"] = IntsAttr(axes.Select(a => (long)Axis(a, x.Shape.Rank)));
        SetOutput(Op(op, new[] { x }, attributes));
    }

    void MapClip()
    {
        var x = DataIn(0);
        double min = double.NegativeInfinity, max = double.PositiveInfinity;
        if (_opset >= 11)
        {
            if (In(1) is { } lo) min = KnownScalar(lo, "min");
            if (In(2) is { } hi) max = KnownScalar(hi, "max");
        }
        else
        {
            min = Float("min", double.NegativeInfinity);
            max = Float("max", double.PositiveInfinity);
        }
        if (double.IsInfinity(min) && double.IsInfinity(max))
        {
            Alias(Need(0));
            return;
        }
        var attributes = new Dictionary<string, OpAttribute>();
        if (!double.IsInfinity(min)) attributes["min"] = OpAttribute.Of(min);
        if (!double.IsInfinity(max)) attributes["max"] = OpAttribute.Of(max);
        SetOutput(Op("clamp", new[] { x }, attributes));
    }

    void MapVariadic(string op)
    {
        var parts = Enumerable.Range(0, _node.Input.Count).Select(In).Where(v => v is not null).Select(v => Data(v!)).ToArray();
        if (parts.Length == 0) throw Fail($"{_node.OpType} needs an input");
        var y = parts[0];
        for (var k = 1; k < parts.Length; k++)
            y = Op(op, new[] { y, parts[k] }, null, k == parts.Length - 1 ? null : $"{Out}/{k}");
        if (parts.Length == 1) Alias(Need(0));
        else SetOutput(y);
    }

    void MapPad()
    {
        var x = DataIn(0);
        var mode = Str("mode", "constant");
        if (mode != "constant") throw Fail($"Pad mode '{mode}' is not mapped (constant is)");
        long[] pads;
        double value;
        if (_opset >= 11)
        {
            pads = KnownInts(Need(1), "pads");
            value = In(2) is { } v ? KnownScalar(v, "constant_value") : 0.0;
            if (In(3) is not null) throw Fail("Pad with axes is not mapped");
        }
        else
        {
            pads = Ints(_opset >= 2 ? "pads" : "paddings") ?? throw Fail("Pad needs pads");
            value = Float("value", 0.0);
        }
        var r = x.Shape.Rank;
        if (pads.Length != 2 * r) throw Fail($"pads {Show(pads)} needs {2 * r} values for rank {r}");
        if (pads.Any(p => p < 0)) throw Fail($"negative pads {Show(pads)} (cropping) are not mapped");
        var ours = new List<int>();
        for (var k = 0; k < r; k++) ours.AddRange(new[] { (int)pads[k], (int)pads[k + r] });
        var attributes = A(("pads", OpAttribute.Of(ours.ToArray())));
        if (value != 0.0) attributes["value"] = OpAttribute.Of(value);
        SetOutput(Op("pad", new[] { x }, attributes));
    }

    void MapSplit()
    {
        var x = DataIn(0);
        var axis = Axis(Int("axis", 0), x.Shape.Rank);
        var n = x.Shape.Dim(axis);
        var pieces = _node.Output.Count;
        long[]? sizes = _opset >= 13 ? (In(1) is { } s ? KnownInts(s, "split") : null) : Ints("split");
        if (sizes is null)
        {
            // Equal pieces (opset 18: num_outputs of them, the last smaller when they do not divide).
            var count = _opset >= 18 && Attr("num_outputs") is { } k ? k.I : pieces;
            var size = (n + count - 1) / count;
            sizes = Enumerable.Range(0, (int)count).Select(i => Math.Min(size, n - i * size)).ToArray();
        }
        if (sizes.Length != pieces) throw Fail($"split sizes {Show(sizes)} give {sizes.Length} pieces for {pieces} outputs");
        var attributes = A(("axis", OpAttribute.Of(axis)), ("sizes", IntsAttr(sizes)));
        for (var k = 0; k < pieces; k++)
        {
            if (_node.Output[k].Length == 0) continue;
            var piece = new Dictionary<string, OpAttribute>(attributes) { ["index"] = OpAttribute.Of(k) };
            SetOutput(k, Op("split", new[] { x }, piece, _node.Output[k]), _b.ElementTypeOf(x));
        }
    }

    void MapExpand()
    {
        var x = DataIn(0);
        var shape = KnownInts(Need(1), "shape");
        // ONNX Expand broadcasts both ways: the result is the broadcast of the input's shape and `shape`.
        var r = Math.Max(x.Shape.Rank, shape.Length);
        var dims = new int[r];
        for (var k = 0; k < r; k++)
        {
            var a = k - (r - x.Shape.Rank) >= 0 ? x.Shape.Dim(k - (r - x.Shape.Rank)) : 1;
            var b = k - (r - shape.Length) >= 0 ? (int)shape[k - (r - shape.Length)] : 1;
            if (a != b && a != 1 && b != 1) throw Fail($"input {x.Shape} does not broadcast to {Show(shape)}");
            dims[k] = Math.Max(a, b);
        }
        SetOutput(Op("broadcast_to", new[] { x }, A(("shape", OpAttribute.Of(dims)))));
    }
}
