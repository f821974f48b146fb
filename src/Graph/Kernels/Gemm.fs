/// C ← op(A) op(B) on row-major matrices: OpenBLAS when it is there, the managed kernel otherwise.
module internal Adjoint.Kernels.Gemm

// The batched product passes matrices inside arrays to OpenBLAS by pointer.
#nowarn "9"

open System
open Adjoint
open Microsoft.FSharp.NativeInterop

/// Which GEMM the engine uses: "openblas" (the system's libopenblas.so.0) or "managed" (ManagedGemm).
/// Setting ADJOINT_GEMM=managed forces the managed kernel.
let backend =
    if Blas.handle.IsSome && Environment.GetEnvironmentVariable "ADJOINT_GEMM" <> "managed" then "openblas"
    else "managed"

/// Whether the system's OpenBLAS could be loaded (whichever backend is in use).
let openBlasAvailable = Blas.handle.IsSome

let private check (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (c: Tensor) =
    let t flag = if flag then "ᵀ" else ""
    let refuse () = invalidArg "c" $"gemm shapes do not agree: {a.Shape}{t transA} · {b.Shape}{t transB} → {c.Shape}"
    if a.Rank <> 2 || b.Rank <> 2 || c.Rank <> 2 then refuse ()
    let m = if transA then a.Cols else a.Rows
    let k = if transA then a.Rows else a.Cols
    let n = if transB then b.Rows else b.Cols
    if c.Rows <> m || c.Cols <> n || (if transB then b.Cols else b.Rows) <> k then refuse ()
    struct (m, n, k)

let private run (useBlas: bool) (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    let struct (m, n, k) = check transA transB a b c
    if beta <> 0.0 && beta <> 1.0 then invalidArg "beta" $"gemm takes β = 0 or 1, got {beta}"
    if m = 0 || n = 0 then ()
    elif k = 0 then
        if beta = 0.0 then Array.Clear c.Data
    elif useBlas then
        // Leading dimensions are the stored row lengths.
        Blas.cblas_dgemm(
            Blas.RowMajor,
            (if transA then Blas.Trans else Blas.NoTrans),
            (if transB then Blas.Trans else Blas.NoTrans),
            m, n, k, 1.0, a.Data, max 1 a.Cols, b.Data, max 1 b.Cols, beta, c.Data, max 1 c.Cols)
    else
        // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ over the same arrays: an n × m
        // product with the operands swapped and the same transpose flags.
        ManagedGemm.run transB transA n m k b.Data a.Data (beta = 1.0) c.Data

/// C ← op(A)·op(B) + β·C with β ∈ {0, 1}, op = transpose when the flag says so. The VJPs of matmul
/// use the flags (Λ Bᵀ, Aᵀ Λ) rather than transposed copies.
let gemm (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    run (backend = "openblas") transA transB a b beta c

/// `gemm` on the managed kernel whatever the backend (for tests and benchmarks).
let gemmManaged (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    run false transA transB a b beta c

/// `gemm` on OpenBLAS; raises when it is not installed (for tests and benchmarks).
let gemmOpenBlas (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    if not openBlasAvailable then invalidOp "OpenBLAS (libopenblas.so.0) is not installed"
    run true transA transB a b beta c

/// C ← op(A)·op(B) + β·C (β ∈ {0, 1}) for dense row-major matrices that start at offsets into their
/// arrays: op(A) is m × k, op(B) k × n, C m × n, each stored contiguously with its own row length
/// (A: k, or m when transposed; B: n, or k when transposed). Batched matmul calls it once per matrix;
/// the whole-array case gives the bits `gemm` gives.
let gemmAt (transA: bool) (transB: bool) (m: int) (n: int) (k: int) (a: double[]) (offA: int) (b: double[]) (offB: int)
           (beta: double) (c: double[]) (offC: int) =
    if beta <> 0.0 && beta <> 1.0 then invalidArg "beta" $"gemm takes β = 0 or 1, got {beta}"
    if m = 0 || n = 0 then ()
    elif k = 0 then
        if beta = 0.0 then Array.Clear(c, offC, m * n)
    elif backend = "openblas" then
        use pa = fixed a
        use pb = fixed b
        use pc = fixed c
        Blas.cblas_dgemm_at(
            Blas.RowMajor,
            (if transA then Blas.Trans else Blas.NoTrans),
            (if transB then Blas.Trans else Blas.NoTrans),
            m, n, k, 1.0,
            NativePtr.toNativeInt (NativePtr.add pa offA), (if transA then m else k),
            NativePtr.toNativeInt (NativePtr.add pb offB), (if transB then k else n),
            beta, NativePtr.toNativeInt (NativePtr.add pc offC), n)
    else
        ManagedGemm.runAt transB transA n m k b offB a offA (beta = 1.0) c offC
