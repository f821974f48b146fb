/// One node's adjoint λ_j from its successors' VJP terms, summed in the one order every engine uses.
namespace Adjoint

open System

/// The seed's backward step at one node: λ_n = 1 at the output; elsewhere
/// λ_j = Σ_{i ∈ β(j)} λ_i ∂f_i/∂z_j, the terms in one fixed order (`order`). The node grains and the
/// reference passes sum through this module; the local engine's fast pass adds the same terms in the
/// same order as it walks the plan backwards — so all give the same bits.
module Accumulate =

    /// Node p's successor edges (indices into `plan.Successors p`) in summation order: successors from
    /// the last in plan order to the first, a successor's argument slots in order — the order in which a
    /// backward pass walking the plan from z_n adds each successor's terms as soon as its λ is known.
    let order (plan: Plan) (p: int) : int[] =
        let successors = plan.Successors p
        Array.init successors.Count id
        |> Array.sortBy (fun e -> let struct (i, slot) = successors[e] in struct (-i, slot))

    /// λ_n = 1: the adjoint of the output z_n, a new tensor. Raises GraphException (NonScalarOutput)
    /// unless z_n has exactly one element.
    let seed (plan: Plan) : Tensor =
        let n = plan.Output
        let shape = plan.Shape n
        let lambda = Tensor.Zeros shape
        if lambda.Count <> 1 then raise (GraphException(NonScalarOutput(plan.Ids[n], shape)))
        lambda.Data[0] <- 1.0
        lambda

    /// Whether successor edge `edge` of node p (its index in `plan.Successors p`) brings a term to λ_p in
    /// this mode: it does when its successor i needs an adjoint itself (`plan.NeedsAdjoint(mode, i)`);
    /// a successor that needs none contributes nothing, not even a zero.
    let contributes (plan: Plan) (mode: Adjoints) (p: int) (edge: int) : bool =
        let struct (i, _) = (plan.Successors p)[edge]
        plan.NeedsAdjoint(mode, i)

    /// How many of node p's successor edges bring a term in this mode (see `contributes`).
    let terms (plan: Plan) (mode: Adjoints) (p: int) : int =
        let successors = plan.Successors p
        let mutable count = 0
        for e in 0 .. successors.Count - 1 do
            let struct (i, _) = successors[e]
            if plan.NeedsAdjoint(mode, i) then count <- count + 1
        count

    /// λ_p, the adjoint of node p in this mode (Theorem 16.1: ∂z_n/∂z_p):
    ///
    /// - p is the output: λ_n = 1 (`seed`); no term is read;
    /// - otherwise λ_p = ((t₁ + t₂) + t₃) + …, where t_k is the term λ_i ∂f_i/∂z_p of the k-th successor
    ///   edge that contributes (`contributes`), in `order`, and each + is
    ///   element-wise (Kernels.Vec.add). Float addition is not associative: this order is the contract;
    /// - no edge contributes: λ_p = 0.
    ///
    /// `term e` gives the term of successor edge e; it is called once for each contributing edge, in
    /// order, and what it returns is added into λ before the next call. `buffer shape` gives a tensor
    /// of λ_p's shape that need not be zeroed, called at most once: with one term, λ_p is that term
    /// itself (not copied); with more, t₁ + t₂ is written into the buffer and each later term added into
    /// it in place. So a node grain hands over the terms it received and a buffer of its own, while the
    /// local engine may compute the first term into its λ buffer, the later ones into one scratch
    /// tensor, and return its λ buffer as the buffer. Raises ArgumentException when p needs no adjoint
    /// in this mode, or a term is missing or of another shape than z_p.
    let adjoint (plan: Plan) (mode: Adjoints) (p: int) (term: Func<int, Tensor>) (buffer: Func<Shape, Tensor>) : Tensor =
        if not (plan.NeedsAdjoint(mode, p)) then
            invalidArg "p" $"node '{plan.Ids[p]}' needs no adjoint in mode {mode}"
        if p = plan.Output then seed plan
        else
            let shape = plan.Shape p
            let successors = plan.Successors p
            let mutable lambda: Tensor = null
            let mutable owned = false
            for e in order plan p do
                let struct (i, _) = successors[e]
                if plan.NeedsAdjoint(mode, i) then
                    let t = term.Invoke e
                    if isNull t then
                        invalidArg "term" $"node '{plan.Ids[p]}': no term from successor '{plan.Ids[i]}' (successor edge {e})"
                    if t.Shape <> shape then
                        invalidArg "term" $"node '{plan.Ids[p]}': the term from successor '{plan.Ids[i]}' has shape {t.Shape}, the node's value {shape}"
                    if isNull lambda then lambda <- t
                    elif owned then Kernels.Vec.add lambda.Data t.Data lambda.Data
                    else
                        let sum = buffer.Invoke shape
                        Kernels.Vec.add lambda.Data t.Data sum.Data
                        lambda <- sum
                        owned <- true
            if isNull lambda then
                let zero = buffer.Invoke shape
                Array.Clear zero.Data
                zero
            else lambda
