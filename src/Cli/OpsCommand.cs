using System.Text.Json.Nodes;
using Microsoft.FSharp.Core;

namespace Adjoint.Cli;

/// <summary>
/// <c>adjoint ops [NAME] [--json]</c>: the op catalogue — name, arity, attributes with types and defaults,
/// shape rule — read from the catalogue's own entries, so the list cannot go stale.
/// </summary>
internal static class OpsCommand
{
    private static readonly (string Name, string Summary, string Shape)[] Leaves =
    [
        ("input", "a value bound per evaluation (or the file's default for it)", "declared: \"shape\" (and \"dtype\": float64, int64 or bool)"),
        ("parameter", "a stored value that training changes (float64)", "declared: \"shape\", with a \"value\""),
        ("constant", "a stored value (float64, int64 or bool)", "declared: \"shape\" (and \"dtype\"), with a \"value\""),
    ];

    public static int Run(string? name, bool json, TextWriter stdout)
    {
        var entries = Catalogue.entries.ToList();
        var leaves = Leaves.ToList();
        if (name is not null)
        {
            entries = entries.Where(e => e.Name == name).ToList();
            leaves = leaves.Where(l => l.Name == name).ToList();
            if (entries.Count == 0 && leaves.Count == 0) throw new UserError(Catalogue.unknownOpMessage(name));
        }
        if (json)
        {
            var list = new JsonArray();
            foreach (var l in leaves)
                list.Add(new JsonObject { ["name"] = l.Name, ["kind"] = "leaf", ["arity"] = "0", ["minArity"] = 0, ["summary"] = l.Summary, ["shapeRule"] = l.Shape, ["attributes"] = new JsonArray() });
            foreach (var e in entries)
                list.Add(new JsonObject
                {
                    ["name"] = e.Name, ["kind"] = "compute", ["arity"] = e.Arity, ["minArity"] = e.MinArity,
                    ["summary"] = e.Summary, ["shapeRule"] = e.ShapeRule,
                    ["attributes"] = new JsonArray([.. e.Attributes.Select(a => (JsonNode?)AttributeJson(a))]),
                });
            Output.Json(stdout, new JsonObject { ["ops"] = list });
            return 0;
        }
        var width = Math.Max(leaves.Select(l => l.Name.Length).DefaultIfEmpty(0).Max(), entries.Select(e => e.Name.Length).DefaultIfEmpty(0).Max());
        foreach (var l in leaves)
        {
            stdout.WriteLine($"{l.Name.PadRight(width)}  (0)  {l.Summary}");
            stdout.WriteLine($"{new string(' ', width)}       {l.Shape}");
        }
        foreach (var e in entries)
        {
            stdout.WriteLine($"{e.Name.PadRight(width)}  ({e.Arity})  {e.Summary}");
            stdout.WriteLine($"{new string(' ', width)}       shape: {e.ShapeRule}");
            foreach (var a in e.Attributes)
                stdout.WriteLine($"{new string(' ', width)}       {a.Name}: {TypeText(a)}{DefaultText(a)} — {a.Description}");
        }
        return 0;
    }

    private static string TypeText(AttributeSpec a) => a.Type switch
    {
        AttributeType.Float => "number",
        AttributeType.Int => "integer",
        AttributeType.Ints => "list of integers",
        AttributeType.Bool => "boolean",
        _ => a.Choices.IsEmpty ? "string" : string.Join(" | ", a.Choices.Select(c => $"\"{c}\"")),
    };

    private static string DefaultText(AttributeSpec a) =>
        FSharpOption<OpAttribute>.get_IsSome(a.Default) ? $" = {a.Default.Value}" : a.Optional ? " (optional)" : " (required)";

    private static JsonObject AttributeJson(AttributeSpec a)
    {
        var o = new JsonObject
        {
            ["name"] = a.Name,
            ["type"] = a.Type switch
            {
                AttributeType.Float => "number", AttributeType.Int => "integer", AttributeType.Ints => "integers",
                AttributeType.Bool => "boolean", _ => "string",
            },
            ["required"] = FSharpOption<OpAttribute>.get_IsNone(a.Default) && !a.Optional,
            ["description"] = a.Description,
        };
        if (FSharpOption<OpAttribute>.get_IsSome(a.Default)) o["default"] = DefaultJson(a.Default.Value);
        if (!a.Choices.IsEmpty) o["choices"] = new JsonArray([.. a.Choices.Select(c => (JsonNode?)JsonValue.Create(c))]);
        return o;
    }

    private static JsonNode DefaultJson(OpAttribute v) => v switch
    {
        OpAttribute.Float f => Output.Number(f.Item),
        OpAttribute.Int i => JsonValue.Create(i.Item),
        OpAttribute.Ints xs => new JsonArray([.. xs.Item.Select(x => (JsonNode?)JsonValue.Create(x))]),
        OpAttribute.Bool b => JsonValue.Create(b.Item),
        OpAttribute.Text t => JsonValue.Create(t.Item),
        _ => throw new InvalidOperationException($"unknown attribute value {v}"),
    };
}
