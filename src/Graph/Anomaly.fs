/// Anomaly mode, as in PyTorch: find the first node whose value or adjoint stopped being finite.
module Adjoint.Anomaly

open System

let private firstNonFinite (data: double[]) =
    let mutable k = 0
    while k < data.Length && Double.IsFinite data[k] do
        k <- k + 1
    if k < data.Length then ValueSome k else ValueNone

/// "NaN at (1, 2)": the element's value and its index in every dimension (row-major offset k).
let private describe (t: Tensor) (k: int) =
    if t.Rank = 0 then string t.Data[k] else $"""{t.Data[k]} at ({String.Join(", ", t.Shape.Unravel k)})"""

/// The value checks need every value: one dropped could be the first to go non-finite. An evaluation
/// made for Adjoints.InputsAndParameters may not keep some (see Evaluation.HasValue).
let private requireEveryValue (e: Evaluation) =
    let plan = e.Plan
    match Seq.tryFind (e.HasValueAt >> not) (seq { 0 .. plan.Count - 1 }) with
    | Some p ->
        invalidArg "e" (
            $"anomaly mode checks every value, and this evaluation does not keep that of node '{plan.Ids[p]}' "
            + "(it computes only the adjoints of inputs and parameters); evaluate with Engine.bind or new Evaluation(plan)"
        )
    | None -> ()

/// Raises EvaluationException naming the first node, in plan order, whose value holds NaN or ±∞: an
/// input or stored value that holds one, or the first op that produced one from finite arguments.
/// Raises ArgumentException, before any check, for an evaluation that does not keep every value.
let checkValues (e: Evaluation) =
    requireEveryValue e
    let plan = e.Plan
    for p in 0 .. plan.Count - 1 do
        let v = e.ValueAt p
        match firstNonFinite v.Data with
        | ValueSome k ->
            let op = plan.Op p
            let reason =
                if op.Kind = OpKind.Compute then
                    $"produced {describe v k} in the forward pass from finite arguments"
                else
                    $"the {op.Name}'s value holds {describe v k}"
            raise (EvaluationException(plan.Ids[p], op.Name, reason, null))
        | ValueNone -> ()

/// Raises EvaluationException naming the first node, in backward order, whose adjoint holds NaN or ±∞,
/// and the successor whose VJP term made it so (all values being finite). Works in either mode: a value
/// an InputsAndParameters evaluation did not keep is one no VJP it ran reads, so zeros stand in for it.
let checkAdjoints (e: Evaluation) =
    let plan = e.Plan
    let value p = if e.HasValueAt p then e.ValueAt p else Tensor.Zeros(plan.Shape p)
    for q in plan.Count - 1 .. -1 .. 0 do
        let lambda = e.AdjointAt q
        if not (isNull lambda) then
            match firstNonFinite lambda.Data with
            | ValueSome k ->
                let culprit =
                    plan.Successors q
                    |> Seq.tryPick (fun struct (i, slot) ->
                        let lambdaI = e.AdjointAt i
                        if isNull lambdaI then None
                        else
                            let term = Tensor.Zeros(plan.Shape q)
                            let args = plan.Ancestors i |> Seq.map value |> Array.ofSeq
                            (plan.Op i).Vjp(args, value i, lambdaI, slot, term)
                            match firstNonFinite term.Data with
                            | ValueSome _ -> Some $"the VJP of successor '{plan.Ids[i]}' (op '{(plan.Op i).Name}', argument {slot})"
                            | ValueNone -> None)
                    |> Option.defaultValue "the sum of finite VJP terms (overflow)"
                raise (EvaluationException(plan.Ids[q], (plan.Op q).Name, $"adjoint became {describe lambda k} in the backward pass, from {culprit}", null))
            | ValueNone -> ()

/// The forward pass, then the check of every value; the evaluation must keep every value (Engine.bind
/// or new Evaluation(plan)), which is checked first.
let forward (e: Evaluation) =
    requireEveryValue e
    Engine.forward e
    checkValues e

/// The backward pass, then the check of every adjoint it computed.
let backward (mode: Adjoints) (e: Evaluation) =
    Engine.backward mode e
    checkAdjoints e
