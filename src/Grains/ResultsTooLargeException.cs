// A batch whose results could not come back in one answer: refused before it runs (Orleans would drop
// the oversized answer and the caller wait for its timeout).
namespace Adjoint;

/// <summary>
/// The results of a batch would not fit in one message. <see cref="EvaluationsThatFit"/> says how many
/// evaluations' results do (0: not even one's — ask for fewer results); callers that can split the batch
/// (the client facade does) run it in parts of that size.
/// </summary>
[GenerateSerializer, Alias("adjoint.results-too-large.v1")]
public sealed class ResultsTooLargeException : ArgumentException
{
    /// <summary>The refusal, its sizes and what fits.</summary>
    public ResultsTooLargeException(string sizes, string advice, long bytesPerEvaluation, int evaluationsThatFit, int limit) : base($"{sizes}; {advice}")
    {
        Sizes = sizes;
        BytesPerEvaluation = bytesPerEvaluation;
        EvaluationsThatFit = evaluationsThatFit;
        Limit = limit;
    }

    /// <summary>What is too large, and by how much, without the advice (which a command line words in its own flags).</summary>
    [Id(3)] public string Sizes { get; init; }

    /// <summary>The estimated size of one evaluation's results.</summary>
    [Id(0)] public long BytesPerEvaluation { get; init; }

    /// <summary>How many evaluations' results fit in one answer (0: none).</summary>
    [Id(1)] public int EvaluationsThatFit { get; init; }

    /// <summary>The message size limit in bytes (MaxMessageBodySize).</summary>
    [Id(2)] public int Limit { get; init; }
}
