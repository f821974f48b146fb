using System.Text;
using System.Text.Json.Nodes;

namespace Adjoint.Tests.Shared;

/// <summary>
/// Malformed variants of a valid graph file, for fuzzing the loader, the core and a running silo: edits of
/// the JSON tree that keep it JSON (so they reach validation and the engine) and damage to the text.
/// </summary>
internal static class GraphFileMutator
{
    internal static readonly string[] Replacements =
    [
        "\"sigmod\"", "\"matmul\"", "\"parameter\"", "\"input\"", "\"scale\"", "\"solve\"", "\"\"", "null", "true", "{}", "[]",
        "[[]]", "[1]", "[0, 3]", "[-1, 2]", "[2147483647, 2147483647]", "[100000, 100000]", "[3.5, 1]", "1e999", "-1e999",
        "NaN", "\"NaN\"", "Infinity", "0", "-0", "1e-320", "123456789012345678901234567890", "\"X\"", "\"loss\"",
        "[\"X\", \"X\"]", "[\"nope\"]", "{\"factor\": 2}", "{\"factor\": \"2\"}", "2", "99",
    ];

    /// <summary>
    /// Three in four cases edit the JSON tree (replace a value, drop a field, duplicate or drop a list
    /// item) so that the file stays JSON and reaches validation and the engine; the rest damage the text
    /// (truncation, deleted or duplicated spans, stray characters, swapped tokens).
    /// </summary>
    public static string Mutate(string seed, Random random)
    {
        if (random.Next(4) != 0)
        {
            var root = JsonNode.Parse(seed)!;
            for (var e = random.Next(1, 4); e > 0; e--) MutateTree(root, random);
            return root.ToJsonString();
        }
        var text = seed;
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits && text.Length > 0; e++)
        {
            var at = random.Next(text.Length);
            text = random.Next(5) switch
            {
                0 => text[..at],
                1 => text.Remove(at, Math.Min(random.Next(1, 12), text.Length - at)),
                2 => text.Insert(at, text.Substring(at, Math.Min(random.Next(1, 40), text.Length - at))),
                3 => text.Insert(at, ((char)random.Next(32, 127)).ToString()),
                _ => ReplaceToken(text, at, Replacements[random.Next(Replacements.Length)]),
            };
        }
        return text;
    }

    private static void MutateTree(JsonNode root, Random random)
    {
        var all = new List<JsonNode>();
        void Walk(JsonNode? n)
        {
            if (n is null) return;
            all.Add(n);
            if (n is JsonObject o) foreach (var kv in o.ToList()) Walk(kv.Value);
            if (n is JsonArray a) foreach (var item in a.ToList()) Walk(item);
        }
        Walk(root);
        var target = all[random.Next(1, all.Count)];
        var parent = target.Parent;
        var token = Replacements[random.Next(Replacements.Length)];
        // NaN and Infinity are not JSON; in a tree they can only stand as strings.
        var replacement = token is "NaN" or "Infinity" ? JsonValue.Create(token) : JsonNode.Parse(token);
        switch (parent, random.Next(3))
        {
            case (JsonObject o, 0):
                o.Remove(o.First(kv => ReferenceEquals(kv.Value, target)).Key);
                break;
            case (JsonObject o, _):
                o[o.First(kv => ReferenceEquals(kv.Value, target)).Key] = replacement;
                break;
            case (JsonArray a, 0):
                a.RemoveAt(a.IndexOf(target));
                break;
            case (JsonArray a, 1):
                a.Insert(a.IndexOf(target), target.DeepClone());
                break;
            case (JsonArray a, _):
                a[a.IndexOf(target)] = replacement;
                break;
        }
    }

    /// <summary>Replaces the JSON value (string, number or bracketed list) at or after a position.</summary>
    private static string ReplaceToken(string text, int at, string replacement)
    {
        var start = text.IndexOfAny(['"', '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], at);
        if (start < 0) return text;
        var end = start + 1;
        if (text[start] == '"')
        {
            end = text.IndexOf('"', start + 1);
            if (end < 0) return text;
            end++;
        }
        else if (text[start] == '[')
        {
            var depth = 0;
            for (end = start; end < text.Length; end++)
            {
                if (text[end] == '[') depth++;
                else if (text[end] == ']' && --depth == 0) { end++; break; }
            }
        }
        else
        {
            while (end < text.Length && "0123456789.eE+-".Contains(text[end])) end++;
        }
        return new StringBuilder(text).Remove(start, end - start).Insert(start, replacement).ToString();
    }
}
