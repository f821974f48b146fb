// What the ONNX importer and exporter raise: one line naming the file, and the node, op and opset at fault.
namespace Adjoint.Onnx;

/// <summary>An ONNX model that cannot be read, mapped or written; <see cref="Exception.Message"/> is one
/// line that names the file and, where one is at fault, the ONNX node, its op type and opset.</summary>
public sealed class OnnxException(string message, Exception? inner = null) : Exception(message, inner);
