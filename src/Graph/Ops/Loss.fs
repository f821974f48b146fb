/// Softmax cross-entropy: the classification loss, fused so that it is stable and its VJP is P − Y.
module Adjoint.Ops.Loss

open Adjoint

/// log Σ_c exp(Z_rc) for each row r of logits with k classes on the last axis (row-major, so a row is
/// contiguous), shifted by the row maximum so that large logits do not overflow.
let private logSumExpRows (z: Tensor) (k: int) =
    let m = z.Count / k
    Array.init m (fun r ->
        let mutable peak = System.Double.NegativeInfinity
        for c in r * k .. r * k + k - 1 do
            peak <- max peak z.Data[c]
        let mutable total = 0.0
        for c in r * k .. r * k + k - 1 do
            total <- total + System.Math.Exp(z.Data[c] - peak)
        peak + System.Math.Log total)

let private classes (s: Shape) = if s.Rank = 0 then 1 else s.Dim(s.Rank - 1)

/// L = −(1/m) Σ_r Σ_c Y_rc log softmax(Z_r)_c for logits Z and targets Y (each row a distribution over
/// the last axis; m rows are all the other positions). λ_Z = (λ/m)(P_rc Σ_c′ Y_rc′ − Y_rc) with
/// P = softmax(Z) row-wise; λ_Y = −(λ/m) log P.
let softmaxCrossEntropy =
    { new Op("softmax_cross_entropy", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0] = s[1] && s[0].Rank >= 1 then Ok Shape.Scalar
            elif s[0] = s[1] then Error $"softmax_cross_entropy needs logits with a class axis, got {s[0]}"
            else Error $"softmax_cross_entropy needs logits and targets of one shape, got {s[0]} and {s[1]}"
        override _.Forward(args, out) =
            let z, y = args[0], args[1]
            let k = classes z.Shape
            let m = z.Count / k
            let lse = logSumExpRows z k
            let mutable total = 0.0
            for r in 0 .. m - 1 do
                for i in r * k .. r * k + k - 1 do
                    total <- total + y.Data[i] * (z.Data[i] - lse[r])
            out.Data[0] <- -total / double m
        override _.Vjp(args, _, adjoint, slot, dest) =
            let z, y = args[0], args[1]
            let k = classes z.Shape
            let m = z.Count / k
            let lse = logSumExpRows z k
            let w = adjoint.Data[0] / double m
            if slot = 0 then
                for r in 0 .. m - 1 do
                    let mutable mass = 0.0
                    for i in r * k .. r * k + k - 1 do
                        mass <- mass + y.Data[i]
                    for i in r * k .. r * k + k - 1 do
                        dest.Data[i] <- w * (System.Math.Exp(z.Data[i] - lse[r]) * mass - y.Data[i])
            else
                for r in 0 .. m - 1 do
                    for i in r * k .. r * k + k - 1 do
                        dest.Data[i] <- -w * (z.Data[i] - lse[r]) }

/// The losses' catalogue entries.
let entries =
    [ Spec.fixedOp softmaxCrossEntropy "mean over rows of −Σ_c y_c log softmax(z)_c, classes on the last axis"
          "logits: (…, k), targets: (…, k) → ()" ]
