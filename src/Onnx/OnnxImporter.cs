// ONNX ModelProto to an Adjoint graph: each ONNX node mapped to catalogue ops through GraphBuilder,
// initializers to parameters (or constants), graph inputs to inputs, shape bookkeeping folded at import.
using System.Diagnostics;
using Google.Protobuf;
using P = global::Onnx;

namespace Adjoint.Onnx;

/// <summary>How <see cref="OnnxImporter"/> maps a model.</summary>
public sealed record ImportOptions
{
    /// <summary>Initializers become constants instead of trainable parameters.</summary>
    public bool Constants { get; init; }

    /// <summary>A loss appended on the model's output: "cross_entropy" (int64 labels) or "mse"; null for none.</summary>
    public string? Loss { get; init; }

    /// <summary>The id of the loss's target input (default "target").</summary>
    public string? Target { get; init; }

    /// <summary>The ONNX graph output taken as the model's output (default: the first).</summary>
    public string? Output { get; init; }

    /// <summary>Sizes of symbolic input dimensions by their ONNX name ("batch" → 4).</summary>
    public IReadOnlyDictionary<string, int>? Dimensions { get; init; }
}

/// <summary>An imported model: the graph and what was mapped.</summary>
/// <param name="Graph">The Adjoint graph; its output is the loss when one was appended, else the model's output.</param>
/// <param name="Opset">The model's default-domain opset.</param>
/// <param name="OnnxOps">ONNX nodes by op type.</param>
/// <param name="Folded">ONNX nodes computed at import (shape bookkeeping on constants) and left out of the graph.</param>
/// <param name="Parameters">Parameter node ids, in declaration order.</param>
/// <param name="ParameterElements">The number of elements the parameters hold.</param>
/// <param name="Inputs">Input node ids (the loss's target last).</param>
/// <param name="ModelOutput">The node holding the model's output (before any loss).</param>
/// <param name="FloatType">"float" or "double": the floating type of the model's tensors.</param>
/// <param name="Bytes">The size of the model file (and its external data files) read.</param>
/// <param name="Seconds">Time taken to read and map the model.</param>
public sealed record ImportResult(Graph Graph, int Opset, IReadOnlyDictionary<string, int> OnnxOps, int Folded,
    IReadOnlyList<string> Parameters, long ParameterElements, IReadOnlyList<string> Inputs, string ModelOutput,
    string FloatType, long Bytes, double Seconds);

/// <summary>Reads ONNX models into Adjoint graphs.</summary>
public static class OnnxImporter
{
    /// <summary>The oldest default-domain opset the importer reads.</summary>
    public const int MinOpset = 7;

    /// <summary>The newest default-domain opset the importer reads.</summary>
    public const int MaxOpset = 19;

    /// <summary>Reads and maps the model file (external data files are looked for beside it).</summary>
    public static ImportResult Import(string path, ImportOptions? options = null)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OnnxException($"{path}: cannot read the file: {ex.Message}", ex);
        }
        return Import(bytes, Path.GetFileName(path), Path.GetDirectoryName(Path.GetFullPath(path)), options);
    }

    /// <summary>Maps a serialized ModelProto; <paramref name="name"/> names it in errors.</summary>
    public static ImportResult Import(byte[] bytes, string name, string? baseDirectory, ImportOptions? options = null)
    {
        var clock = Stopwatch.StartNew();
        P.ModelProto model;
        try
        {
            model = P.ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new OnnxException($"{name}: not an ONNX model (the protobuf does not parse: {ex.Message})", ex);
        }
        if (model.Graph is null || model.Graph.Node.Count == 0 && model.Graph.Output.Count == 0)
            throw new OnnxException($"{name}: not an ONNX model (no graph, or a graph with no nodes and no outputs)");
        var mapper = new Mapper(model, name, baseDirectory, options ?? new ImportOptions());
        ImportResult result;
        try
        {
            result = mapper.Run();
        }
        catch (GraphException ex)
        {
            // Outside any node: graph inputs (two of one name, a dimension over the limits).
            throw new OnnxException($"{name}: {ex.Message}", ex);
        }
        return result with { Bytes = bytes.Length + mapper.ExternalBytes, Seconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>The default-domain opset of a model, checked to be one the importer reads.</summary>
    internal static int OpsetOf(P.ModelProto model, string name)
    {
        var entry = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (entry is null) throw new OnnxException($"{name}: the model imports no opset of the default ONNX domain");
        var v = (int)entry.Version;
        if (v > MaxOpset)
            throw new OnnxException($"{name}: opset {v} is newer than the importer reads ({MinOpset}-{MaxOpset}); re-export the model with opset_version={MaxOpset} or lower");
        if (v < MinOpset)
            throw new OnnxException($"{name}: opset {v} is older than the importer reads ({MinOpset}-{MaxOpset}); convert it with onnx.version_converter");
        return v;
    }

    /// <summary>The catalogue op nearest an ONNX op type: a known counterpart, else the closest name.</summary>
    internal static string NearestCatalogueOp(string opType)
    {
        var hints = new Dictionary<string, string>
        {
            ["ConvTranspose"] = "conv2d", ["Erf"] = "gelu", ["Gelu"] = "gelu", ["HardSigmoid"] = "sigmoid",
            ["HardSwish"] = "relu", ["Mish"] = "softplus", ["InstanceNormalization"] = "batch_norm",
            ["GroupNormalization"] = "layer_norm", ["LpNormalization"] = "sqnorm", ["ReduceL2"] = "sqnorm",
            ["ReduceSumSquare"] = "sqnorm", ["ArgMin"] = "argmax", ["Selu"] = "elu", ["Celu"] = "elu",
            ["PRelu"] = "leaky_relu", ["Hardmax"] = "argmax", ["Tile"] = "broadcast_to", ["Split"] = "split",
        };
        if (hints.TryGetValue(opType, out var h)) return h;
        var snake = string.Concat(opType.Select((c, i) => char.IsUpper(c) && i > 0 && !char.IsUpper(opType[i - 1]) ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
        return Catalogue.names.MinBy(n => EditDistance(snake, n))!;
    }

    static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
