/// The managed GEMM: Goto's algorithm as in BLIS, on column-major operands. op(B) is packed in KC×NC
/// panels and op(A) in MC×KC blocks (the transposes are absorbed by the packing, so no transposed copy is
/// ever made), and an 8×6 micro-kernel keeps 12 AVX accumulators in registers. Columns (or, for thin
/// products, rows) of C are split between cores; every element of C is summed in the same order whatever
/// the split and whatever the arrays' alignment, so the result depends on the shapes alone.
///
/// Column-major because a row-major product C = A B is the column-major Cᵀ = Bᵀ Aᵀ over the same arrays:
/// Gemm.fs swaps the operands, and nothing is copied.
module internal Adjoint.Kernels.ManagedGemm

// The kernel works on pinned arrays through native pointers.
#nowarn "9"

open System
open System.Buffers
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop

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
/// row counts, the operands starting at offsets into their arrays (one matrix of a batch). Shapes are
/// checked by the caller.
let runAt (transA: bool) (transB: bool) (m: int) (n: int) (k: int) (a: double[]) (offA: int) (b: double[]) (offB: int)
          (accumulate: bool) (c: double[]) (offC: int) =
    use a0 = fixed a
    use b0 = fixed b
    use c0 = fixed c
    let pa = NativePtr.add a0 offA
    let pb = NativePtr.add b0 offB
    let pc = NativePtr.add c0 offC
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

/// `runAt` on whole arrays.
let run (transA: bool) (transB: bool) (m: int) (n: int) (k: int) (a: double[]) (b: double[]) (accumulate: bool)
        (c: double[]) =
    runAt transA transB m n k a 0 b 0 accumulate c 0
