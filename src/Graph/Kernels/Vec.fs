/// Element-wise kernels over whole arrays, through TensorPrimitives (vectorised, allocation-free), and
/// sums in a fixed order. `dest` may be one of the sources.
module internal Adjoint.Kernels.Vec

open System
open System.Numerics.Tensors

let inline private ro (a: double[]) = ReadOnlySpan<double>(a)
let inline private rw (a: double[]) = Span<double>(a)

// Each of these is bitwise what the scalar expression gives element by element (IEEE + − × ÷ and
// negation are exact-rounded), so an op may use them for its array path without changing a bit.
let add (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Add(ro a, ro b, rw dest)
let sub (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Subtract(ro a, ro b, rw dest)
let mul (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Multiply(ro a, ro b, rw dest)
let div (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Divide(ro a, ro b, rw dest)
let neg (a: double[]) (dest: double[]) = TensorPrimitives.Negate(ro a, rw dest)
/// dest = a·c.
let scale (c: double) (a: double[]) (dest: double[]) = TensorPrimitives.Multiply(ro a, c, rw dest)
let copy (a: double[]) (dest: double[]) = Array.Copy(a, dest, a.Length)

// These differ from Math's functions in the last bits: an op uses one only as a measured override of its
// derived array path, within the tolerance its test states.
let sigmoid (a: double[]) (dest: double[]) = TensorPrimitives.Sigmoid(ro a, rw dest)
let tanh (a: double[]) (dest: double[]) = TensorPrimitives.Tanh(ro a, rw dest)
let exp (a: double[]) (dest: double[]) = TensorPrimitives.Exp(ro a, rw dest)

/// Σ data[start .. start+count−1] in an order fixed by the count alone, never by the array's
/// alignment: every node of a distributed evaluation must reproduce the local engine's sums bit for
/// bit, and TensorPrimitives.Sum may split differently for differently aligned arrays.
let sum (data: double[]) (start: int) (count: int) =
    let lanes = Numerics.Vector<double>.Count
    let mutable acc = Numerics.Vector<double>.Zero
    let mutable k = 0
    let span = ReadOnlySpan<double>(data, start, count)
    while k + lanes <= count do
        acc <- acc + Numerics.Vector<double>(span.Slice(k, lanes))
        k <- k + lanes
    let mutable total = 0.0
    for l in 0 .. lanes - 1 do
        total <- total + acc[l]
    while k < count do
        total <- total + span[k]
        k <- k + 1
    total

/// Σ (data[k] − shift)² over data[start .. start+count−1], in the same fixed order as `sum` (a
/// normalisation's variance about its mean).
let sumSquaredDeviations (data: double[]) (start: int) (count: int) (shift: double) =
    let lanes = Numerics.Vector<double>.Count
    let mutable acc = Numerics.Vector<double>.Zero
    let s = Numerics.Vector<double>(shift)
    let mutable k = 0
    let span = ReadOnlySpan<double>(data, start, count)
    while k + lanes <= count do
        let d = Numerics.Vector<double>(span.Slice(k, lanes)) - s
        acc <- acc + d * d
        k <- k + lanes
    let mutable total = 0.0
    for l in 0 .. lanes - 1 do
        total <- total + acc[l]
    while k < count do
        let d = span[k] - shift
        total <- total + d * d
        k <- k + 1
    total

/// Σ a[k]·(b[k] − shift) over k in start .. start+count−1 of both, in the same fixed order as `sum`.
let dotShifted (a: double[]) (b: double[]) (start: int) (count: int) (shift: double) =
    let lanes = Numerics.Vector<double>.Count
    let mutable acc = Numerics.Vector<double>.Zero
    let s = Numerics.Vector<double>(shift)
    let mutable k = 0
    let sa = ReadOnlySpan<double>(a, start, count)
    let sb = ReadOnlySpan<double>(b, start, count)
    while k + lanes <= count do
        acc <- acc + Numerics.Vector<double>(sa.Slice(k, lanes)) * (Numerics.Vector<double>(sb.Slice(k, lanes)) - s)
        k <- k + lanes
    let mutable total = 0.0
    for l in 0 .. lanes - 1 do
        total <- total + acc[l]
    while k < count do
        total <- total + sa[k] * (sb[k] - shift)
        k <- k + 1
    total

/// Σ a[k]·b[k] in the same fixed order as `sum`.
let dot (a: double[]) (b: double[]) =
    let lanes = Numerics.Vector<double>.Count
    let mutable acc = Numerics.Vector<double>.Zero
    let mutable k = 0
    let n = a.Length
    while k + lanes <= n do
        acc <- acc + Numerics.Vector<double>(a, k) * Numerics.Vector<double>(b, k)
        k <- k + lanes
    let mutable total = 0.0
    for l in 0 .. lanes - 1 do
        total <- total + acc[l]
    while k < n do
        total <- total + a[k] * b[k]
        k <- k + 1
    total

/// dest ← srcᵀ for a row-major rows × cols source.
let transpose (rows: int) (cols: int) (src: double[]) (dest: double[]) =
    // Blocked so that both the reads and the writes stay in cache for large matrices.
    let block = 32
    for r0 in 0 .. block .. rows - 1 do
        for c0 in 0 .. block .. cols - 1 do
            for r in r0 .. min (r0 + block) rows - 1 do
                for c in c0 .. min (c0 + block) cols - 1 do
                    dest[c * rows + r] <- src[r * cols + c]

/// dest = ((1 − y) ⊙ y) ⊙ λ, sigmoid's VJP from its stored output, in one vectorised pass: the
/// sigmoid's hand-fused override of its derived VJP. Plain multiplies (never FMA), so every element has
/// the bits of the derived expression λ·((1 − y)·y).
let sigmoidVjp (y: double[]) (l: double[]) (dest: double[]) =
    let w = Numerics.Vector<double>.Count
    let one = Numerics.Vector<double>.One
    let mutable k = 0
    while k + w <= dest.Length do
        let yv = Numerics.Vector<double>(y, k)
        Numerics.Vector.Multiply(Numerics.Vector.Multiply(Numerics.Vector.Subtract(one, yv), yv), Numerics.Vector<double>(l, k)).CopyTo(dest, k)
        k <- k + w
    while k < dest.Length do
        dest[k] <- (1.0 - y[k]) * y[k] * l[k]
        k <- k + 1
