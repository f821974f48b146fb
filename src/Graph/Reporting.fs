/// What an evaluation computes and hands back: which nodes' adjoints and values, for every back end.
namespace Adjoint

/// What one evaluation of a plan runs and reports besides z_n (which it always returns): the local
/// facade and the distributed engine decide pruning and results by these members alone.
[<Struct>]
type Reporting =
    { /// Whether the backward pass runs (false: forward only, no adjoint anywhere).
      Backward: bool
      /// Which adjoints the backward pass computes and reports.
      Adjoints: Adjoints
      /// Whether every node's value z_p is reported, or only z_n.
      Values: bool }

    /// A forward pass only, reporting every value or only z_n.
    static member Forward(values: bool) = { Backward = false; Adjoints = Adjoints.All; Values = values }

    /// Forward and backward in this mode, reporting every value or only z_n.
    static member Gradient(adjoints: Adjoints, values: bool) = { Backward = true; Adjoints = adjoints; Values = values }

    /// Whether λ_p is computed: the backward pass runs and `plan.NeedsAdjoint(Adjoints, p)` — p reaches
    /// z_n and, for InputsAndParameters, is reached from an input or parameter (the rest is pruned).
    member r.ComputesAdjoint(plan: Plan, p: int) = r.Backward && plan.NeedsAdjoint(r.Adjoints, p)

    /// Whether λ_p is reported: with All every λ computed (Theorem 16.1: λ_p = ∂z_n/∂z_p for every
    /// node), with InputsAndParameters only the inputs' and parameters'.
    member r.ReportsAdjoint(plan: Plan, p: int) =
        r.ComputesAdjoint(plan, p)
        && (r.Adjoints = Adjoints.All
            || (let kind = plan.Op(p).Kind in kind = OpKind.Input || kind = OpKind.Parameter))

    /// Whether z_p comes back: z_n always (as the output), every z_p when Values.
    member r.ReportsValue(plan: Plan, p: int) = r.Values || p = plan.Output
