// The tensor payload on the wire: shape and the row-major doubles as one raw block.
using System.Runtime.InteropServices;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace Adjoint.Grains;

/// <summary>
/// A tensor in a grain message: its dimensions and its doubles in the core's row-major order. Its codec
/// (<see cref="TensorDataCodec"/>) writes the doubles as one raw block, so a message costs 8 bytes per
/// element plus a header of 4 bytes per dimension and about a dozen more. Immutable (tensors are never
/// written once produced), so calls within a silo pass it without a copy. <see cref="ToTensor"/> and
/// <see cref="From"/> wrap the same array, also without a copy.
/// </summary>
[Immutable, Alias("adjoint.tensor.v1")]
public sealed record TensorData(int[] Dims, double[] Data)
{
    /// <summary>
    /// The shape the dimensions make. A method, not a property: grain storage serializes a record's
    /// properties as JSON (Redis), and the state must hold only the dimensions and the data.
    /// </summary>
    public Shape ShapeOf() => Shape.Of(Dims);

    /// <summary>The core's tensor over the same storage.</summary>
    public Tensor ToTensor() => new(ShapeOf(), Data);

    /// <summary>The payload over the tensor's storage; the tensor must not be written afterwards.</summary>
    public static TensorData From(Tensor tensor) => new([.. tensor.Shape.Dims], tensor.Data);

    /// <summary>The payload of a rank-0 tensor.</summary>
    public static TensorData Scalar(double value) => new([], [value]);
}

/// <summary>
/// The tensor wire format: a length-prefixed field holding −(rank + 1) as an int32, the dimensions (int32
/// each) and then the doubles' bytes, row-major. Orleans' own codec for double[] spends a byte more per
/// element. A field that starts with a non-negative int32 is version 1's — rows, cols, column-major
/// doubles — as parameter state stored before N-d tensors holds it: read, and transposed to row-major.
/// </summary>
[RegisterSerializer]
public sealed class TensorDataCodec : IFieldCodec<TensorData>
{
    /// <summary>More dimensions than any graph file or op makes; a field claiming more is malformed.</summary>
    private const int MaxRank = 64;

    /// <inheritdoc/>
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, TensorData? value)
        where TBufferWriter : System.Buffers.IBufferWriter<byte>
    {
        if (ReferenceCodec.TryWriteReferenceField(ref writer, fieldIdDelta, expectedType, value)) return;
        writer.WriteFieldHeader(fieldIdDelta, expectedType, typeof(TensorData), WireType.LengthPrefixed);
        var bytes = MemoryMarshal.AsBytes(value!.Data.AsSpan());
        writer.WriteVarUInt32((uint)(4 + 4 * value.Dims.Length + bytes.Length));
        writer.WriteInt32(-(value.Dims.Length + 1));
        foreach (var d in value.Dims) writer.WriteInt32(d);
        writer.Write(bytes);
    }

    /// <inheritdoc/>
    public TensorData? ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        if (field.WireType == WireType.Reference) return ReferenceCodec.ReadReference<TensorData, TInput>(ref reader, field);
        field.EnsureWireType(WireType.LengthPrefixed);
        var length = reader.ReadVarUInt32();
        var first = reader.ReadInt32();
        TensorData result;
        if (first >= 0)
        {
            var rows = first;
            var cols = reader.ReadInt32();
            if (cols < 0 || 8 + 8L * rows * cols != length)
                throw new InvalidDataException($"a tensor field of {length} bytes cannot hold {rows}x{cols} doubles");
            var columnMajor = GC.AllocateUninitializedArray<double>(rows * cols);
            reader.ReadBytes(MemoryMarshal.AsBytes(columnMajor.AsSpan()));
            var data = GC.AllocateUninitializedArray<double>(rows * cols);
            for (var c = 0; c < cols; c++)
                for (var r = 0; r < rows; r++)
                    data[r * cols + c] = columnMajor[c * rows + r];
            result = new TensorData([rows, cols], data);
        }
        else
        {
            var rank = -first - 1;
            if (rank > MaxRank) throw new InvalidDataException($"a tensor field claims {rank} dimensions");
            var dims = new int[rank];
            var count = 1L;
            for (var d = 0; d < rank; d++)
            {
                dims[d] = reader.ReadInt32();
                if (dims[d] < 0) throw new InvalidDataException($"a tensor field has a negative dimension {dims[d]}");
                count *= dims[d];
            }
            if (count > int.MaxValue || 4 + 4L * rank + 8 * count != length)
                throw new InvalidDataException($"a tensor field of {length} bytes cannot hold a {string.Join("x", dims)} tensor");
            var data = GC.AllocateUninitializedArray<double>((int)count);
            reader.ReadBytes(MemoryMarshal.AsBytes(data.AsSpan()));
            result = new TensorData(dims, data);
        }
        ReferenceCodec.RecordObject(reader.Session, result);
        return result;
    }
}

/// <summary>Tensors are immutable: a copy within a silo is the same object.</summary>
[RegisterCopier]
public sealed class TensorDataCopier : IDeepCopier<TensorData>, IOptionalDeepCopier
{
    /// <inheritdoc/>
    public TensorData? DeepCopy(TensorData? input, CopyContext context) => input;

    /// <inheritdoc/>
    public bool IsShallowCopyable() => true;
}

/// <summary>The core's <see cref="Tensor"/> on the wire, for grain interfaces that take it directly.</summary>
[GenerateSerializer, Immutable, Alias("adjoint.tensor-surrogate.v1")]
public readonly struct TensorSurrogate
{
    /// <summary>The tensor as a payload.</summary>
    [Id(0)] public readonly TensorData Payload;

    /// <summary>A surrogate holding the payload.</summary>
    public TensorSurrogate(TensorData payload) => Payload = payload;
}

/// <summary>Converts the core's tensor to and from its surrogate over the same storage (no copy).</summary>
[RegisterConverter]
public sealed class TensorConverter : IConverter<Tensor, TensorSurrogate>
{
    /// <inheritdoc/>
    public Tensor ConvertFromSurrogate(in TensorSurrogate surrogate) => surrogate.Payload.ToTensor();

    /// <inheritdoc/>
    public TensorSurrogate ConvertToSurrogate(in Tensor value) => new(TensorData.From(value));
}
