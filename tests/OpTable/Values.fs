/// Random argument values for the op table: uniform, away from a kink, distributions, well-conditioned
/// matrices, integer labels and indices, masks.
module Adjoint.OpTable.Values

open System
open Adjoint

/// Uniform in [lo, hi).
let uniform (rnd: Random) (lo: double) (hi: double) = lo + (hi - lo) * rnd.NextDouble()

/// A tensor of any shape, its elements drawn in row-major order.
let tensorOfShape (shape: Shape) (element: unit -> double) = Tensor(shape, Array.init shape.Count (fun _ -> element ()))

/// Distributions over the last axis of any shape of rank ≥ 1 (entries in [0.1, 1) before normalising).
let distributionsOf (rnd: Random) (shape: Shape) =
    let k = if shape.Rank = 0 then 1 else shape.Dim(shape.Rank - 1)
    let t = tensorOfShape shape (fun () -> uniform rnd 0.1 1.0)
    for r in 0 .. t.Count / k - 1 do
        let mutable total = 0.0
        for c in 0 .. k - 1 do
            total <- total + t.Data[r * k + c]
        for c in 0 .. k - 1 do
            t.Data[r * k + c] <- t.Data[r * k + c] / total
    t

/// R + n·I with R uniform in [−1, 1): diagonally dominant, so well conditioned.
let wellConditioned (rnd: Random) n =
    let a = tensorOfShape (Shape.Of(n, n)) (fun () -> uniform rnd -1.0 1.0)
    for i in 0 .. n - 1 do
        a.Data[i * n + i] <- a.Data[i * n + i] + double n
    a

/// Whole numbers in [0, bound) (class labels, indices; exact as doubles).
let integersBelow (rnd: Random) (bound: int) (shape: Shape) = tensorOfShape shape (fun () -> double (rnd.Next bound))

/// 0 or 1 at random (a mask).
let mask (rnd: Random) (shape: Shape) = tensorOfShape shape (fun () -> double (rnd.Next 2))

/// Distinct values in random order, spaced `gap` apart (so no two are within a finite-difference step of
/// each other: max, min, sort and pooling stay differentiable at them), shifted to start at `lo`.
let distinct (rnd: Random) (lo: double) (gap: double) (shape: Shape) =
    let order = Array.init shape.Count id
    rnd.Shuffle order
    Tensor(shape, order |> Array.map (fun k -> lo + gap * double k + uniform rnd 0.0 (gap / 4.0)))
