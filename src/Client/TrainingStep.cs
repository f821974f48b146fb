// One optimizer step as data: what a retry needs to finish it exactly once.

namespace Adjoint.Client;

/// <summary>
/// An optimizer step: its id (each parameter applies a given id at most once), the optimizer, and the
/// gradient of each parameter it steps.
/// </summary>
public sealed record TrainingStep(Guid Id, OptimizerSettings Optimizer, IReadOnlyDictionary<string, Tensor> Gradients);

/// <summary>
/// A training step failed after its retries (storage down, the cluster unreachable) and may have been
/// applied to only some parameters: pass <see cref="Step"/> to <see cref="GradientGraph.ApplyStepAsync"/>
/// to finish it; parameters that already have it do not apply it again.
/// </summary>
public sealed class TrainingStepException(TrainingStep step, string message, Exception? inner) : Exception(message, inner)
{
    /// <summary>The step, to finish later.</summary>
    public TrainingStep Step { get; } = step;
}
