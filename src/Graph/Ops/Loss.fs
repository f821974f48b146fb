/// Softmax cross-entropy: the classification loss, fused so that it is stable and its VJP is P − Y;
/// and the stable log-softmax of one lane that it, log_softmax and cross_entropy share.
module Adjoint.Ops.Loss

open System
open Adjoint

/// ln(1 + s) for s ≥ 0, accurate when s is tiny (Goldberg's trick: the rounding of 1 + s cancels in
/// ln(u)·s/(u − 1)), so that a class of probability near 1 keeps its small loss.
let internal log1p (s: double) =
    let u = 1.0 + s
    if u = 1.0 then s
    elif Double.IsPositiveInfinity u then u
    else Math.Log u * s / (u - 1.0)

/// log softmax of the lane z[start + c·stride], c < k, written to dest at the same places:
/// (z_c − m) − ln(1 + Σ_{c ≠ c*} exp(z_c − m)), m = z_{c*} the first maximum. Subtracting m before
/// the logarithm (not m + ln Σ after) keeps the digits of z_c − m when |m| is large, and ln(1 + ·)
/// keeps those of a loss near 0; the sum runs over c in increasing order.
let internal logSoftmaxLane (z: double[]) (dest: double[]) (start: int) (stride: int) (k: int) =
    let mutable peak = Double.NegativeInfinity
    let mutable at = -1
    for c in 0 .. k - 1 do
        let v = z[start + c * stride]
        if at < 0 || v > peak then
            peak <- v
            at <- c
    let mutable rest = 0.0
    for c in 0 .. k - 1 do
        if c <> at then rest <- rest + Math.Exp(z[start + c * stride] - peak)
    let lz = log1p rest
    for c in 0 .. k - 1 do
        let i = start + c * stride
        dest[i] <- (z[i] - peak) - lz

let private classes (s: Shape) = if s.Rank = 0 then 1 else s.Dim(s.Rank - 1)

/// log softmax of every row (classes on the last axis) of z.
let private logSoftmaxRows (z: Tensor) (k: int) =
    let logP = Array.zeroCreate z.Count
    for r in 0 .. z.Count / k - 1 do
        logSoftmaxLane z.Data logP (r * k) 1 k
    logP

/// L = −(1/m) Σ_r Σ_c Y_rc log softmax(Z_r)_c for logits Z and targets Y (each row a distribution over
/// the last axis; m rows are all the other positions), log softmax computed as `logSoftmaxLane` does.
/// λ_Z = (λ/m)(P_rc Σ_c′ Y_rc′ − Y_rc) with P = softmax(Z) row-wise; λ_Y = −(λ/m) log P.
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
            let logP = logSoftmaxRows z k
            let mutable total = 0.0
            for r in 0 .. m - 1 do
                for i in r * k .. r * k + k - 1 do
                    total <- total + y.Data[i] * logP[i]
            out.Data[0] <- -total / double m
        override _.Vjp(args, _, adjoint, slot, dest) =
            let z, y = args[0], args[1]
            let k = classes z.Shape
            let m = z.Count / k
            let logP = logSoftmaxRows z k
            let w = adjoint.Data[0] / double m
            if slot = 0 then
                for r in 0 .. m - 1 do
                    let mutable mass = 0.0
                    for i in r * k .. r * k + k - 1 do
                        mass <- mass + y.Data[i]
                    for i in r * k .. r * k + k - 1 do
                        dest.Data[i] <- w * (Math.Exp logP[i] * mass - y.Data[i])
            else
                for r in 0 .. m - 1 do
                    for i in r * k .. r * k + k - 1 do
                        dest.Data[i] <- -w * logP[i] }

/// The losses' catalogue entries.
let entries =
    [ Spec.fixedOp softmaxCrossEntropy "mean over rows of −Σ_c y_c log softmax(z)_c, classes on the last axis"
          "logits: (…, k), targets: (…, k) → ()" ]
