// The tensor payload on the wire: shape and the column-major doubles, nothing per element.
namespace Adjoint.Grains;

/// <summary>
/// A tensor in a grain message: <c>rows × cols</c> doubles in the core's column-major order. Orleans
/// writes the <c>double[]</c> as one packed block, so a message costs ≈ 8·rows·cols bytes plus a small
/// header. Immutable (tensors are never written once produced), so calls within a silo pass it without
/// a copy. <see cref="ToTensor"/> and <see cref="From"/> wrap the same array, also without a copy.
/// </summary>
[GenerateSerializer, Immutable, Alias("adjoint.tensor.v1")]
public sealed record TensorData(
    [property: Id(0)] int Rows,
    [property: Id(1)] int Cols,
    [property: Id(2)] double[] Data)
{
    /// <summary>The core's tensor over the same storage.</summary>
    public Tensor ToTensor() => new(Rows, Cols, Data);

    /// <summary>The payload over the tensor's storage; the tensor must not be written afterwards.</summary>
    public static TensorData From(Tensor tensor) => new(tensor.Rows, tensor.Cols, tensor.Data);

    /// <summary>The payload of a 1×1 tensor.</summary>
    public static TensorData Scalar(double value) => new(1, 1, [value]);
}
