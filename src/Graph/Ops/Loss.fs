/// Softmax cross-entropy: the classification loss, fused so that it is stable and its VJP is P − Y.
module Adjoint.Ops.Loss

open Adjoint

/// log Σ_c exp(Z_rc) for each row r of a column-major m×k matrix, shifted by the row maximum so
/// that large logits do not overflow.
let private logSumExpRows (z: Tensor) =
    let m, k = z.Rows, z.Cols
    Array.init m (fun r ->
        let mutable peak = System.Double.NegativeInfinity
        for c in 0 .. k - 1 do
            peak <- max peak z.Data[c * m + r]
        let mutable total = 0.0
        for c in 0 .. k - 1 do
            total <- total + System.Math.Exp(z.Data[c * m + r] - peak)
        peak + System.Math.Log total)

/// L = −(1/m) Σ_r Σ_c Y_rc log softmax(Z_r)_c for logits Z and targets Y (each row a distribution).
/// λ_Z = (λ/m)(P_rc Σ_c′ Y_rc′ − Y_rc) with P = softmax(Z) row-wise; λ_Y = −(λ/m) log P.
let softmaxCrossEntropy =
    { new Op("softmax_cross_entropy", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0] = s[1] then Ok Shape.Scalar
            else Error $"softmax_cross_entropy needs logits and targets of one shape, got {s[0]} and {s[1]}"
        override _.Forward(args, out) =
            let z, y = args[0], args[1]
            let m = z.Rows
            let lse = logSumExpRows z
            let mutable total = 0.0
            for c in 0 .. z.Cols - 1 do
                for r in 0 .. m - 1 do
                    let i = c * m + r
                    total <- total + y.Data[i] * (z.Data[i] - lse[r])
            out.Data[0] <- -total / double m
        override _.Vjp(args, _, adjoint, slot, dest) =
            let z, y = args[0], args[1]
            let m = z.Rows
            let lse = logSumExpRows z
            let w = adjoint.Data[0] / double m
            if slot = 0 then
                let rowMass = Array.zeroCreate m
                for c in 0 .. z.Cols - 1 do
                    for r in 0 .. m - 1 do
                        rowMass[r] <- rowMass[r] + y.Data[c * m + r]
                for c in 0 .. z.Cols - 1 do
                    for r in 0 .. m - 1 do
                        let i = c * m + r
                        dest.Data[i] <- w * (System.Math.Exp(z.Data[i] - lse[r]) * rowMass[r] - y.Data[i])
            else
                for c in 0 .. z.Cols - 1 do
                    for r in 0 .. m - 1 do
                        let i = c * m + r
                        dest.Data[i] <- -w * (z.Data[i] - lse[r]) }
