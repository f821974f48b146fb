/// Tensor layout and the dense kernels (GEMM, fixed-order sums, transpose) against MathNet.
module Adjoint.Tests.TestTensor

open System
open Xunit
open MathNet.Numerics.LinearAlgebra
open Adjoint
open Adjoint.Tests.Helpers

[<Fact>]
let ``OfRows stores row-major (C order) and ToRows gives the rows back`` () =
    let t = Tensor.OfRows [| [| 1.0; 2.0; 3.0 |]; [| 4.0; 5.0; 6.0 |] |]
    Assert.Equal(Shape.Of(2, 3), t.Shape)
    Assert.Equal<double>([| 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 |], t.Data)
    Assert.Equal(6.0, t[1, 2])
    Assert.Equal<double[]>([| [| 1.0; 2.0; 3.0 |]; [| 4.0; 5.0; 6.0 |] |], t.ToRows())
    Assert.Equal("2x3", t.Shape.ToString())

[<Fact>]
let ``ToString shows a small tensor's values round-trip and a large one's shape`` () =
    Assert.Equal("[[1, 2.5], [-3, 0.1]]", (Tensor.OfRows [| [| 1.0; 2.5 |]; [| -3.0; 0.1 |] |]).ToString())
    Assert.Equal("0.30000000000000004", (Tensor.Scalar(0.1 + 0.2)).ToString())
    Assert.Equal("Tensor 5x4", (Tensor(5, 4)).ToString())

[<Fact>]
let ``AsMatrix copies the matrix into MathNet's column-major layout, and OfMatrix copies it back`` () =
    let t = Tensor.OfRows [| [| 1.0; 2.0 |]; [| 3.0; 4.0 |] |]
    let m = t.AsMatrix()
    Assert.Equal(3.0, m[1, 0])
    m[0, 1] <- 9.0
    Assert.Equal(2.0, t[0, 1])
    assertSameValues (Tensor.OfRows [| [| 1.0; 9.0 |]; [| 3.0; 4.0 |] |]) (Tensor.OfMatrix m)

[<Fact>]
let ``N-d tensors: shapes, row-major indexing, reshape without a copy, nested ToString`` () =
    let t = Tensor(Shape.Of(2, 3, 2), Array.init 12 double)
    Assert.Equal(3, t.Rank)
    Assert.Equal("2x3x2", t.Shape.ToString())
    Assert.Equal(7.0, t.At(1, 0, 1))
    Assert.Equal<int>([| 1; 0; 1 |], t.Shape.Unravel 7)
    let r = t.Reshape(Shape.Of(3, 4))
    Assert.Same(t.Data, r.Data)
    Assert.Equal("[[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9], [10, 11]]]", t.ToString())
    Assert.Equal("scalar", Shape.Scalar.ToString())
    Assert.Equal(0, (Tensor.Scalar 2.5).Rank)
    Assert.True(Shape.Of(1, 1, 1).IsScalar)
    Assert.Equal(Shape.Of(2, 3), Shape.Of [| 2; 3 |])
    throws<ArgumentException> (fun () -> t.Reshape(Shape.Of 5) |> ignore) |> ignore

[<Fact>]
let ``malformed tensors are refused with the sizes in the message`` () =
    let e = throws<ArgumentException> (fun () -> Tensor(2, 2, [| 1.0 |]) |> ignore)
    Assert.StartsWith("a tensor of shape 2x2 needs 4 values, got 1", e.Message)
    let e = throws<ArgumentException> (fun () -> Tensor.OfRows [| [| 1.0; 2.0 |]; [| 3.0 |] |] |> ignore)
    Assert.StartsWith("row 1 has 1 values, row 0 has 2", e.Message)
    let e = throws<InvalidOperationException> (fun () -> Tensor(2, 1).ScalarValue |> ignore)
    Assert.Equal("tensor of shape 2x1 is not a scalar", e.Message)

[<Fact>]
let ``BitwiseEqual tells 0 from -0 and compares shapes`` () =
    Assert.True(Tensor.BitwiseEqual(Tensor.Scalar 0.0, Tensor.Scalar 0.0))
    Assert.False(Tensor.BitwiseEqual(Tensor.Scalar 0.0, Tensor.Scalar -0.0))
    Assert.True(Tensor.BitwiseEqual(Tensor.Scalar nan, Tensor.Scalar nan))
    Assert.False(Tensor.BitwiseEqual(Tensor(1, 2, [| 1.0; 2.0 |]), Tensor(2, 1, [| 1.0; 2.0 |])))
    Assert.False(Tensor.BitwiseEqual(Tensor.Scalar 1.0, Tensor.Scalar(Math.BitIncrement 1.0)))

/// |op(A) op(B)| computed from absolute values: the scale of the rounding error of each element.
let private absProduct (a: Matrix<double>) (b: Matrix<double>) = a.PointwiseAbs() * b.PointwiseAbs()

[<Theory>]
[<InlineData(1, 1, 1)>]
[<InlineData(3, 4, 5)>]
[<InlineData(7, 1, 6)>]
[<InlineData(67, 45, 71)>]
let ``gemm with every transpose flag matches MathNet to 1e-14 of the terms' magnitude`` (m: int, k: int, n: int) =
    let rnd = Random(m * 10007 + k * 101 + n)
    for transA in [ false; true ] do
        for transB in [ false; true ] do
            let a = if transA then randomTensor rnd k m else randomTensor rnd m k
            let b = if transB then randomTensor rnd n k else randomTensor rnd k n
            let am = if transA then a.AsMatrix().Transpose() else a.AsMatrix()
            let bm = if transB then b.AsMatrix().Transpose() else b.AsMatrix()
            let expected = am * bm
            let scale = absProduct am bm
            let c = Tensor(m, n)
            Kernels.Gemm.gemm transA transB a b 0.0 c
            let worst = Seq.max (seq { for i in 0 .. m - 1 do for j in 0 .. n - 1 -> abs (c[i, j] - expected[i, j]) / scale[i, j] })
            assertWithin 1e-14 $"gemm {transA} {transB} ({Engine.gemmBackend})" worst
            // β = 1 accumulates into C.
            let c2 = c.Clone()
            Kernels.Gemm.gemm transA transB a b 1.0 c2
            let doubled = Seq.max (seq { for i in 0 .. m - 1 do for j in 0 .. n - 1 -> abs (c2[i, j] - 2.0 * expected[i, j]) / scale[i, j] })
            assertWithin 1e-14 "gemm with beta = 1" doubled

[<Fact>]
let ``gemm refuses disagreeing shapes and names them`` () =
    let e = throws<ArgumentException> (fun () -> Kernels.Gemm.gemm false false (Tensor(3, 4)) (Tensor(5, 2)) 0.0 (Tensor(3, 2)))
    Assert.Contains("3x4", e.Message)
    Assert.Contains("5x2", e.Message)

[<Fact>]
let ``sum's order depends on the count alone, not on where the slice starts`` () =
    let rnd = Random 5
    let data = Array.init 200 (fun _ -> uniform rnd -1.0 1.0 * 10.0 ** double (rnd.Next(-8, 8)))
    for start in 0 .. 9 do
        for count in [ 0; 1; 3; 4; 7; 8; 33; 150 ] do
            let slice = Array.sub data start count
            let atStart = Kernels.Vec.sum data start count
            let atZero = Kernels.Vec.sum slice 0 count
            Assert.Equal(BitConverter.DoubleToInt64Bits atZero, BitConverter.DoubleToInt64Bits atStart)
            let naive = Array.sum slice
            let magnitude = slice |> Array.sumBy abs
            assertWithin 1e-15 "sum vs naive sum" (abs (atZero - naive) / max magnitude 1e-300)

[<Fact>]
let ``dot is the fixed-order sum of products`` () =
    let rnd = Random 6
    for n in [ 1; 4; 5; 13; 64 ] do
        let a = Array.init n (fun _ -> uniform rnd -1.0 1.0)
        let b = Array.init n (fun _ -> uniform rnd -1.0 1.0)
        let expected = Array.fold2 (fun s x y -> s + x * y) 0.0 a b
        let magnitude = Array.fold2 (fun s (x: double) y -> s + abs (x * y)) 0.0 a b
        assertWithin 1e-15 $"dot of length {n}" (abs (Kernels.Vec.dot a b - expected) / magnitude)

[<Theory>]
[<InlineData(1, 1)>]
[<InlineData(1, 7)>]
[<InlineData(33, 70)>]
let ``transpose matches MathNet exactly`` (rows: int, cols: int) =
    let t = randomTensor (Random(rows + cols)) rows cols
    let dest = Tensor(cols, rows)
    Kernels.Vec.transpose rows cols t.Data dest.Data
    assertBitwise "transpose" (Tensor.OfMatrix(t.AsMatrix().Transpose())) dest
