// One import: walks an ONNX graph's nodes in order and maps each to catalogue ops on a GraphBuilder.
using System.Collections.ObjectModel;
using P = global::Onnx;

namespace Adjoint.Onnx;

/// <summary>An ONNX value while importing: a node of the graph, a constant known at import (not yet a
/// node, so that shape bookkeeping on it can be folded), or an output we do not produce.</summary>
internal sealed class Value(string name, ElementType type)
{
    public string Name { get; } = name;
    public ElementType Type { get; } = type;
    public NodeRef Node { get; set; }
    public bool HasNode => Node.Id is not null;
    /// <summary>The value when known at import (initializers, Constant nodes, folded shape arithmetic).</summary>
    public Tensor? Known { get; init; }
    /// <summary>A float initializer: a parameter when it becomes a node.</summary>
    public bool Trainable { get; init; }
    /// <summary>Why the value cannot be used (an optional output the importer does not compute).</summary>
    public string? Unavailable { get; init; }
    public Shape Shape => HasNode ? Node.Shape : Known!.Shape;
}

internal sealed partial class Mapper(P.ModelProto model, string file, string? baseDirectory, ImportOptions options)
{
    readonly GraphBuilder _b = new();
    readonly Dictionary<string, Value> _values = new();
    readonly Dictionary<string, int> _opCounts = new();
    readonly List<string> _parameters = new();
    readonly List<string> _inputs = new();
    long _parameterElements;
    int _folded;
    int _opset;
    bool _sawDouble;

    // The node being mapped, for errors.
    P.NodeProto _node = new();

    public long ExternalBytes { get; private set; }

    public ImportResult Run()
    {
        _opset = OnnxImporter.OpsetOf(model, file);
        var g = model.Graph;
        foreach (var init in g.Initializer)
        {
            if (string.IsNullOrEmpty(init.Name)) throw new OnnxException($"{file}: an initializer has no name");
            var t = TensorCodec.Read(init, baseDirectory, file);
            ExternalBytes += t.ExternalBytes;
            _sawDouble |= t.OnnxType == P.TensorProto.Types.DataType.Double;
            _values[init.Name] = new Value(init.Name, t.ElementType)
            {
                Known = t.Value,
                Trainable = t.ElementType == ElementType.Float64 && !options.Constants,
            };
        }
        var initializers = g.Initializer.Select(i => i.Name).ToHashSet();
        foreach (var input in g.Input)
        {
            // IR < 4 lists initializers as inputs too.
            if (initializers.Contains(input.Name)) continue;
            var (shape, type, onnxType) = InputType(input);
            _sawDouble |= onnxType == (int)P.TensorProto.Types.DataType.Double;
            var node = type == ElementType.Float64 ? _b.Input(input.Name, shape) : _b.TypedInput(input.Name, shape, type);
            _values[input.Name] = new Value(input.Name, type) { Node = node };
            _inputs.Add(input.Name);
        }
        foreach (var n in g.Node)
        {
            _node = n;
            _opCounts[n.OpType] = _opCounts.GetValueOrDefault(n.OpType) + 1;
            if (n.Domain is not ("" or "ai.onnx"))
                throw Fail($"domain '{n.Domain}' is not the default ONNX domain; only its ops are mapped (nearest catalogue op: '{OnnxImporter.NearestCatalogueOp(n.OpType)}')");
            try
            {
                MapNode(n);
            }
            catch (Exception ex) when (ex is GraphException or ArgumentException or InvalidOperationException
                                           or IndexOutOfRangeException or OverflowException or KeyNotFoundException)
            {
                // A malformed node (an attribute of the wrong length, a dimension out of range) the mapping
                // did not foresee: still one line naming the node.
                throw Fail(ex.Message);
            }
        }
        _node = new P.NodeProto();
        if (g.Output.Count == 0) throw new OnnxException($"{file}: the graph has no outputs");
        var outName = options.Output ?? g.Output[0].Name;
        if (!g.Output.Any(o => o.Name == outName))
            throw new OnnxException($"{file}: the graph has no output '{outName}' (outputs: {string.Join(", ", g.Output.Select(o => o.Name))})");
        var output = Data(Get(outName, "the graph output"));
        var modelOutput = output.Id;
        var result = output;
        if (options.Loss is { } loss) result = AppendLoss(loss, output);
        var graph = _b.Build(result);
        return new ImportResult(graph, _opset, new ReadOnlyDictionary<string, int>(_opCounts), _folded, _parameters,
            _parameterElements, _inputs, modelOutput, _sawDouble ? "double" : "float", 0, 0);
    }

    NodeRef AppendLoss(string loss, NodeRef output)
    {
        var target = options.Target ?? "target";
        try
        {
            switch (loss)
            {
                case "cross_entropy":
                {
                    if (output.Shape.Rank < 1) throw new OnnxException($"{file}: --loss cross_entropy needs logits of rank 1 or more; the output '{output.Id}' is a scalar");
                    var dims = output.Shape.Dims.ToList();
                    if (dims.Count >= 2) dims.RemoveAt(1); else dims.Clear();
                    var t = _b.TypedInput(target, Shape.Of(dims.ToArray()), ElementType.Int64);
                    _inputs.Add(target);
                    return _b.CrossEntropy(output, t, id: "loss");
                }
                case "mse":
                {
                    var t = _b.Input(target, output.Shape);
                    _inputs.Add(target);
                    return _b.Mse(output, t, id: "loss");
                }
                default:
                    throw new OnnxException($"{file}: unknown loss '{loss}' (cross_entropy or mse)");
            }
        }
        catch (GraphException ex)
        {
            throw new OnnxException($"{file}: appending the {loss} loss on output '{output.Id}' {output.Shape}: {ex.Message}", ex);
        }
    }

    (Shape, ElementType, int) InputType(P.ValueInfoProto input)
    {
        var where = $"{file}: graph input '{input.Name}'";
        if (input.Type?.TensorType is not { } tt) throw new OnnxException($"{where} is not a tensor");
        var type = TensorCodec.ElementTypeOf(tt.ElemType)
            ?? throw new OnnxException($"{where} holds {TensorCodec.TypeName(tt.ElemType)}; float, double, int64 and bool inputs are read");
        if (tt.Shape is null) throw new OnnxException($"{where} has no shape");
        var dims = new int[tt.Shape.Dim.Count];
        for (var k = 0; k < dims.Length; k++)
        {
            var d = tt.Shape.Dim[k];
            if (d.ValueCase == P.TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue is > 0 and <= int.MaxValue)
                dims[k] = (int)d.DimValue;
            else if (d.ValueCase == P.TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam && options.Dimensions?.TryGetValue(d.DimParam, out var size) == true)
                dims[k] = size;
            else
            {
                var what = d.ValueCase == P.TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? $"is symbolic ('{d.DimParam}')" : "has no size";
                var hint = d.ValueCase == P.TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? $"; give it one (--dim {d.DimParam}=N)" : "";
                throw new OnnxException($"{where}: dimension {k} {what}{hint}");
            }
        }
        return (Shape.Of(dims), type, tt.ElemType);
    }

    // ---- values ----

    OnnxException Fail(string detail) =>
        new($"{file}: node '{NodeName}' ({_node.OpType}, opset {_opset}): {detail}");

    string NodeName => string.IsNullOrEmpty(_node.Name) ? (_node.Output.Count > 0 ? _node.Output[0] : "?") : _node.Name;

    Value Get(string name, string role)
    {
        if (!_values.TryGetValue(name, out var v))
        {
            var detail = $"{role} '{name}' is neither a graph input, an initializer nor an earlier node's output";
            throw _node.OpType.Length > 0 ? Fail(detail) : new OnnxException($"{file}: {detail}");
        }
        if (v.Unavailable is not null) throw Fail($"input '{name}' is {v.Unavailable}");
        return v;
    }

    /// <summary>Input k, or null when it is left out (absent or named "").</summary>
    Value? In(int k) => k < _node.Input.Count && _node.Input[k].Length > 0 ? Get(_node.Input[k], $"input {k}") : null;

    Value Need(int k) => In(k) ?? throw Fail($"input {k} is missing");

    /// <summary>The value as a graph node: a known value becomes a parameter (trainable float initializer)
    /// or a constant the first time it is asked for.</summary>
    NodeRef Data(Value v, bool constant = false)
    {
        if (v.HasNode) return v.Node;
        try
        {
            if (v.Trainable && !constant)
            {
                v.Node = _b.Parameter(v.Name, v.Known!);
                _parameters.Add(v.Name);
                _parameterElements += v.Known!.Count;
            }
            else
                v.Node = _b.Constant(v.Name, v.Known!, v.Type);
        }
        catch (GraphException ex)
        {
            throw Fail(ex.Message);
        }
        return v.Node;
    }

    NodeRef DataIn(int k, bool constant = false) => Data(Need(k), constant);

    /// <summary>A value known at import that may be folded into (not a parameter).</summary>
    static bool Foldable(Value? v) => v is null || (v.Known is not null && !v.HasNode && !v.Trainable);

    long[] KnownInts(Value v, string role)
    {
        if (v.Known is null)
            throw Fail($"{role} '{v.Name}' must be known at import (a constant, an initializer or shape arithmetic on them); it is computed from the graph's inputs");
        return v.Known.Data.Select(d => (long)d).ToArray();
    }

    double KnownScalar(Value v, string role)
    {
        if (v.Known is null) throw Fail($"{role} '{v.Name}' must be a constant");
        if (v.Known.Count != 1) throw Fail($"{role} '{v.Name}' must hold one value, has shape {v.Known.Shape}");
        return v.Known.Data[0];
    }

    void SetOutput(int k, NodeRef node, ElementType type)
    {
        var name = _node.Output[k];
        _values[name] = new Value(name, type) { Node = node };
    }

    void SetOutput(NodeRef node) => SetOutput(0, node, _b.ElementTypeOf(node));

    void SetKnown(int k, Tensor value, ElementType type)
    {
        var name = _node.Output[k];
        _values[name] = new Value(name, type) { Known = value };
    }

    void Alias(Value v)
    {
        var name = _node.Output[0];
        _values[name] = v;
    }

    /// <summary>Outputs after the first that the importer does not compute: an error if a node uses one.</summary>
    void OnlyFirstOutput(string why)
    {
        for (var k = 1; k < _node.Output.Count; k++)
            if (_node.Output[k].Length > 0)
                _values[_node.Output[k]] = new Value(_node.Output[k], ElementType.Float64) { Unavailable = $"output {k} of {_node.OpType} node '{NodeName}', which the importer does not compute ({why})" };
    }

    string Out => _node.Output[0];

    /// <summary>A catalogue op; the last one a node makes takes its output's name, helpers take "name/what".</summary>
    NodeRef Op(string op, NodeRef[] args, Dictionary<string, OpAttribute>? attributes = null, string? id = null)
    {
        try
        {
            return _b.Apply(op, args, attributes, id ?? Out);
        }
        catch (GraphException ex)
        {
            throw Fail($"catalogue op '{op}': {ex.Message}");
        }
    }

    NodeRef Helper(string op, NodeRef[] args, Dictionary<string, OpAttribute>? attributes, string what) =>
        Op(op, args, attributes, $"{Out}/{what}");

    static Dictionary<string, OpAttribute> A(params (string, OpAttribute)[] kv) => kv.ToDictionary(p => p.Item1, p => p.Item2);

    // ---- attributes ----

    P.AttributeProto? Attr(string name) => _node.Attribute.FirstOrDefault(a => a.Name == name);

    long Int(string name, long fallback) => Attr(name) is { } a ? a.I : fallback;

    /// <summary>A float attribute read exactly into a double.</summary>
    double Float(string name, double fallback) => Attr(name) is { } a ? a.F : fallback;

    long[]? Ints(string name) => Attr(name) is { } a ? a.Ints.ToArray() : null;

    string Str(string name, string fallback) => Attr(name) is { } a ? a.S.ToStringUtf8() : fallback;

    int Axis(long axis, int rank, string role = "axis")
    {
        if (axis < -rank || axis >= Math.Max(rank, 1)) throw Fail($"{role} {axis} is out of range for rank {rank}");
        return (int)(axis < 0 ? axis + rank : axis);
    }

    static int Clamp32(long v) => (int)Math.Clamp(v, -int.MaxValue, int.MaxValue);

    static OpAttribute IntsAttr(IEnumerable<long> xs) => OpAttribute.Of(xs.Select(Clamp32).ToArray());
}
