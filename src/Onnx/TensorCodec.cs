// ONNX TensorProto to and from Adjoint tensors: float32 read exactly into doubles, float64, int64 (and
// int32, int8, uint8, bool as whole numbers), inline or in an external data file.
using Google.Protobuf;
using P = global::Onnx;

namespace Adjoint.Onnx;

/// <summary>A tensor read from ONNX with the element type it had there.</summary>
/// <param name="Value">The values as doubles.</param>
/// <param name="ElementType">Our element type for them.</param>
/// <param name="OnnxType">The ONNX element type they had.</param>
/// <param name="ExternalBytes">The bytes read from an external data file (0 for inline data).</param>
internal sealed record OnnxTensor(Tensor Value, ElementType ElementType, P.TensorProto.Types.DataType OnnxType, long ExternalBytes);

internal static class TensorCodec
{
    public static string TypeName(int dataType) =>
        Enum.IsDefined(typeof(P.TensorProto.Types.DataType), dataType)
            ? ((P.TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type {dataType}";

    /// <summary>Our element type for an ONNX one, or null when we hold no such values.</summary>
    public static ElementType? ElementTypeOf(int dataType) => (P.TensorProto.Types.DataType)dataType switch
    {
        P.TensorProto.Types.DataType.Float or P.TensorProto.Types.DataType.Double => ElementType.Float64,
        P.TensorProto.Types.DataType.Int64 or P.TensorProto.Types.DataType.Int32 or P.TensorProto.Types.DataType.Int16
            or P.TensorProto.Types.DataType.Int8 or P.TensorProto.Types.DataType.Uint8 => ElementType.Int64,
        P.TensorProto.Types.DataType.Bool => ElementType.Bool,
        _ => null,
    };

    /// <summary>The tensor's values as doubles (exactly: float32 and int64 within ±2^53 are doubles);
    /// <paramref name="baseDirectory"/> is where external data files are looked for.</summary>
    public static OnnxTensor Read(P.TensorProto t, string? baseDirectory, string where)
    {
        var type = ElementTypeOf(t.DataType)
            ?? throw new OnnxException($"{where}: tensor '{t.Name}' holds {TypeName(t.DataType)}; float, double, int64, int32, int8, uint8 and bool are read");
        var dims = t.Dims.Select(d => d is < 0 or > int.MaxValue
            ? throw new OnnxException($"{where}: tensor '{t.Name}' has dimension {d}")
            : (int)d).ToArray();
        var shape = Shape.Of(dims);
        var count = dims.Aggregate(1L, (a, d) => a * d);
        if (count > int.MaxValue) throw new OnnxException($"{where}: tensor '{t.Name}' of shape {shape} is too large");
        var n = (int)count;
        var external = t.DataLocation == P.TensorProto.Types.DataLocation.External;
        var raw = external ? ReadExternal(t, baseDirectory, where) : t.RawData.Memory;
        var data = new double[n];
        var dt = (P.TensorProto.Types.DataType)t.DataType;
        if (raw is { Length: > 0 } || external)
        {
            var size = ElementSize(dt);
            if (raw.Length != (long)n * size)
                throw new OnnxException($"{where}: tensor '{t.Name}' of shape {shape} ({TypeName(t.DataType)}) needs {(long)n * size} bytes of data, has {raw.Length}");
            var span = raw.Span;
            for (var i = 0; i < n; i++)
            {
                var s = span.Slice(i * size, size);
                data[i] = dt switch
                {
                    P.TensorProto.Types.DataType.Float => BitConverter.ToSingle(s),
                    P.TensorProto.Types.DataType.Double => BitConverter.ToDouble(s),
                    P.TensorProto.Types.DataType.Int64 => Int64AsDouble(BitConverter.ToInt64(s)),
                    P.TensorProto.Types.DataType.Int32 => BitConverter.ToInt32(s),
                    P.TensorProto.Types.DataType.Int16 => BitConverter.ToInt16(s),
                    P.TensorProto.Types.DataType.Int8 => (sbyte)s[0],
                    _ => s[0] != 0 && dt == P.TensorProto.Types.DataType.Bool ? 1.0 : s[0],
                };
            }
        }
        else
        {
            IReadOnlyList<double> values = dt switch
            {
                P.TensorProto.Types.DataType.Float => t.FloatData.Select(f => (double)f).ToArray(),
                P.TensorProto.Types.DataType.Double => t.DoubleData.ToArray(),
                P.TensorProto.Types.DataType.Int64 => t.Int64Data.Select(Int64AsDouble).ToArray(),
                P.TensorProto.Types.DataType.Bool => t.Int32Data.Select(v => v != 0 ? 1.0 : 0.0).ToArray(),
                _ => t.Int32Data.Select(v => (double)v).ToArray(),
            };
            if (values.Count != n)
                throw new OnnxException($"{where}: tensor '{t.Name}' of shape {shape} needs {n} values, has {values.Count}");
            for (var i = 0; i < n; i++) data[i] = values[i];
        }
        return new OnnxTensor(Tensor.Of(shape, data), type, dt, external ? raw.Length : 0);
    }

    /// <summary>An int64 as a double, clamped to ±2^53 (where doubles stop holding every whole number): the
    /// only larger values exporters write are Slice's "to the end" bounds (INT64_MAX), clamped anyway.</summary>
    static double Int64AsDouble(long v) =>
        v > (1L << 53) ? (double)(1L << 53) : v < -(1L << 53) ? -(double)(1L << 53) : v;

    static int ElementSize(P.TensorProto.Types.DataType dt) => dt switch
    {
        P.TensorProto.Types.DataType.Double or P.TensorProto.Types.DataType.Int64 => 8,
        P.TensorProto.Types.DataType.Float or P.TensorProto.Types.DataType.Int32 => 4,
        P.TensorProto.Types.DataType.Int16 => 2,
        _ => 1,
    };

    static ReadOnlyMemory<byte> ReadExternal(P.TensorProto t, string? baseDirectory, string where)
    {
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value);
        if (!entries.TryGetValue("location", out var location) || string.IsNullOrEmpty(location))
            throw new OnnxException($"{where}: tensor '{t.Name}' has external data without a location");
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new OnnxException($"{where}: tensor '{t.Name}': external data location '{location}' must be a path inside the model's directory");
        var file = Path.Combine(baseDirectory ?? ".", location);
        long offset = entries.TryGetValue("offset", out var o) ? ParseLong(o, "offset") : 0;
        long length = entries.TryGetValue("length", out var l) ? ParseLong(l, "length") : -1;
        try
        {
            using var stream = File.OpenRead(file);
            if (length < 0) length = stream.Length - offset;
            if (offset < 0 || offset + length > stream.Length)
                throw new OnnxException($"{location}: tensor '{t.Name}' asks for bytes {offset}..{offset + length} of a file of {stream.Length}");
            var bytes = new byte[length];
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (IOException ex)
        {
            throw new OnnxException($"{location}: cannot read the external data of tensor '{t.Name}': {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new OnnxException($"{location}: cannot read the external data of tensor '{t.Name}': {ex.Message}", ex);
        }

        long ParseLong(string s, string key) => long.TryParse(s, out var v)
            ? v
            : throw new OnnxException($"{where}: tensor '{t.Name}' external data {key} '{s}' is not a whole number");
    }

    /// <summary>A TensorProto of the given ONNX type holding the tensor's values (raw, little-endian).</summary>
    public static P.TensorProto Write(string name, Tensor value, P.TensorProto.Types.DataType dt)
    {
        var t = new P.TensorProto { Name = name, DataType = (int)dt };
        t.Dims.AddRange(value.Shape.Dims.Select(d => (long)d));
        var size = ElementSize(dt);
        var bytes = new byte[value.Count * size];
        for (var i = 0; i < value.Count; i++)
        {
            var s = bytes.AsSpan(i * size, size);
            var v = value.Data[i];
            switch (dt)
            {
                case P.TensorProto.Types.DataType.Float: BitConverter.TryWriteBytes(s, (float)v); break;
                case P.TensorProto.Types.DataType.Double: BitConverter.TryWriteBytes(s, v); break;
                case P.TensorProto.Types.DataType.Int64: BitConverter.TryWriteBytes(s, (long)v); break;
                case P.TensorProto.Types.DataType.Bool: s[0] = v != 0.0 ? (byte)1 : (byte)0; break;
                default: throw new ArgumentException($"cannot write ONNX {dt}");
            }
        }
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }
}
