/// The op catalogue: one table of ops drives one finite-difference check of every VJP (JAX's
/// LAX_GRAD_OPS), Claim 16.2 for matmul exactly, and a few hand-computed values.
module Adjoint.Tests.TestOps

open System
open System.Collections.Generic
open Xunit
open Adjoint
open Adjoint.Tests.Helpers
open Adjoint.OpTable

let private table = Adjoint.OpTable.Table.table
let private rowOf = Adjoint.OpTable.Table.rowOf

/// (op, shape class, argument slot) for every compute op, every class of its row, each slot up to the
/// catalogue's arity.
let vjpCases =
    let cases = TheoryData<string, string, int>()
    for row in table do
        match row with
        | Compute(name, classes, _) ->
            for c in classes do
                for slot in 0 .. c.Shapes.Length - 1 do
                    if c.TypeOf slot = ElementType.Float64 then cases.Add(name, c.Class, slot)
        | Leaf _ -> ()
    cases

/// A seed that does not change between runs (string hashes do).
let private stableSeed (name: string) = name |> Seq.fold (fun h ch -> h * 31 + int ch) 17

[<Literal>]
let Step = 1e-6

/// The tolerance on |λ·∂f − d| / max(1, |λ·∂f|, |d|). With step 1e-6 the central difference's
/// rounding error is about 1e-16·|⟨λ, f⟩| / 1e-6 ≈ 1e-10 for these sizes (5.6e-10 is the largest
/// measured), and its truncation error h²·f‴/6 smaller still; the seeds are fixed, so the margin holds.
[<Literal>]
let Tolerance = 1e-8

[<Theory>]
[<MemberData(nameof vjpCases)>]
let ``VJP of every op, shape class and slot equals the central difference of ⟨λ, f(x)⟩`` (name: string, shapeClass: string, slot: int) =
    match rowOf name with
    | Leaf _ -> failwith "leaves have no VJP"
    | Compute(_, classes, _) as row ->
        let c = classes |> List.find (fun c -> c.Class = shapeClass)
        let op = Adjoint.OpTable.Table.opOf name c
        let mutable worst = 0.0
        for trial in 0 .. 2 do
            let rnd = Random(stableSeed (name + shapeClass) + 1000 * slot + trial)
            let args = Adjoint.OpTable.Table.argumentsOf row c rnd
            Assert.True(op.AcceptsArity args.Length)
            let out = apply op args
            let lambda = tensorOfShape out.Shape (fun () -> uniform rnd -1.0 1.0)
            let analytic = vjp op args out lambda slot
            Assert.Equal(args[slot].Shape, analytic.Shape)
            let objective () = inner lambda (apply op args)
            let x = args[slot].Data
            for k in 0 .. x.Length - 1 do
                let numeric = centralDifference objective x k Step
                worst <- max worst (relativeError 1.0 analytic.Data[k] numeric)
        report $"{name} {shapeClass} slot {slot}: max relative error {worst:E2}"
        assertWithin Tolerance $"{name} {shapeClass} slot {slot}" worst

[<Fact>]
let ``the table covers the catalogue, every row is a catalogue op, and every element-wise op meets every class`` () =
    Assert.Equal<string>(List.sort Catalogue.names, table |> List.map _.Name |> List.sort)
    for row in table do
        match row with
        | Compute(name, classes, _) ->
            for c in classes do
                let op = Adjoint.OpTable.Table.opOf name c
                Assert.Equal(name, op.Name)
                if op.IsElementwise then
                    Assert.Equal<string>((if op.Arity = 1 then Row.unaryClasses else Row.binaryClasses) |> List.map _.Class, classes |> List.map _.Class)
        | Leaf name -> Assert.Contains(name, Catalogue.leafNames)

[<Fact>]
let ``leaves declare their shape, have no ancestors, and refuse a VJP`` () =
    for row in table do
        match row with
        | Leaf name ->
            let op =
                match Catalogue.leaf name (Shape.Of(2, 3)) with
                | Ok op -> op
                | Error m -> failwith m
            Assert.Equal(0, op.Arity)
            Assert.NotEqual(OpKind.Compute, op.Kind)
            Assert.Equal(Ok(Shape.Of(2, 3)), op.Shape [||])
            throws<InvalidOperationException> (fun () -> op.Vjp([||], Tensor(2, 3), Tensor(2, 3), 0, Tensor(2, 3)))
            |> ignore
            Assert.Equal(Error $"'{name}' is a leaf op and needs a shape", Catalogue.compute name (attributesOf []))
        | Compute _ -> ()

[<Fact>]
let ``scale carries its factor as an attribute; a missing or unknown attribute is an error`` () =
    let op = opOf "scale" [ "factor", OpAttribute.Float -2.5 ]
    Assert.Equal(OpAttribute.Float -2.5, op.Attributes["factor"])
    assertSameValues (Tensor(2, 1, [| -2.5; 5.0 |])) (apply op [| Tensor(2, 1, [| 1.0; -2.0 |]) |])
    Assert.Equal(Error "op 'scale' needs attribute 'factor'", Catalogue.compute "scale" (attributesOf []))
    Assert.Equal(Error "op 'sin' has no attribute 'factor'", Catalogue.compute "sin" (attributesOf [ "factor", OpAttribute.Float 1.0 ]))
    Assert.Equal(Error "unknown op 'sigmod' (did you mean 'sigmoid'?)", Catalogue.compute "sigmod" (attributesOf []))
    Assert.Equal(Error "unknown op 'frobnicate'", Catalogue.compute "frobnicate" (attributesOf []))

// Claim 16.2: for C = AB, Λ_A = Λ Bᵀ and Λ_B = Aᵀ Λ.

let private matmulVjps (a: Tensor) (b: Tensor) (lambda: Tensor) =
    let op = Ops.Linear.matmul
    let c = apply op [| a; b |]
    vjp op [| a; b |] c lambda 0, vjp op [| a; b |] c lambda 1

[<Theory>]
[<InlineData(1, 1, 1)>]
[<InlineData(2, 3, 4)>]
[<InlineData(5, 1, 3)>]
[<InlineData(8, 4, 1)>]
[<InlineData(37, 53, 29)>]
let ``Claim 16.2: matmul's VJPs are Λ Bᵀ and Aᵀ Λ to 1e-12 relative`` (m: int, n: int, d: int) =
    let rnd = Random(m * 1_000_003 + n * 1009 + d)
    let a, b, lambda = randomTensor rnd m n, randomTensor rnd n d, randomTensor rnd m d
    let lambdaA, lambdaB = matmulVjps a b lambda
    let am, bm, lm = a.AsMatrix(), b.AsMatrix(), lambda.AsMatrix()
    let expectA = lm * bm.Transpose()
    let expectB = am.Transpose() * lm
    // Relative to Σ_k |terms|, the natural scale of each element's rounding error (no cancellation
    // can make an element look wrong).
    let scaleA = lm.PointwiseAbs() * bm.Transpose().PointwiseAbs()
    let scaleB = am.Transpose().PointwiseAbs() * lm.PointwiseAbs()
    let worst (got: Tensor) (expected: MathNet.Numerics.LinearAlgebra.Matrix<double>) (scale: MathNet.Numerics.LinearAlgebra.Matrix<double>) =
        Seq.max (seq { for i in 0 .. got.Rows - 1 do for j in 0 .. got.Cols - 1 -> abs (got[i, j] - expected[i, j]) / scale[i, j] })
    let errA, errB = worst lambdaA expectA scaleA, worst lambdaB expectB scaleB
    report $"Claim 16.2 {m}x{n}·{n}x{d}: Λ_A {errA:E2}, Λ_B {errB:E2}"
    assertWithin 1e-12 "Λ_A = Λ Bᵀ" errA
    assertWithin 1e-12 "Λ_B = Aᵀ Λ" errB
    Assert.True(normwiseError lambdaA (Tensor.OfMatrix expectA) <= 1e-12)
    Assert.True(normwiseError lambdaB (Tensor.OfMatrix expectB) <= 1e-12)

[<Theory>]
[<InlineData(1, 1, 1)>]
[<InlineData(2, 3, 4)>]
[<InlineData(40, 70, 33)>]
let ``Claim 16.2 exactly on small integer matrices`` (m: int, n: int, d: int) =
    let rnd = Random(m + n + d)
    let a, b, lambda = integerTensor rnd m n, integerTensor rnd n d, integerTensor rnd m d
    let lambdaA, lambdaB = matmulVjps a b lambda
    assertSameValues (Tensor.OfMatrix(lambda.AsMatrix() * b.AsMatrix().Transpose())) lambdaA
    assertSameValues (Tensor.OfMatrix(a.AsMatrix().Transpose() * lambda.AsMatrix())) lambdaB

[<Fact>]
let ``Claim 16.2 through the engine: z = Σ (AB ⊙ Λ) gives λ_C = Λ, λ_A = Λ Bᵀ, λ_B = Aᵀ Λ exactly`` () =
    let rnd = Random 162
    let a, b, lambda = integerTensor rnd 3 4, integerTensor rnd 4 2, integerTensor rnd 3 2
    let g = GraphBuilder()
    let an, bn = g.Input("A", a), g.Input("B", b)
    let c = g.MatMul(an, bn, "C")
    let z = g.Sum(g.Mul(c, g.Constant("Lambda", lambda)), "z")
    let e = Engine.gradient Adjoints.All (Plan.Compile(g.Build z)) null
    assertSameValues lambda (e.Adjoint "C")
    assertSameValues (Tensor.OfMatrix(lambda.AsMatrix() * b.AsMatrix().Transpose())) (e.Adjoint "A")
    assertSameValues (Tensor.OfMatrix(a.AsMatrix().Transpose() * lambda.AsMatrix())) (e.Adjoint "B")

// A few values by hand (DiffSharp style).

[<Fact>]
let ``softmax cross-entropy of equal logits is log k, and large logits do not overflow`` () =
    let op = Ops.Loss.softmaxCrossEntropy
    let targets = Tensor.OfRows [| [| 1.0; 0.0; 0.0; 0.0 |]; [| 0.25; 0.25; 0.25; 0.25 |] |]
    let loss = apply op [| Tensor(2, 4); targets |]
    assertWithin 1e-15 "log 4" (relativeError 0.0 (log 4.0) loss.ScalarValue)
    let large = Tensor.OfRows [| [| 1000.0; 0.0 |] |]
    let onFirst = apply op [| large; Tensor.OfRows [| [| 1.0; 0.0 |] |] |]
    Assert.Equal(0.0, onFirst.ScalarValue)
    let onSecond = apply op [| large; Tensor.OfRows [| [| 0.0; 1.0 |] |] |]
    Assert.Equal(1000.0, onSecond.ScalarValue)

[<Fact>]
let ``hand-computed forwards and VJPs`` () =
    let x = Tensor(3, 1, [| -1.0; 0.5; 2.0 |])
    let ones = Tensor(3, 1, [| 1.0; 1.0; 1.0 |])
    assertSameValues (Tensor(3, 1, [| 0.0; 0.5; 2.0 |])) (apply Ops.Elementwise.relu [| x |])
    assertSameValues (Tensor(3, 1, [| 0.0; 1.0; 1.0 |])) (vjp Ops.Elementwise.relu [| x |] x ones 0)
    assertSameValues (Tensor.Scalar 5.25) (apply Ops.Reduce.sqnorm [| x |])
    assertSameValues (Tensor(3, 1, [| -6.0; 3.0; 12.0 |])) (vjp Ops.Reduce.sqnorm [| x |] (Tensor.Scalar 5.25) (Tensor.Scalar 3.0) 0)
    assertSameValues (Tensor.Scalar 0.5) (apply Ops.Reduce.mean [| x |])
    let a = Tensor.OfRows [| [| 2.0; 0.0 |]; [| 0.0; 4.0 |] |]
    let sol = apply Ops.Linear.solve [| a; Tensor(2, 1, [| 1.0; 1.0 |]) |]
    assertSameValues (Tensor(2, 1, [| 0.5; 0.25 |])) sol
    let row = apply Ops.Linear.addRow [| a; Tensor.OfRows [| [| 10.0; 20.0 |] |] |]
    assertSameValues (Tensor.OfRows [| [| 12.0; 20.0 |]; [| 10.0; 24.0 |] |]) row
    assertSameValues (Tensor.OfRows [| [| 2.0; 4.0 |] |]) (vjp Ops.Linear.addRow [| a; Tensor(1, 2) |] row a 1)
