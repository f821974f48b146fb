using System.Text.Json;
using System.Text.Json.Nodes;

namespace Adjoint.Cli;

/// <summary>Writes results as text for people or as one JSON document for programs (<c>--json</c>).</summary>
internal static class Output
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A tensor as JSON: a number for a scalar, else a list of rows.</summary>
    public static JsonNode Tensor(Adjoint.Tensor t)
    {
        if (t.IsScalar) return Number(t.ScalarValue);
        var rows = new JsonArray();
        foreach (var row in t.ToRows()) rows.Add(new JsonArray(row.Select(v => (JsonNode?)Number(v)).ToArray()));
        return rows;
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
