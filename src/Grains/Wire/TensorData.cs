// The tensor payload on the wire: shape and the column-major doubles as one raw block.
using System.Runtime.InteropServices;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace Adjoint.Grains;

/// <summary>
/// A tensor in a grain message: <c>rows × cols</c> doubles in the core's column-major order. Its codec
/// (<see cref="TensorDataCodec"/>) writes the doubles as one raw block, so a message costs
/// 8·rows·cols bytes plus a header of about a dozen. Immutable (tensors are never written once
/// produced), so calls within a silo pass it without a copy. <see cref="ToTensor"/> and
/// <see cref="From"/> wrap the same array, also without a copy.
/// </summary>
[Immutable, Alias("adjoint.tensor.v1")]
public sealed record TensorData(int Rows, int Cols, double[] Data)
{
    /// <summary>The core's tensor over the same storage.</summary>
    public Tensor ToTensor() => new(Rows, Cols, Data);

    /// <summary>The payload over the tensor's storage; the tensor must not be written afterwards.</summary>
    public static TensorData From(Tensor tensor) => new(tensor.Rows, tensor.Cols, tensor.Data);

    /// <summary>The payload of a 1×1 tensor.</summary>
    public static TensorData Scalar(double value) => new(1, 1, [value]);
}

/// <summary>
/// Version 1 of the tensor wire format: a length-prefixed field holding rows and cols (int32 each)
/// and then the doubles' bytes. Orleans' own codec for double[] spends a byte more per element.
/// </summary>
[RegisterSerializer]
public sealed class TensorDataCodec : IFieldCodec<TensorData>
{
    /// <inheritdoc/>
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, TensorData? value)
        where TBufferWriter : System.Buffers.IBufferWriter<byte>
    {
        if (ReferenceCodec.TryWriteReferenceField(ref writer, fieldIdDelta, expectedType, value)) return;
        writer.WriteFieldHeader(fieldIdDelta, expectedType, typeof(TensorData), WireType.LengthPrefixed);
        var bytes = MemoryMarshal.AsBytes(value!.Data.AsSpan());
        writer.WriteVarUInt32((uint)(8 + bytes.Length));
        writer.WriteInt32(value.Rows);
        writer.WriteInt32(value.Cols);
        writer.Write(bytes);
    }

    /// <inheritdoc/>
    public TensorData? ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        if (field.WireType == WireType.Reference) return ReferenceCodec.ReadReference<TensorData, TInput>(ref reader, field);
        field.EnsureWireType(WireType.LengthPrefixed);
        var length = reader.ReadVarUInt32();
        var rows = reader.ReadInt32();
        var cols = reader.ReadInt32();
        if (rows < 0 || cols < 0 || 8 + 8L * rows * cols != length)
            throw new InvalidDataException($"a tensor field of {length} bytes cannot hold {rows}x{cols} doubles");
        var data = GC.AllocateUninitializedArray<double>(rows * cols);
        reader.ReadBytes(MemoryMarshal.AsBytes(data.AsSpan()));
        var result = new TensorData(rows, cols, data);
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
