using Adjoint.Grains;

namespace Adjoint.Client;

/// <summary>One evaluation's outcome: z_n, the adjoints (and values) asked for, or why it failed.</summary>
public sealed class GradientResult
{
    private static readonly IReadOnlyDictionary<string, Tensor> None = new Dictionary<string, Tensor>();

    /// <summary>z_n; null when the evaluation failed.</summary>
    public Tensor? Output { get; init; }

    /// <summary>λ by node id, for the nodes the mode asked for.</summary>
    public IReadOnlyDictionary<string, Tensor> Adjoints { get; init; } = None;

    /// <summary>z by node id when values were asked for; otherwise empty.</summary>
    public IReadOnlyDictionary<string, Tensor> Values { get; init; } = None;

    /// <summary>The failing node, op and message; null on success.</summary>
    public EvaluationFailure? Failure { get; init; }

    /// <summary>Each node step's timing when the batch asked for <see cref="BatchOptions.Timing"/>; otherwise empty.</summary>
    public IReadOnlyList<StepTiming> Timings { get; init; } = [];

    /// <summary>Whether the evaluation succeeded.</summary>
    public bool Succeeded => Failure is null;

    /// <summary>z_n as a number (the output must be a scalar).</summary>
    public double Loss => Output is { } o ? o.ScalarValue : throw new InvalidOperationException($"the evaluation failed: {Failure}");

    /// <summary>λ of one node.</summary>
    public Tensor Adjoint(string id) =>
        Adjoints.TryGetValue(id, out var t) ? t : throw new KeyNotFoundException($"no adjoint of node '{id}' in this result");

    /// <summary>Raises the failure as the core's <see cref="EvaluationException"/>; returns this result on success.</summary>
    public GradientResult EnsureSucceeded() =>
        Failure is { } f ? throw new EvaluationException(f.Node, f.Op, f.Message, null) : this;

    internal static GradientResult From(EvaluationResult r) => new()
    {
        Output = r.Output?.ToTensor(),
        Adjoints = r.Adjoints.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor()),
        Values = r.Values.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor()),
        Failure = r.Failure,
        Timings = r.Timings,
    };
}
