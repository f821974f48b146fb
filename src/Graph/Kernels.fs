/// Dense kernels the ops call: GEMM through the system's OpenBLAS when it is there, managed otherwise.
module Adjoint.Kernels

open System
open System.Reflection
open System.Runtime.InteropServices
open MathNet.Numerics.LinearAlgebra

module private OpenBlas =
    // CBLAS enums (cblas.h).
    [<Literal>]
    let ColMajor = 102

    [<Literal>]
    let NoTrans = 111

    [<Literal>]
    let Trans = 112

    [<DllImport("adjoint-openblas", CallingConvention = CallingConvention.Cdecl)>]
    extern void cblas_dgemm(
        int order, int transA, int transB, int m, int n, int k, double alpha,
        double[] a, int lda, double[] b, int ldb, double beta, double[] c, int ldc)

    /// The library is loaded at run time so that a machine without it still runs (on the managed
    /// kernel); "adjoint-openblas" is our own name, resolved here and nowhere else.
    let handle =
        let mutable h = IntPtr.Zero
        let found =
            [ "libopenblas.so.0"; "libopenblas.so"; "libopenblas.dylib"; "libopenblas.dll" ]
            |> List.exists (fun name -> NativeLibrary.TryLoad(name, &h))
        if found && h <> IntPtr.Zero && (let mutable f = IntPtr.Zero in NativeLibrary.TryGetExport(h, "cblas_dgemm", &f)) then
            NativeLibrary.SetDllImportResolver(
                Assembly.GetExecutingAssembly(),
                DllImportResolver(fun name _ _ -> if name = "adjoint-openblas" then h else IntPtr.Zero))
            Some h
        else
            None

/// Which GEMM the engine uses: "openblas" or "managed".
let gemmBackend = if OpenBlas.handle.IsSome then "openblas" else "managed"

let private managedGemm transA transB (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    let am = a.AsMatrix()
    let bm = b.AsMatrix()
    let product =
        match transA, transB with
        | false, false -> am * bm
        | true, false -> am.TransposeThisAndMultiply bm
        | false, true -> am.TransposeAndMultiply bm
        | true, true -> (bm * am).Transpose()
    let cm = c.AsMatrix()
    if beta = 0.0 then product.CopyTo cm else cm.Add(product, cm)

/// C ← op(A)·op(B) + β·C with β ∈ {0, 1}, op = transpose when the flag says so. The VJPs of matmul
/// use the flags (Λ Bᵀ, Aᵀ Λ) rather than transposed copies.
let gemm (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    let m = if transA then a.Cols else a.Rows
    let k = if transA then a.Rows else a.Cols
    let n = if transB then b.Rows else b.Cols
    if c.Rows <> m || c.Cols <> n || (if transB then b.Cols else b.Rows) <> k then
        let t flag = if flag then "ᵀ" else ""
        invalidArg "c" $"gemm shapes do not agree: {a.Shape}{t transA} · {b.Shape}{t transB} → {c.Shape}"
    if m = 0 || n = 0 then ()
    elif k = 0 then
        if beta = 0.0 then Array.Clear c.Data
    else
        match OpenBlas.handle with
        | Some _ ->
            OpenBlas.cblas_dgemm(
                OpenBlas.ColMajor,
                (if transA then OpenBlas.Trans else OpenBlas.NoTrans),
                (if transB then OpenBlas.Trans else OpenBlas.NoTrans),
                m, n, k, 1.0, a.Data, max 1 a.Rows, b.Data, max 1 b.Rows, beta, c.Data, max 1 c.Rows)
        | None -> managedGemm transA transB a b beta c

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

/// dest ← srcᵀ for a column-major rows × cols source.
let transpose (rows: int) (cols: int) (src: double[]) (dest: double[]) =
    // Blocked so that both the reads and the writes stay in cache for large matrices.
    let block = 32
    for c0 in 0 .. block .. cols - 1 do
        for r0 in 0 .. block .. rows - 1 do
            for c in c0 .. min (c0 + block) cols - 1 do
                for r in r0 .. min (r0 + block) rows - 1 do
                    dest[r * cols + c] <- src[c * rows + r]

/// Element-wise kernels over whole arrays, through TensorPrimitives (vectorised, allocation-free).
/// `dest` may be one of the sources.
module Vec =
    open System.Numerics.Tensors

    let inline private ro (a: double[]) = ReadOnlySpan<double>(a)
    let inline private rw (a: double[]) = Span<double>(a)

    let add (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Add(ro a, ro b, rw dest)
    let sub (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Subtract(ro a, ro b, rw dest)
    let mul (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Multiply(ro a, ro b, rw dest)
    let div (a: double[]) (b: double[]) (dest: double[]) = TensorPrimitives.Divide(ro a, ro b, rw dest)
    let neg (a: double[]) (dest: double[]) = TensorPrimitives.Negate(ro a, rw dest)
    /// dest = c·a.
    let scale (c: double) (a: double[]) (dest: double[]) = TensorPrimitives.Multiply(ro a, c, rw dest)
    /// dest = c − a.
    let subFrom (c: double) (a: double[]) (dest: double[]) = TensorPrimitives.Subtract(c, ro a, rw dest)
    /// dest = max(a, c).
    let maxWith (c: double) (a: double[]) (dest: double[]) = TensorPrimitives.Max(ro a, c, rw dest)
    let sigmoid (a: double[]) (dest: double[]) = TensorPrimitives.Sigmoid(ro a, rw dest)
    let tanh (a: double[]) (dest: double[]) = TensorPrimitives.Tanh(ro a, rw dest)
    let exp (a: double[]) (dest: double[]) = TensorPrimitives.Exp(ro a, rw dest)
    let log (a: double[]) (dest: double[]) = TensorPrimitives.Log(ro a, rw dest)
    let sin (a: double[]) (dest: double[]) = TensorPrimitives.Sin(ro a, rw dest)
    let cos (a: double[]) (dest: double[]) = TensorPrimitives.Cos(ro a, rw dest)
    let copy (a: double[]) (dest: double[]) = Array.Copy(a, dest, a.Length)
