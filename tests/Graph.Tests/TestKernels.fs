/// The kernels: the managed GEMM against OpenBLAS (or MathNet) on odd shapes and every transpose, and the
/// fused element-wise kernels against their one-element formulas.
module Adjoint.Tests.TestKernels

open System
open Xunit
open Adjoint

let private random (rng: Random) rows cols =
    Tensor(rows, cols, Array.init (rows * cols) (fun _ -> rng.NextDouble() * 2.0 - 1.0))

/// op(A)·op(B) + β·C by MathNet, independently of both kernels.
let private reference transA transB (a: Tensor) (b: Tensor) (beta: double) (c: Tensor) =
    let am = if transA then a.AsMatrix().Transpose() else a.AsMatrix()
    let bm = if transB then b.AsMatrix().Transpose() else b.AsMatrix()
    let p = am * bm
    if beta = 1.0 then p.Add(c.AsMatrix()) |> Tensor.OfMatrix else Tensor.OfMatrix p

let private shapes =
    [ 1, 1, 1; 2, 3, 4; 7, 5, 3; 8, 6, 256; 9, 13, 17; 33, 1, 517; 1, 40, 9; 100, 37, 300; 97, 101, 259; 260, 13, 270 ]

[<Fact>]
let ``managed GEMM matches MathNet and OpenBLAS on odd shapes, every transpose and both betas`` () =
    let rng = Random 11
    for m, n, k in shapes do
        for transA in [ false; true ] do
            for transB in [ false; true ] do
                let a = if transA then random rng k m else random rng m k
                let b = if transB then random rng n k else random rng k n
                let c0 = random rng m n
                for beta in [ 0.0; 1.0 ] do
                    let expected = reference transA transB a b beta c0
                    let managed = c0.Clone()
                    Kernels.Gemm.gemmManaged transA transB a b beta managed
                    let tolerance = 1e-12 * double k
                    let worst = Array.map2 (fun x y -> abs (x - y)) managed.Data expected.Data |> Array.max
                    Assert.True(worst <= tolerance, $"managed {m}x{n}x{k} transA={transA} transB={transB} beta={beta}: off by {worst}")
                    if Kernels.Gemm.openBlasAvailable then
                        let blas = c0.Clone()
                        Kernels.Gemm.gemmOpenBlas transA transB a b beta blas
                        let worst = Array.map2 (fun x y -> abs (x - y)) managed.Data blas.Data |> Array.max
                        Assert.True(worst <= tolerance, $"managed vs OpenBLAS {m}x{n}x{k}: off by {worst}")

[<Fact>]
let ``managed GEMM gives the same bits for the same operands, wherever they are stored`` () =
    let rng = Random 12
    // Large enough to be split between cores, and with edge tiles in both directions.
    let a = random rng 203 301
    let b = random rng 301 157
    let first = Tensor(203, 157)
    Kernels.Gemm.gemmManaged false false a b 0.0 first
    for _ in 1..3 do
        // Fresh arrays (other addresses, perhaps other alignments) holding the same values.
        let again = Tensor(203, 157)
        Kernels.Gemm.gemmManaged false false (a.Clone()) (b.Clone()) 0.0 again
        Assert.True(Tensor.BitwiseEqual(first, again))

[<Fact>]
let ``gemm rejects shapes that do not agree, naming them`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> Kernels.Gemm.gemmManaged false false (Tensor(2, 3)) (Tensor(4, 5)) 0.0 (Tensor(2, 5)))
    Assert.Contains("2x3", e.Message)

[<Fact>]
let ``the engine reports its GEMM`` () =
    Assert.Contains(Engine.gemmBackend, [ "openblas"; "managed" ])

let private bits (x: double) = BitConverter.DoubleToInt64Bits x

[<Fact>]
let ``fused VJP kernels give, element by element, the bits of their one-element formulas`` () =
    let rng = Random 13
    for n in 0..19 do
        let a = Array.init n (fun _ -> rng.NextDouble() * 4.0 - 2.0)
        let b = Array.init n (fun _ -> rng.NextDouble() * 4.0 - 2.0)
        let z = Array.init n (fun _ -> rng.NextDouble())
        let d = Array.zeroCreate n
        let check name (kernel: unit -> unit) (formula: int -> double) =
            kernel ()
            for k in 0 .. n - 1 do
                Assert.True(bits d[k] = bits (formula k), $"{name}, length {n}, element {k}")
        check "sigmoidVjp" (fun () -> Kernels.Vec.sigmoidVjp z a d) (fun k -> (1.0 - z[k]) * z[k] * a[k])
        // The derived VJP it overrides: λ · f′(y), f′ = (1 − y) y.
        check "sigmoidVjp = derived" (fun () -> Kernels.Vec.sigmoidVjp z a d) (fun k -> a[k] * ((1.0 - z[k]) * z[k]))
        ignore b

[<Fact>]
let ``an element-wise op's one-element tensors get the bits of its scalar kernel and partials`` () =
    for op in [ Ops.Elementwise.sin; Ops.Elementwise.sigmoid; Ops.Elementwise.mul; Ops.Elementwise.div ] do
        let args = Array.init op.Arity (fun j -> Tensor.Scalar(0.3 + 0.5 * double j))
        let out = Tensor(1, 1)
        op.Forward(args, out)
        let b = if op.Arity = 2 then args[1].ScalarValue else 0.0
        let partials = Array.zeroCreate 2
        Assert.Equal(bits (op.Kernel.Forward(args[0].ScalarValue, b)), bits out.ScalarValue)
        Assert.Equal(bits (op.Kernel.ForwardWithPartials(args[0].ScalarValue, b, partials, 0)), bits out.ScalarValue)
        for slot in 0 .. op.Arity - 1 do
            let dest = Tensor(1, 1)
            op.Vjp(args, out, Tensor.Scalar 1.7, slot, dest)
            Assert.Equal(bits (partials[slot] * 1.7), bits dest.ScalarValue)
