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
        if (t.IsScalar) return JsonValue.Create(t.ScalarValue);
        var rows = new JsonArray();
        foreach (var row in t.ToRows()) rows.Add(new JsonArray(row.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()));
        return rows;
    }

    public static void Json(TextWriter writer, JsonNode node) => writer.WriteLine(node.ToJsonString(Indented));

    /// <summary>A tensor as text: the value of a scalar, else its shape and norm.</summary>
    public static string Brief(Adjoint.Tensor t) =>
        t.IsScalar ? t.ScalarValue.ToString("R") : $"{t.Shape} norm {Math.Sqrt(t.Data.Sum(v => v * v)):G6}";
}
