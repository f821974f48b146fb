using System.Text.Json;
using System.Text.Json.Nodes;

namespace Adjoint.Cli;

/// <summary>Writes results as text for people or as one JSON document for programs (<c>--json</c>).</summary>
internal static class Output
{
    // Relaxed escaping: op summaries and ids print as written (σ, ⊙), not as \u escapes.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A tensor as JSON: a number for one element, else nested lists, one level per dimension (row-major).</summary>
    public static JsonNode Tensor(Adjoint.Tensor t)
    {
        if (t.IsScalar) return Number(t.ScalarValue);
        JsonNode Nest(int d, int offset, int size)
        {
            if (d == t.Rank) return Number(t.Data[offset]);
            var n = t.Shape.Dim(d);
            var inner = size / n;
            return new JsonArray([.. Enumerable.Range(0, n).Select(k => (JsonNode?)Nest(d + 1, offset + k * inner, inner))]);
        }
        return Nest(0, 0, t.Count);
    }

    /// <summary>
    /// A number as JSON. JSON has no NaN or infinities: they are written as the strings "NaN",
    /// "Infinity" and "-Infinity" (as .NET's and Python's JSON readers accept them when asked to).
    /// </summary>
    public static JsonNode Number(double v) =>
        double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(double.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");

    public static void Json(TextWriter writer, JsonNode node) => writer.WriteLine(node.ToJsonString(Indented));

    /// <summary>A tensor as text: its values when small (at most 16 elements), else its shape and norm.</summary>
    public static string Brief(Adjoint.Tensor t) =>
        t.Count <= 16 ? t.ToString() : $"{t.Shape} norm {Math.Sqrt(t.Data.Sum(v => v * v)):G6}";
}
