/// The op catalogue: one table of ops drives one finite-difference check of every VJP (JAX's
/// LAX_GRAD_OPS), Claim 16.2 for matmul exactly, and a few hand-computed values.
module Adjoint.Tests.TestOps

open System
open System.Collections.Generic
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

/// A shape class: its name and the shapes of the op's arguments.
type ShapeClass = { Class: string; Shapes: Shape list }

let private cls name (shapes: int list list) = { Class = name; Shapes = shapes |> List.map (fun dims -> Shape.Of(Array.ofList dims)) }

/// Every shape an element-wise op meets, one argument: one element (rank 0 and 1×1, the engine's unboxed
/// path), vectors, matrices, ranks 3 and 4.
let unaryClasses =
    [ cls "rank 0" [ [] ]; cls "1x1" [ [ 1; 1 ] ]; cls "vector" [ [ 4 ] ]; cls "matrix" [ [ 3; 4 ] ]
      cls "rank 3" [ [ 2; 3; 2 ] ]; cls "rank 4" [ [ 2; 1; 3; 2 ] ] ]

/// Two arguments: every unary class for both, and broadcast pairs (NumPy's rules, either side).
let binaryClasses =
    (unaryClasses |> List.map (fun c -> { c with Shapes = c.Shapes @ c.Shapes }))
    @ [ cls "3x4 with 1x4" [ [ 3; 4 ]; [ 1; 4 ] ]
        cls "3x4 with 3x1" [ [ 3; 4 ]; [ 3; 1 ] ]
        cls "3x4 with rank 0" [ [ 3; 4 ]; [] ]
        cls "rank 0 with 3x4" [ []; [ 3; 4 ] ]
        cls "1x1 with 2x3" [ [ 1; 1 ]; [ 2; 3 ] ]
        cls "4 with 3x4" [ [ 4 ]; [ 3; 4 ] ]
        cls "2x1x4 with 3x1" [ [ 2; 1; 4 ]; [ 3; 1 ] ]
        cls "2x3x1x2 with 3x4x1" [ [ 2; 3; 1; 2 ]; [ 3; 4; 1 ] ] ]

/// A row of the op table: the shape classes the op is checked on, and how to draw argument values that
/// keep it smooth (log's argument positive, div's denominator and relu's argument away from 0, solve's
/// matrix well conditioned, softmax_cross_entropy's targets distributions), by slot. Leaves have no
/// arguments and no VJP.
type Row =
    | Leaf of name: string
    | Compute of name: string * attributes: (string * double) list * classes: ShapeClass list * values: (int -> Random -> Shape -> Tensor)

    member r.Name =
        match r with
        | Leaf name
        | Compute(name, _, _, _) -> name

let private within lo hi = fun (_: int) (rnd: Random) shape -> tensorOfShape shape (fun () -> uniform rnd lo hi)
let private u = within -1.0 1.0
let private away lo hi = fun (_: int) (rnd: Random) shape -> tensorOfShape shape (fun () -> (if rnd.Next 2 = 0 then -1.0 else 1.0) * uniform rnd lo hi)
let private bySlot (first: int -> Random -> Shape -> Tensor) (second: int -> Random -> Shape -> Tensor) =
    fun slot rnd shape -> if slot = 0 then first slot rnd shape else second slot rnd shape

/// Every op of the catalogue; a new op without a row fails ``the table covers the catalogue``.
let table: Row list =
    [ Leaf "input"
      Leaf "parameter"
      Leaf "constant"
      Compute("add", [], binaryClasses, u)
      Compute("sub", [], binaryClasses, u)
      Compute("mul", [], binaryClasses, u)
      Compute("div", [], binaryClasses, bySlot u (away 0.5 2.0))
      Compute("pow", [], binaryClasses, bySlot (within 0.5 2.0) (within -2.0 2.0))
      Compute("neg", [], unaryClasses, u)
      Compute("scale", [ "factor", -2.5 ], unaryClasses, u)
      Compute("square", [], unaryClasses, within -2.0 2.0)
      Compute("sigmoid", [], unaryClasses, within -3.0 3.0)
      Compute("tanh", [], unaryClasses, within -2.0 2.0)
      Compute("relu", [], unaryClasses, away 0.1 2.0)
      Compute("exp", [], unaryClasses, u)
      Compute("log", [], unaryClasses, within 0.5 3.0)
      Compute("sin", [], unaryClasses, within -3.0 3.0)
      Compute("cos", [], unaryClasses, within -3.0 3.0)
      Compute("softplus", [], unaryClasses, within -4.0 4.0)
      Compute("matmul", [], [ cls "1x1 · 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 · 4x2" [ [ 3; 4 ]; [ 4; 2 ] ]
                              cls "1x4 · 4x1" [ [ 1; 4 ]; [ 4; 1 ] ]; cls "5x1 · 1x3" [ [ 5; 1 ]; [ 1; 3 ] ] ], u)
      Compute("transpose", [], [ cls "1x1" [ [ 1; 1 ] ]; cls "3x4" [ [ 3; 4 ] ]; cls "1x5" [ [ 1; 5 ] ] ], u)
      Compute("addrow", [], [ cls "1x1 + 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 + 1x4" [ [ 3; 4 ]; [ 1; 4 ] ] ], u)
      Compute("solve", [], [ cls "1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x3 · 3x2" [ [ 3; 3 ]; [ 3; 2 ] ]; cls "4x4 · 4x1" [ [ 4; 4 ]; [ 4; 1 ] ] ],
              bySlot (fun _ rnd shape -> wellConditioned rnd (shape.Dim 0)) u)
      Compute("sum", [], unaryClasses, u)
      Compute("mean", [], unaryClasses, u)
      Compute("sqnorm", [], unaryClasses, u)
      Compute("softmax_cross_entropy", [],
              [ cls "1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "vector" [ [ 4 ]; [ 4 ] ]; cls "matrix" [ [ 3; 4 ]; [ 3; 4 ] ]
                cls "rank 3" [ [ 2; 3; 4 ]; [ 2; 3; 4 ] ] ],
              bySlot (within -2.0 2.0) (fun _ rnd shape -> distributionsOf rnd shape)) ]

let private rowOf name = table |> List.find (fun r -> r.Name = name)

let private attributesOf (pairs: (string * double) list) =
    Dictionary<string, double>(dict pairs) :> IReadOnlyDictionary<_, _>

let private opOf (name: string) (attributes: (string * double) list) =
    match Catalogue.compute name (attributesOf attributes) with
    | Ok op -> op
    | Error m -> failwith m

/// (op, shape class, argument slot) for every compute op, every class of its row, each slot up to the
/// catalogue's arity.
let vjpCases =
    let cases = TheoryData<string, string, int>()
    for row in table do
        match row with
        | Compute(name, _, classes, _) ->
            for c in classes do
                for slot in 0 .. (Catalogue.tryFind name).Value.Arity - 1 do
                    cases.Add(name, c.Class, slot)
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

/// Arguments of a row's op for a shape class, drawn from its value makers.
let private argumentsOf (row: Row) (c: ShapeClass) (rnd: Random) =
    match row with
    | Compute(_, _, _, values) -> c.Shapes |> List.mapi (fun slot shape -> values slot rnd shape) |> Array.ofList
    | Leaf _ -> [||]

[<Theory>]
[<MemberData(nameof vjpCases)>]
let ``VJP of every op, shape class and slot equals the central difference of ⟨λ, f(x)⟩`` (name: string, shapeClass: string, slot: int) =
    match rowOf name with
    | Leaf _ -> failwith "leaves have no VJP"
    | Compute(_, attributes, classes, _) as row ->
        let op = opOf name attributes
        let c = classes |> List.find (fun c -> c.Class = shapeClass)
        let mutable worst = 0.0
        for trial in 0 .. 2 do
            let rnd = Random(stableSeed (name + shapeClass) + 1000 * slot + trial)
            let args = argumentsOf row c rnd
            Assert.Equal(op.Arity, args.Length)
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
        | Compute(name, attributes, classes, _) ->
            let op = opOf name attributes
            Assert.Equal(name, op.Name)
            if op.IsElementwise then
                Assert.Equal<string>((if op.Arity = 1 then unaryClasses else binaryClasses) |> List.map _.Class, classes |> List.map _.Class)
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
    let op = opOf "scale" [ "factor", -2.5 ]
    Assert.Equal(-2.5, op.Attributes["factor"])
    assertSameValues (Tensor(2, 1, [| -2.5; 5.0 |])) (apply op [| Tensor(2, 1, [| 1.0; -2.0 |]) |])
    Assert.Equal(Error "op 'scale' needs attribute 'factor'", Catalogue.compute "scale" (attributesOf []))
    Assert.Equal(Error "op 'sin' has no attribute 'factor'", Catalogue.compute "sin" (attributesOf [ "factor", 1.0 ]))
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
