// What the ONNX importer and exporter raise: one line naming the file, and the node, op and opset at fault.
namespace Adjoint.Onnx;

/// <summary>An ONNX model that cannot be read, mapped or written; <see cref="Exception.Message"/> is one
/// line that names the file and, where one is at fault, the ONNX node, its op type and opset.</summary>
public sealed class OnnxException(string message, Exception? inner = null) : Exception(OneLine(message), inner)
{
    /// <summary>Control characters (from names in a damaged file, or a parser's multi-line message) as \n, \u0001, ….</summary>
    static string OneLine(string message) =>
        message.Any(char.IsControl)
            ? string.Concat(message.Select(c => c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            }))
            : message;
}
