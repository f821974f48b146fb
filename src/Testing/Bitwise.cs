// Bitwise comparison of two back ends' results, worded for a test failure: which node, which value.
using Adjoint.Client;

namespace Adjoint.Testing;

/// <summary>What differs, bit for bit, between two results or two parameter sets.</summary>
public static class Bitwise
{
    /// <summary>
    /// Every difference between an expected result (the local engine's, say) and an actual one: z_n, each
    /// adjoint and value (missing, of another shape, or another bit pattern), and the failure. Empty: equal.
    /// </summary>
    public static IReadOnlyList<string> Differences(GradientResult expected, GradientResult actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        var differences = new List<string>();
        if (!Equals(expected.Failure, actual.Failure))
            differences.Add($"failure: expected {expected.Failure?.ToString() ?? "none"}, got {actual.Failure?.ToString() ?? "none"}");
        Compare("z_n", expected.Output, actual.Output, differences);
        differences.AddRange(Differences(expected.Adjoints, actual.Adjoints, "λ"));
        differences.AddRange(Differences(expected.Values, actual.Values, "z"));
        return differences;
    }

    /// <summary>Every difference between two tensor sets by node id (trained parameters, say); <paramref name="what"/> names them in the messages.</summary>
    public static IReadOnlyList<string> Differences(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string what = "parameter")
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        var differences = new List<string>();
        foreach (var (id, e) in expected.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Compare($"{what} of node '{id}'", e, actual.TryGetValue(id, out var a) ? a : null, differences);
        foreach (var id in actual.Keys.Where(id => !expected.ContainsKey(id)).Order(StringComparer.Ordinal))
            differences.Add($"{what} of node '{id}': not expected, got one");
        return differences;
    }

    private static void Compare(string what, Tensor? expected, Tensor? actual, List<string> differences)
    {
        if (expected is null && actual is null) return;
        if (expected is null || actual is null)
        {
            differences.Add($"{what}: expected {(expected is null ? "none" : expected.Shape.ToString())}, got {(actual is null ? "none" : actual.Shape.ToString())}");
            return;
        }
        if (!expected.Shape.Equals(actual.Shape))
        {
            differences.Add($"{what}: expected shape {expected.Shape}, got {actual.Shape}");
            return;
        }
        if (Tensor.BitwiseEqual(expected, actual)) return;
        var i = Enumerable.Range(0, expected.Count).First(k => BitConverter.DoubleToInt64Bits(expected.Data[k]) != BitConverter.DoubleToInt64Bits(actual.Data[k]));
        differences.Add($"{what}: element [{string.Join(",", expected.Shape.Unravel(i))}] expected {expected.Data[i]:R}, got {actual.Data[i]:R}");
    }
}
