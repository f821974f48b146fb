/// Dense kernels the ops call: GEMM through the system's OpenBLAS when it is there, managed otherwise.
module Adjoint.Kernels

// The managed GEMM works on pinned arrays through native pointers.
#nowarn "9"

open System
open System.Buffers
open System.Reflection
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop

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

/// The managed GEMM: Goto's algorithm as in BLIS. op(B) is packed in KC×NC panels and op(A) in MC×KC
/// blocks (the transposes are absorbed by the packing, so no transposed copy is ever made), and an
/// 8×6 micro-kernel keeps 12 AVX accumulators in registers. Columns (or, for thin products, rows) of C
/// are split between cores; every element of C is summed in the same order whatever the split and
/// whatever the arrays' alignment, so the result depends on the shapes alone.
module ManagedGemm =
    [<Literal>]
    let private MR = 8

    [<Literal>]
    let private NR = 6

    [<Literal>]
    let private KC = 256

    [<Literal>]
    let private MC = 96

    [<Literal>]
    let private NC = 2040

    /// Below this many multiply-adds one core does the whole product.
    [<Literal>]
    let private ParallelThreshold = 1_000_000L

    let inline private fma (a: Vector256<double>) (b: Vector256<double>) (c: Vector256<double>) =
        if Fma.IsSupported then Fma.MultiplyAdd(a, b, c) else Vector256.Add(Vector256.Multiply(a, b), c)

    let inline private at (p: nativeptr<double>) (i: int) = NativePtr.get p i

    /// C[0..mr−1, 0..nr−1] (+)= Ap · Bp over kc steps: Ap holds 8 rows per step, Bp 6 columns per step.
    let private kernel (kc: int) (pa: nativeptr<double>) (pb: nativeptr<double>) (c: nativeptr<double>) (ldc: int)
                       (mr: int) (nr: int) (accumulate: bool) =
        let mutable c00 = Vector256<double>.Zero
        let mutable c10 = Vector256<double>.Zero
        let mutable c01 = Vector256<double>.Zero
        let mutable c11 = Vector256<double>.Zero
        let mutable c02 = Vector256<double>.Zero
        let mutable c12 = Vector256<double>.Zero
        let mutable c03 = Vector256<double>.Zero
        let mutable c13 = Vector256<double>.Zero
        let mutable c04 = Vector256<double>.Zero
        let mutable c14 = Vector256<double>.Zero
        let mutable c05 = Vector256<double>.Zero
        let mutable c15 = Vector256<double>.Zero
        let mutable a = pa
        let mutable b = pb
        for _ in 1..kc do
            let a0 = Vector256.Load a
            let a1 = Vector256.Load(NativePtr.add a 4)
            let b0 = Vector256.Create(at b 0)
            c00 <- fma a0 b0 c00
            c10 <- fma a1 b0 c10
            let b1 = Vector256.Create(at b 1)
            c01 <- fma a0 b1 c01
            c11 <- fma a1 b1 c11
            let b2 = Vector256.Create(at b 2)
            c02 <- fma a0 b2 c02
            c12 <- fma a1 b2 c12
            let b3 = Vector256.Create(at b 3)
            c03 <- fma a0 b3 c03
            c13 <- fma a1 b3 c13
            let b4 = Vector256.Create(at b 4)
            c04 <- fma a0 b4 c04
            c14 <- fma a1 b4 c14
            let b5 = Vector256.Create(at b 5)
            c05 <- fma a0 b5 c05
            c15 <- fma a1 b5 c15
            a <- NativePtr.add a MR
            b <- NativePtr.add b NR
        let inline put (col: int) (lo: Vector256<double>) (hi: Vector256<double>) (dest: nativeptr<double>) (ld: int) =
            let p = NativePtr.add dest (col * ld)
            if accumulate then
                Vector256.Store(Vector256.Add(Vector256.Load p, lo), p)
                Vector256.Store(Vector256.Add(Vector256.Load(NativePtr.add p 4), hi), NativePtr.add p 4)
            else
                Vector256.Store(lo, p)
                Vector256.Store(hi, NativePtr.add p 4)
        if mr = MR && nr = NR then
            put 0 c00 c10 c ldc
            put 1 c01 c11 c ldc
            put 2 c02 c12 c ldc
            put 3 c03 c13 c ldc
            put 4 c04 c14 c ldc
            put 5 c05 c15 c ldc
        else
            // An edge tile: the same sums, spilled to the stack, then the valid part added or copied.
            let tmp = NativePtr.stackalloc<double> (MR * NR)
            let inline spill (col: int) (lo: Vector256<double>) (hi: Vector256<double>) =
                Vector256.Store(lo, NativePtr.add tmp (col * MR))
                Vector256.Store(hi, NativePtr.add tmp (col * MR + 4))
            spill 0 c00 c10
            spill 1 c01 c11
            spill 2 c02 c12
            spill 3 c03 c13
            spill 4 c04 c14
            spill 5 c05 c15
            for j in 0 .. nr - 1 do
                for i in 0 .. mr - 1 do
                    let v = at tmp (j * MR + i)
                    let k = j * ldc + i
                    NativePtr.set c k (if accumulate then at c k + v else v)

    /// Packs op(A)[ic.., pc..] (mc × kc) as micro-panels of 8 rows, k-major, zero-padded.
    let private packA (a: nativeptr<double>) (lda: int) (transA: bool) (ic: int) (pc: int) (mc: int) (kc: int)
                      (dest: nativeptr<double>) =
        let mutable ir = 0
        while ir < mc do
            let rows = min MR (mc - ir)
            let d = NativePtr.add dest (ir * kc)
            if not transA then
                // A(i, p) is at a[p·lda + i]: each step copies up to 8 contiguous rows.
                for p in 0 .. kc - 1 do
                    let src = NativePtr.add a ((pc + p) * lda + ic + ir)
                    let dp = NativePtr.add d (p * MR)
                    if rows = MR then
                        Vector256.Store(Vector256.Load src, dp)
                        Vector256.Store(Vector256.Load(NativePtr.add src 4), NativePtr.add dp 4)
                    else
                        for r in 0 .. MR - 1 do
                            NativePtr.set dp r (if r < rows then at src r else 0.0)
            else
                // op(A)(i, p) = A(p, i) is at a[i·lda + p]: read each row of op(A) contiguously.
                for r in 0 .. MR - 1 do
                    if r < rows then
                        let src = NativePtr.add a ((ic + ir + r) * lda + pc)
                        for p in 0 .. kc - 1 do
                            NativePtr.set d (p * MR + r) (at src p)
                    else
                        for p in 0 .. kc - 1 do
                            NativePtr.set d (p * MR + r) 0.0
            ir <- ir + MR

    /// Packs op(B)[pc.., jc..] (kc × nc) as micro-panels of 6 columns, k-major, zero-padded.
    let private packB (b: nativeptr<double>) (ldb: int) (transB: bool) (pc: int) (jc: int) (kc: int) (nc: int)
                      (dest: nativeptr<double>) =
        let mutable jr = 0
        while jr < nc do
            let cols = min NR (nc - jr)
            let d = NativePtr.add dest (jr * kc)
            for c in 0 .. NR - 1 do
                if c >= cols then
                    for p in 0 .. kc - 1 do
                        NativePtr.set d (p * NR + c) 0.0
                elif not transB then
                    // B(p, j) is at b[j·ldb + p].
                    let src = NativePtr.add b ((jc + jr + c) * ldb + pc)
                    for p in 0 .. kc - 1 do
                        NativePtr.set d (p * NR + c) (at src p)
                else
                    // op(B)(p, j) = B(j, p) is at b[p·ldb + j].
                    let src = NativePtr.add b (jc + jr + c + pc * ldb)
                    for p in 0 .. kc - 1 do
                        NativePtr.set d (p * NR + c) (at src (p * ldb))
            jr <- jr + NR

    /// C[i0..i1−1, j0..j1−1] (+)= op(A) op(B) on one core.
    let private block (transA: bool) (transB: bool) (a: nativeptr<double>) (lda: int) (b: nativeptr<double>) (ldb: int)
                      (c: nativeptr<double>) (ldc: int) (k: int) (accumulate: bool) (i0: int) (i1: int) (j0: int) (j1: int) =
        let bufA = ArrayPool<double>.Shared.Rent(MC * KC)
        let bufB = ArrayPool<double>.Shared.Rent(KC * (NC + NR))
        try
            use pA = fixed bufA
            use pB = fixed bufB
            let mutable jc = j0
            while jc < j1 do
                let nc = min NC (j1 - jc)
                let mutable pc = 0
                while pc < k do
                    let kc = min KC (k - pc)
                    packB b ldb transB pc jc kc nc pB
                    let mutable ic = i0
                    while ic < i1 do
                        let mc = min MC (i1 - ic)
                        packA a lda transA ic pc mc kc pA
                        let mutable jr = 0
                        while jr < nc do
                            let mutable ir = 0
                            while ir < mc do
                                kernel kc (NativePtr.add pA (ir * kc)) (NativePtr.add pB (jr * kc))
                                    (NativePtr.add c ((jc + jr) * ldc + ic + ir)) ldc
                                    (min MR (mc - ir)) (min NR (nc - jr)) (accumulate || pc > 0)
                                ir <- ir + MR
                            jr <- jr + NR
                        ic <- ic + MC
                    pc <- pc + KC
                jc <- jc + NC
        finally
            ArrayPool<double>.Shared.Return bufA
            ArrayPool<double>.Shared.Return bufB

    /// C ← op(A) op(B) (+ C when `accumulate`), m × n × k, column-major with leading dimensions the
    /// row counts. Shapes are checked by the caller.
    let run (transA: bool) (transB: bool) (m: int) (n: int) (k: int) (a: double[]) (b: double[]) (accumulate: bool)
            (c: double[]) =
        use pa = fixed a
        use pb = fixed b
        use pc = fixed c
        let lda = max 1 (if transA then k else m)
        let ldb = max 1 (if transB then n else k)
        let cores = Environment.ProcessorCount
        let work = int64 m * int64 n * int64 k
        if cores = 1 || work < ParallelThreshold then
            block transA transB pa lda pb ldb pc m k accumulate 0 m 0 n
        elif n >= cores * NR * 2 then
            // Columns split on micro-panel boundaries.
            let panels = (n + NR - 1) / NR
            let parts = min cores panels
            Parallel.For(0, parts, fun t ->
                let j0 = min n (panels * t / parts * NR)
                let j1 = min n (panels * (t + 1) / parts * NR)
                if j1 > j0 then block transA transB pa lda pb ldb pc m k accumulate 0 m j0 j1)
            |> ignore
        else
            let panels = (m + MR - 1) / MR
            let parts = min cores panels
            Parallel.For(0, parts, fun t ->
                let i0 = min m (panels * t / parts * MR)
                let i1 = min m (panels * (t + 1) / parts * MR)
                if i1 > i0 then block transA transB pa lda pb ldb pc m k accumulate i0 i1 0 n)
            |> ignore

/// Which GEMM the engine uses: "openblas" (the system's libopenblas.so.0) or "managed" (the blocked
/// SIMD kernel above). Setting ADJOINT_GEMM=managed forces the managed kernel.
let gemmBackend =
    if OpenBlas.handle.IsSome && Environment.GetEnvironmentVariable "ADJOINT_GEMM" <> "managed" then "openblas"
    else "managed"

/// Whether the system's OpenBLAS could be loaded (whichever backend is in use).
let openBlasAvailable = OpenBlas.handle.IsSome

let private checkGemm (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (c: Tensor) =
    let m = if transA then a.Cols else a.Rows
    let k = if transA then a.Rows else a.Cols
    let n = if transB then b.Rows else b.Cols
    if c.Rows <> m || c.Cols <> n || (if transB then b.Cols else b.Rows) <> k then
        let t flag = if flag then "ᵀ" else ""
        invalidArg "c" $"gemm shapes do not agree: {a.Shape}{t transA} · {b.Shape}{t transB} → {c.Shape}"
    struct (m, n, k)

let private gemmWith (useBlas: bool) (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    let struct (m, n, k) = checkGemm transA transB a b c
    if beta <> 0.0 && beta <> 1.0 then invalidArg "beta" $"gemm takes β = 0 or 1, got {beta}"
    if m = 0 || n = 0 then ()
    elif k = 0 then
        if beta = 0.0 then Array.Clear c.Data
    elif useBlas then
        OpenBlas.cblas_dgemm(
            OpenBlas.ColMajor,
            (if transA then OpenBlas.Trans else OpenBlas.NoTrans),
            (if transB then OpenBlas.Trans else OpenBlas.NoTrans),
            m, n, k, 1.0, a.Data, max 1 a.Rows, b.Data, max 1 b.Rows, beta, c.Data, max 1 c.Rows)
    else
        ManagedGemm.run transA transB m n k a.Data b.Data (beta = 1.0) c.Data

/// C ← op(A)·op(B) + β·C with β ∈ {0, 1}, op = transpose when the flag says so. The VJPs of matmul
/// use the flags (Λ Bᵀ, Aᵀ Λ) rather than transposed copies.
let gemm (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    gemmWith (gemmBackend = "openblas") transA transB a b beta c

/// `gemm` on the managed kernel whatever the backend (for tests and benchmarks).
let gemmManaged (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    gemmWith false transA transB a b beta c

/// `gemm` on OpenBLAS; raises when it is not installed (for tests and benchmarks).
let gemmOpenBlas (transA: bool) (transB: bool) (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    if not openBlasAvailable then invalidOp "OpenBLAS (libopenblas.so.0) is not installed"
    gemmWith true transA transB a b beta c

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

    // Fused VJP kernels: one pass instead of two or three. Plain multiplies and adds (never FMA), so the
    // vector body and the scalar tail give the same bits and an element's result does not depend on
    // where it falls in the array.

    let inline private vec (a: double[]) (k: int) = Numerics.Vector<double>(a, k)

    /// dest = ((1 − y) ⊙ y) ⊙ λ: the sigmoid's VJP from its stored output.
    let sigmoidVjp (y: double[]) (l: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let one = Numerics.Vector<double>.One
        let mutable k = 0
        while k + w <= dest.Length do
            let yv = vec y k
            Numerics.Vector.Multiply(Numerics.Vector.Multiply(Numerics.Vector.Subtract(one, yv), yv), vec l k).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- (1.0 - y[k]) * y[k] * l[k]
            k <- k + 1

    /// dest = (1 − y ⊙ y) ⊙ λ: tanh's VJP from its stored output.
    let tanhVjp (y: double[]) (l: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let one = Numerics.Vector<double>.One
        let mutable k = 0
        while k + w <= dest.Length do
            let yv = vec y k
            Numerics.Vector.Multiply(Numerics.Vector.Subtract(one, Numerics.Vector.Multiply(yv, yv)), vec l k).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- (1.0 - y[k] * y[k]) * l[k]
            k <- k + 1

    /// dest = c·(a ⊙ b).
    let mulScale (c: double) (a: double[]) (b: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let mutable k = 0
        while k + w <= dest.Length do
            Numerics.Vector.Multiply(Numerics.Vector.Multiply(vec a k, vec b k), c).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- a[k] * b[k] * c
            k <- k + 1

    /// dest = −(a ⊙ b).
    let mulNeg (a: double[]) (b: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let mutable k = 0
        while k + w <= dest.Length do
            Numerics.Vector.Negate(Numerics.Vector.Multiply(vec a k, vec b k)).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- -(a[k] * b[k])
            k <- k + 1

    /// dest = −((λ ⊘ b) ⊙ z): the quotient's VJP for its denominator.
    let divVjpDenominator (l: double[]) (b: double[]) (z: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let mutable k = 0
        while k + w <= dest.Length do
            Numerics.Vector.Negate(Numerics.Vector.Multiply(Numerics.Vector.Divide(vec l k, vec b k), vec z k)).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- -(l[k] / b[k] * z[k])
            k <- k + 1

    /// dest = λ where x > 0, else 0.
    let reluVjp (x: double[]) (l: double[]) (dest: double[]) =
        let w = Numerics.Vector<double>.Count
        let mutable k = 0
        while k + w <= dest.Length do
            let mask = Numerics.Vector.GreaterThan(vec x k, Numerics.Vector<double>.Zero)
            Numerics.Vector.ConditionalSelect(mask, vec l k, Numerics.Vector<double>.Zero).CopyTo(dest, k)
            k <- k + w
        while k < dest.Length do
            dest[k] <- if x[k] > 0.0 then l[k] else 0.0
            k <- k + 1
