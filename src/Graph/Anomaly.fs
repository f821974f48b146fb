/// Anomaly mode, as in PyTorch: find the first node whose value or adjoint stopped being finite.
module Adjoint.Anomaly

open System

let private firstNonFinite (data: double[]) =
    let mutable k = 0
    while k < data.Length && Double.IsFinite data[k] do
        k <- k + 1
    if k < data.Length then ValueSome k else ValueNone

let private describe (t: Tensor) (k: int) = $"{t.Data[k]} at ({k % t.Rows}, {k / t.Rows})"

/// Raises EvaluationException naming the first node, in plan order, whose value holds NaN or ±∞: an
/// input or stored value that holds one, or the first op that produced one from finite arguments.
let checkValues (e: Evaluation) =
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
/// and the successor whose VJP term made it so (all values being finite).
let checkAdjoints (e: Evaluation) =
    let plan = e.Plan
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
                            let args = plan.Ancestors i |> Seq.map e.ValueAt |> Array.ofSeq
                            (plan.Op i).Vjp(args, e.ValueAt i, lambdaI, slot, term)
                            match firstNonFinite term.Data with
                            | ValueSome _ -> Some $"the VJP of successor '{plan.Ids[i]}' (op '{(plan.Op i).Name}', argument {slot})"
                            | ValueNone -> None)
                    |> Option.defaultValue "the sum of finite VJP terms (overflow)"
                raise (EvaluationException(plan.Ids[q], (plan.Op q).Name, $"adjoint became {describe lambda k} in the backward pass, from {culprit}", null))
            | ValueNone -> ()

/// The forward pass, then the check of every value.
let forward (e: Evaluation) =
    Engine.forward e
    checkValues e

/// The backward pass, then the check of every adjoint it computed.
let backward (mode: Adjoints) (e: Evaluation) =
    Engine.backward mode e
    checkAdjoints e
