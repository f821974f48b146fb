/// The linear-algebra, neural-network, loss and normalisation ops against independent references:
/// PyTorch's forwards and gradients (fixtures/nn, made by make.py), the N-d matmul against nested
/// loops, hand-computed values, the stability of the log-softmax, dropout's mask, and the errors.
module Adjoint.Tests.TestNn

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private errorOf (name: string) (attributes: (string * OpAttribute) list) =
    match Catalogue.compute name (Dictionary(dict attributes) :> IReadOnlyDictionary<_, _>) with
    | Ok _ -> failwith "expected an error"
    | Error m -> m

let private shapeError (op: Op) (shapes: int list list) =
    match op.Shape [| for s in shapes -> Shape.Of(Array.ofList s) |] with
    | Ok s -> failwith $"expected an error, got {s}"
    | Error m -> m

// ---- PyTorch fixtures ----

type private Case =
    { Name: string
      Op: Op
      Args: Tensor[]
      Adjoint: double[]
      Output: Tensor
      Grads: double[] option[]
      After: JsonElement option }

let private tensorOfJson (e: JsonElement) =
    let dims = [| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
    Tensor(Shape.Of dims, [| for v in e.GetProperty("values").EnumerateArray() -> v.GetDouble() |])

let private attributeOfJson (e: JsonElement) =
    match e.ValueKind with
    | JsonValueKind.True -> OpAttribute.Bool true
    | JsonValueKind.False -> OpAttribute.Bool false
    | JsonValueKind.String -> OpAttribute.Text(e.GetString())
    | _ when e.GetRawText().Contains '.' || e.GetRawText().Contains 'e' -> OpAttribute.Float(e.GetDouble())
    | _ -> OpAttribute.Int(e.GetInt32())

let private cases =
    lazy
        (let path = Path.Combine(repositoryRoot.Value, "tests", "Graph.Tests", "fixtures", "nn", "torch.json")
         let doc = JsonDocument.Parse(File.ReadAllText path)
         [ for c in doc.RootElement.GetProperty("cases").EnumerateArray() ->
               let attributes = [ for p in c.GetProperty("attributes").EnumerateObject() -> p.Name, attributeOfJson p.Value ]
               { Name = c.GetProperty("name").GetString()
                 Op = opOf (c.GetProperty("op").GetString()) attributes
                 Args = [| for a in c.GetProperty("args").EnumerateArray() -> tensorOfJson a |]
                 Adjoint = [| for v in c.GetProperty("adjoint").EnumerateArray() -> v.GetDouble() |]
                 Output = tensorOfJson (c.GetProperty "output")
                 Grads =
                   [| for g in c.GetProperty("grads").EnumerateArray() ->
                          if g.ValueKind = JsonValueKind.Null then None
                          else Some [| for v in g.EnumerateArray() -> v.GetDouble() |] |]
                 After = (match c.TryGetProperty "after" with | true, a -> Some a | _ -> None) } ])

let torchCases =
    let data = TheoryData<string>()
    for c in cases.Force() do
        data.Add c.Name
    data

/// |a − b| / max(|b|, 1e-3·max|expected|): relative, with a floor at a thousandth of the tensor's scale
/// so that an element that cancels to near 0 is judged on the scale of its neighbours.
let private worstError (actual: double[]) (expected: double[]) =
    Assert.Equal(expected.Length, actual.Length)
    let scale = 1e-3 * (if expected.Length = 0 then 1.0 else expected |> Array.map abs |> Array.max)
    Array.fold2 (fun w a b -> max w (relativeError (max scale 1e-300) a b)) 0.0 actual expected

[<Literal>]
let TorchTolerance = 1e-12

[<Theory>]
[<MemberData(nameof torchCases)>]
let ``forwards and VJPs equal PyTorch's to 1e-12 relative`` (name: string) =
    let c = cases.Force() |> List.find (fun c -> c.Name = name)
    let out = apply c.Op c.Args
    Assert.Equal(c.Output.Shape, out.Shape)
    let mutable worst = worstError out.Data c.Output.Data
    let lambda = Tensor(out.Shape, c.Adjoint)
    for slot in 0 .. c.Args.Length - 1 do
        match c.Grads[slot] with
        | Some g -> worst <- max worst (worstError (vjp c.Op c.Args out lambda slot).Data g)
        | None -> ()
    match c.After with
    | Some after ->
        let ids = [| "x"; "w"; "b"; "running_mean"; "running_var" |]
        let moved = Ops.Norm.runningStatistics [ c.Op, ids ] (fun id -> c.Args[Array.IndexOf(ids, id)])
        for key in [ "running_mean"; "running_var" ] do
            let expected = [| for v in after.GetProperty(key).EnumerateArray() -> v.GetDouble() |]
            worst <- max worst (worstError moved[key].Data expected)
    | None -> ()
    report $"{name}: worst relative error {worst:E2}"
    assertWithin TorchTolerance name worst

[<Fact>]
let ``the PyTorch fixtures cover every op of the family but dropout`` () =
    let ops = cases.Force() |> List.map _.Op.Name |> set
    for name in [ "matmul"; "linear"; "softmax"; "log_softmax"; "cross_entropy"; "mse"; "layer_norm"; "batch_norm" ] do
        Assert.Contains(name, ops)

// ---- N-d matmul against nested loops ----

/// C[t…, i, j] = Σ_k A[…, i, k] B[…, k, j] by NumPy's definition, written as loops over the broadcast
/// batch index: each operand's batch index is the result's, with 0 where the operand has size 1.
let private naiveMatmul (a: Tensor) (b: Tensor) =
    let ad = if a.Rank = 1 then [| 1; a.Shape.Dim 0 |] else Array.ofSeq a.Shape.Dims
    let bd = if b.Rank = 1 then [| b.Shape.Dim 0; 1 |] else Array.ofSeq b.Shape.Dims
    let r = max ad.Length bd.Length - 2
    let pad (d: int[]) = Array.append (Array.create (r - (d.Length - 2)) 1) d[.. d.Length - 3]
    let ba, bb = pad ad, pad bd
    let batch = Array.map2 max ba bb
    let m, k, n = ad[ad.Length - 2], ad[ad.Length - 1], bd[bd.Length - 1]
    let count = Array.fold (*) 1 batch
    let c = Array.zeroCreate (count * m * n)
    for t in 0 .. count - 1 do
        // The batch multi-index of t, and each operand's flat batch index.
        let mutable rest = t
        let index = Array.zeroCreate r
        for d in r - 1 .. -1 .. 0 do
            index[d] <- rest % batch[d]
            rest <- rest / batch[d]
        let flat (dims: int[]) = Array.fold2 (fun acc i dim -> acc * dim + (if dim = 1 then 0 else i)) 0 index dims
        let ta, tb = flat ba, flat bb
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable s = 0.0
                for p in 0 .. k - 1 do
                    s <- s + a.Data[(ta * m + i) * k + p] * b.Data[(tb * k + p) * n + j]
                c.[(t * m + i) * n + j] <- s
    let dims = Array.concat [ batch; (if a.Rank > 1 then [| m |] else [||]); (if b.Rank > 1 then [| n |] else [||]) ]
    Tensor(Shape.Of dims, c)

let private matmulShapes =
    [ [ 3; 4 ], [ 4; 2 ]; [ 4 ], [ 4; 3 ]; [ 3; 4 ], [ 4 ]; [ 5 ], [ 5 ]; [ 2; 3; 4 ], [ 2; 4; 5 ]
      [ 2; 1; 3; 4 ], [ 5; 4; 2 ]; [ 3; 4 ], [ 2; 4; 2 ]; [ 2; 3; 4 ], [ 4 ]; [ 4 ], [ 2; 4; 3 ]
      [ 1; 2; 3 ], [ 2; 3; 1 ]; [ 3; 1; 2; 5 ], [ 1; 4; 5; 3 ]; [ 2; 0; 3 ], [ 3; 2 ] ]

[<Fact>]
let ``N-d matmul equals NumPy's definition by nested loops, and its VJPs are the loops' adjoints`` () =
    let rnd = Random 14
    let mutable worst = 0.0
    for sa, sb in matmulShapes do
        let a = tensorOfShape (Shape.Of(Array.ofList sa)) (fun () -> uniform rnd -1.0 1.0)
        let b = tensorOfShape (Shape.Of(Array.ofList sb)) (fun () -> uniform rnd -1.0 1.0)
        let out = apply Ops.Linear.matmul [| a; b |]
        let expected = naiveMatmul a b
        Assert.Equal(expected.Shape, out.Shape)
        worst <- max worst (worstError out.Data expected.Data)
        // ⟨Λ, A B⟩ is bilinear, so its gradient in A is exactly ⟨Λ, E_k B⟩ for the unit tensors E_k.
        let lambda = tensorOfShape out.Shape (fun () -> uniform rnd -1.0 1.0)
        for slot, x in [ 0, a; 1, b ] do
            let analytic = vjp Ops.Linear.matmul [| a; b |] out lambda slot
            let byUnits =
                Array.init x.Count (fun k ->
                    let unit = Tensor(x.Shape, Array.init x.Count (fun j -> if j = k then 1.0 else 0.0))
                    inner lambda (if slot = 0 then naiveMatmul unit b else naiveMatmul a unit))
            worst <- max worst (worstError analytic.Data byUnits)
    report $"N-d matmul vs loops: worst relative error {worst:E2}"
    assertWithin 1e-14 "N-d matmul" worst

[<Fact>]
let ``a batch of one matrix gives the bits of the 2-D product, forward and VJPs`` () =
    let rnd = Random 3
    let a = tensorOfShape (Shape.Of(3, 40)) (fun () -> uniform rnd -1.0 1.0)
    let b = tensorOfShape (Shape.Of(40, 7)) (fun () -> uniform rnd -1.0 1.0)
    let a3 = a.Reshape(Shape.Of(1, 3, 40))
    let plain = apply Ops.Linear.matmul [| a; b |]
    let batched = apply Ops.Linear.matmul [| a3; b |]
    assertBitwise "forward" plain (batched.Reshape plain.Shape)
    let lambda = tensorOfShape plain.Shape (fun () -> uniform rnd -1.0 1.0)
    assertBitwise "Λ Bᵀ" (vjp Ops.Linear.matmul [| a; b |] plain lambda 0)
        ((vjp Ops.Linear.matmul [| a3; b |] batched (lambda.Reshape batched.Shape) 0).Reshape a.Shape)
    assertBitwise "Aᵀ Λ" (vjp Ops.Linear.matmul [| a; b |] plain lambda 1)
        (vjp Ops.Linear.matmul [| a3; b |] batched (lambda.Reshape batched.Shape) 1)

[<Fact>]
let ``matmul and linear name both shapes when they do not fit`` () =
    Assert.Equal("matmul needs inner dimensions to agree, got 3x4 and 5x2", shapeError Ops.Linear.matmul [ [ 3; 4 ]; [ 5; 2 ] ])
    Assert.Equal("matmul needs operands of rank ≥ 1, got scalar and 3", shapeError Ops.Linear.matmul [ []; [ 3 ] ])
    Assert.Equal("matmul needs batch dimensions that broadcast, got 2x3x4 and 3x4x2",
                 shapeError Ops.Linear.matmul [ [ 2; 3; 4 ]; [ 3; 4; 2 ] ])
    Assert.Equal("linear needs the weight's second dimension to be the input's last, got 3x4 and 2x5",
                 shapeError Ops.Linear.linear [ [ 3; 4 ]; [ 2; 5 ] ])
    Assert.Equal("linear needs a bias of shape (2), got 3", shapeError Ops.Linear.linear [ [ 3; 4 ]; [ 2; 4 ]; [ 3 ] ])
    Assert.False(Ops.Linear.linear.AcceptsArity 4)

// ---- softmax cross-entropy's stability ----

/// The loss the op computed before issue 14: log P = z − (m + ln Σ exp(z − m)), the shift added back
/// before the subtraction.
let private oldSoftmaxCrossEntropy (z: double[]) (y: double[]) =
    let peak = Array.max z
    let lse = peak + Math.Log(Array.sumBy (fun v -> Math.Exp(v - peak)) z)
    -(Array.fold2 (fun s zi yi -> s + yi * (zi - lse)) 0.0 z y)

let private newSoftmaxCrossEntropy (z: double[]) (y: double[]) =
    (apply Ops.Loss.softmaxCrossEntropy [| Tensor(Shape.Of z.Length, z); Tensor(Shape.Of y.Length, y) |]).Data[0]

[<Fact>]
let ``softmax cross-entropy keeps its digits when one class has probability near 1`` () =
    // −log softmax([1000, 999])₀ = ln(1 + e⁻¹), −log softmax([40, 0])₀ = ln(1 + e⁻⁴⁰) ≈ e⁻⁴⁰: the exact
    // values in closed form (ln(1 + x) for x = e⁻¹ and e⁻⁴⁰ to within an ulp by the series).
    let exact1 = 0.31326168751822283
    let x = Math.Exp -40.0
    let exact2 = x - x * x / 2.0
    let measure (z: double[]) exact =
        let before = relativeError 1e-300 (oldSoftmaxCrossEntropy z [| 1.0; 0.0 |]) exact
        let after = relativeError 1e-300 (newSoftmaxCrossEntropy z [| 1.0; 0.0 |]) exact
        report $"{z[0]}, {z[1]}: relative error before {before:E2}, now {after:E2}"
        struct (before, after)
    let struct (before1, after1) = measure [| 1000.0; 999.0 |] exact1
    let struct (before2, after2) = measure [| 40.0; 0.0 |] exact2
    // Before: the ulp of 1000 (1.1e-13) on a loss of 0.31, and the whole of a loss below ulp(40).
    Assert.True(before1 > 1e-14, $"{before1}")
    Assert.Equal(1.0, before2)
    assertWithin 4e-16 "[1000, 999]" after1
    assertWithin 4e-16 "[40, 0]" after2
    // Large logits with the mass on the smallest: 1000 − 0 exactly.
    Assert.Equal(1000.0, newSoftmaxCrossEntropy [| 1000.0; 0.0 |] [| 0.0; 1.0 |])
    Assert.Equal(0.0, newSoftmaxCrossEntropy [| 1000.0; 0.0 |] [| 1.0; 0.0 |])

[<Fact>]
let ``log_softmax and cross_entropy share the stable form: tiny losses keep their digits`` () =
    let x = Math.Exp -40.0
    let exact = -(x - x * x / 2.0)
    let logP = apply (opOf "log_softmax" []) [| Tensor(Shape.Of 2, [| 40.0; 0.0 |]) |]
    assertWithin 4e-16 "log_softmax([40, 0])₀" (relativeError 1e-300 logP.Data[0] exact)
    Assert.Equal(-40.0 + exact, logP.Data[1])
    let ce = apply (opOf "cross_entropy" []) [| Tensor(Shape.Of 2, [| 40.0; 0.0 |]); Tensor.Scalar 0.0 |]
    assertWithin 4e-16 "cross_entropy([40, 0], 0)" (relativeError 1e-300 ce.Data[0] -exact)

// ---- cross_entropy, mse ----

[<Fact>]
let ``cross_entropy by hand: labels, ignore_index, smoothing and probabilities`` () =
    let z = Tensor(Shape.Of(2, 3), [| 1.0; 2.0; 3.0; 0.0; 0.0; 0.0 |])
    let lse0 = Math.Log(Math.Exp 1.0 + Math.Exp 2.0 + Math.Exp 3.0)
    let logP0 c = double (c + 1) - lse0
    let loss (attributes: (string * OpAttribute) list) (target: Tensor) = (apply (opOf "cross_entropy" attributes) [| z; target |]).Data
    let loss0 attributes target = (loss attributes target).[0]
    let close (expected: double) (actual: double) = assertWithin 1e-15 $"{expected} vs {actual}" (relativeError 1.0 actual expected)
    close ((-logP0 2 + Math.Log 3.0) / 2.0) (loss0 [] (Tensor(Shape.Of 2, [| 2.0; 1.0 |])))
    // The second label ignored: the mean is over one position.
    close (-logP0 2) (loss0 [ "ignore_index", OpAttribute.Int 1 ] (Tensor(Shape.Of 2, [| 2.0; 1.0 |])))
    let none = loss [ "reduction", OpAttribute.Text "none"; "ignore_index", OpAttribute.Int 1 ] (Tensor(Shape.Of 2, [| 2.0; 1.0 |]))
    close (-logP0 2) none[0]
    Assert.Equal(0.0, none[1])
    // Smoothing ε = 0.3: (1 − ε)(−log P_y) + ε/3 Σ_c (−log P_c).
    let smoothed = 0.7 * -logP0 0 + 0.1 * -(logP0 0 + logP0 1 + logP0 2)
    close smoothed (loss0 [ "label_smoothing", OpAttribute.Float 0.3; "reduction", OpAttribute.Text "sum" ] (Tensor(Shape.Of 2, [| 0.0; -100.0 |])))
    // Probabilities of the logits' shape: −Σ_c t_c log P_c per row, mean over rows.
    let t = Tensor(Shape.Of(2, 3), [| 0.5; 0.5; 0.0; 0.0; 0.0; 1.0 |])
    close ((-(0.5 * logP0 0 + 0.5 * logP0 1) + Math.Log 3.0) / 2.0) (loss0 [] t)

[<Fact>]
let ``cross_entropy refuses a label out of range while evaluating, naming it and its position`` () =
    let op = opOf "cross_entropy" []
    let z = Tensor.Zeros(Shape.Of(4, 5))
    let e = throws<Ops.Linear.OpFailure> (fun () -> apply op [| z; Tensor(Shape.Of 4, [| 0.0; 1.0; 4.0; 7.0 |]) |] |> ignore)
    Assert.Equal("cross_entropy: label 7 at [3] is out of range for 5 classes", e.Data0)
    let e = throws<Ops.Linear.OpFailure> (fun () -> apply op [| Tensor.Zeros(Shape.Of(2, 3, 2)); Tensor(Shape.Of(2, 2), [| 0.0; 1.0; 2.0; -1.0 |]) |] |> ignore)
    Assert.Equal("cross_entropy: label -1 at [1, 1] is out of range for 3 classes", e.Data0)
    Assert.Equal("cross_entropy needs a target of shape 4 (class labels) or 4x5 (probabilities) for logits 4x5, got 5",
                 shapeError op [ [ 4; 5 ]; [ 5 ] ])
    Assert.Equal("cross_entropy needs logits of rank ≥ 1 (N, C, …) or (C), got scalar", shapeError op [ []; [] ])
    Assert.Equal(Error "cross_entropy needs int64 class labels or float64 probabilities as its target, got bool",
                 op.ElementType [| ElementType.Float64; ElementType.Bool |])
    Assert.Equal("op 'cross_entropy': label_smoothing must be in [0, 1], got 1.5",
                 errorOf "cross_entropy" [ "label_smoothing", OpAttribute.Float 1.5 ])
    Assert.Equal("op 'cross_entropy' attribute 'reduction' must be one of 'mean', 'sum', 'none', got 'avg'",
                 errorOf "cross_entropy" [ "reduction", OpAttribute.Text "avg" ])

[<Fact>]
let ``cross_entropy through the engine: an out-of-range label is an evaluation error naming the node`` () =
    let b = GraphBuilder()
    let z = b.Input("z", Shape.Of(2, 3))
    let y = b.TypedInput("y", Shape.Of 2, ElementType.Int64)
    let loss = b.CrossEntropy(z, y, id = "loss")
    let plan = Plan.Compile(b.Build loss)
    let e = Engine.gradient Adjoints.All plan (readOnly [ "z", Tensor.Zeros(Shape.Of(2, 3)); "y", Tensor(Shape.Of 2, [| 1.0; 2.0 |]) ])
    assertWithin 1e-15 "log 3" (relativeError 1.0 e.Output.Data[0] (Math.Log 3.0))
    let ex = throws<EvaluationException> (fun () -> Engine.evaluate plan (readOnly [ "z", Tensor.Zeros(Shape.Of(2, 3)); "y", Tensor(Shape.Of 2, [| 1.0; 3.0 |]) ]) |> ignore)
    Assert.Equal("loss", ex.Node)
    Assert.Contains("label 3 at [1] is out of range for 3 classes", ex.Message)

[<Fact>]
let ``mse by hand, and it needs one shape`` () =
    let a = Tensor(Shape.Of 3, [| 1.0; 2.0; 4.0 |])
    let b = Tensor(Shape.Of 3, [| 0.0; 4.0; 4.0 |])
    Assert.Equal(5.0 / 3.0, (apply (opOf "mse" []) [| a; b |]).Data[0])
    Assert.Equal(5.0, (apply (opOf "mse" [ "reduction", OpAttribute.Text "sum" ]) [| a; b |]).Data[0])
    Assert.Equal<double[]>([| 1.0; 4.0; 0.0 |], (apply (opOf "mse" [ "reduction", OpAttribute.Text "none" ]) [| a; b |]).Data)
    Assert.Equal("mse needs a and b of one shape, got 3 and 1x3", shapeError (opOf "mse" []) [ [ 3 ]; [ 1; 3 ] ])

// ---- dropout ----

[<Fact>]
let ``dropout keeps about 1 − p of the elements, scaled by 1/(1 − p), the same every time for one seed and key`` () =
    let x = Tensor(Shape.Of 100_000, Array.create 100_000 1.0)
    let key k = Tensor.Scalar(double k)
    let op = opOf "dropout" [ "p", OpAttribute.Float 0.3; "seed", OpAttribute.Int 5 ]
    let y = apply op [| x; key 1 |]
    let kept = y.Data |> Array.filter (fun v -> v <> 0.0)
    Assert.All(kept, fun v -> Assert.Equal(1.0 / 0.7, v))
    let fraction = double kept.Length / 100_000.0
    report $"kept {fraction} of 100000 at p = 0.3"
    // Binomial: σ = √(0.21/10⁵) ≈ 0.0014; 5σ.
    Assert.InRange(fraction, 0.7 - 0.0073, 0.7 + 0.0073)
    assertBitwise "same seed and key" y (apply op [| x; key 1 |])
    let other = apply op [| x; key 2 |]
    let differ = Array.map2 (fun a b -> (a = 0.0) <> (b = 0.0)) y.Data other.Data |> Array.filter id |> Array.length
    // Independent masks differ at 2·0.3·0.7 = 42% of the elements.
    Assert.InRange(double differ / 100_000.0, 0.40, 0.44)
    let otherSeed = apply (opOf "dropout" [ "p", OpAttribute.Float 0.3; "seed", OpAttribute.Int 6 ]) [| x; key 1 |]
    Assert.False(Tensor.BitwiseEqual(y, otherSeed))
    // The VJP is the same mask and scale on λ.
    let lambda = Tensor(x.Shape, Array.init x.Count (fun k -> double (k % 7) - 3.0))
    let d = vjp op [| x; key 1 |] y lambda 0
    for k in 0 .. x.Count - 1 do
        Assert.Equal((if y.Data[k] = 0.0 then 0.0 else lambda.Data[k] / 0.7), d.Data[k])
    Assert.True(Array.forall ((=) 0.0) (vjp op [| x; key 1 |] y lambda 1).Data)

[<Fact>]
let ``dropout's edge cases: not training, p = 0 and p = 1, and what it refuses`` () =
    let rnd = Random 2
    let x = tensorOfShape (Shape.Of(3, 4)) (fun () -> uniform rnd -1.0 1.0)
    assertBitwise "not training" x (apply (opOf "dropout" [ "training", OpAttribute.Bool false ]) [| x |])
    assertBitwise "p = 0" x (apply (opOf "dropout" [ "p", OpAttribute.Float 0.0 ]) [| x |])
    Assert.True((apply (opOf "dropout" [ "p", OpAttribute.Float 1.0 ]) [| x |]).Data |> Array.forall ((=) 0.0))
    Assert.Equal("op 'dropout': dropout needs p in [0, 1], got 1.5", errorOf "dropout" [ "p", OpAttribute.Float 1.5 ])
    Assert.Equal("op 'dropout': dropout needs p in [0, 1], got -0.1", errorOf "dropout" [ "p", OpAttribute.Float -0.1 ])
    let op = opOf "dropout" []
    Assert.Equal("dropout needs a scalar key, got 2", shapeError op [ [ 3 ]; [ 2 ] ])
    Assert.Equal(Error "dropout needs an int64 key, got float64", op.ElementType [| ElementType.Float64; ElementType.Float64 |])
    Assert.False(op.AcceptsArity 3)

// ---- layer_norm, batch_norm ----

[<Fact>]
let ``layer_norm and batch_norm by hand`` () =
    // One group [1, 2, 3]: μ = 2, σ² = 2/3.
    let r = 1.0 / Math.Sqrt(2.0 / 3.0 + 1e-5)
    let y = apply (opOf "layer_norm" []) [| Tensor(Shape.Of 3, [| 1.0; 2.0; 3.0 |]) |]
    Assert.Equal<double[]>([| -r; 0.0; r |], y.Data)
    let y = apply (opOf "layer_norm" []) [| Tensor(Shape.Of 3, [| 1.0; 2.0; 3.0 |]); Tensor(Shape.Of 3, [| 2.0; 2.0; 2.0 |]); Tensor(Shape.Of 3, [| 1.0; 1.0; 1.0 |]) |]
    Assert.Equal<double[]>([| 1.0 - 2.0 * r; 1.0; 1.0 + 2.0 * r |], y.Data)
    // batch_norm of x (2, 1): channel values [1, 3], μ = 2, σ² = 1; running: (1 − 0.1)·0 + 0.1·2 and
    // (1 − 0.1)·1 + 0.1·2 (unbiased variance 2).
    let x = Tensor(Shape.Of(2, 1), [| 1.0; 3.0 |])
    let one = Tensor(Shape.Of 1, [| 1.0 |])
    let zero = Tensor(Shape.Of 1, [| 0.0 |])
    let op = opOf "batch_norm" []
    let s = 1.0 / Math.Sqrt(1.0 + 1e-5)
    Assert.Equal<double[]>([| -s; s |], (apply op [| x; one; zero; zero; one |]).Data)
    let moved = Ops.Norm.runningStatistics [ op, [| "x"; "w"; "b"; "m"; "v" |] ] (fun id -> if id = "x" then x elif id = "m" then zero else one)
    Assert.Equal(0.2, moved["m"].Data[0], 15)
    Assert.Equal(0.9 + 0.2, moved["v"].Data[0], 15)
    let inference = opOf "batch_norm" [ "training", OpAttribute.Bool false ]
    Assert.Empty(Ops.Norm.runningStatistics [ inference, [| "x"; "w"; "b"; "m"; "v" |] ] (fun _ -> failwith "not read"))
    Assert.Equal<double[]>([| s; 3.0 * s |], (apply inference [| x; one; zero; zero; one |]).Data)

[<Fact>]
let ``layer_norm and batch_norm refuse what does not fit`` () =
    Assert.Equal("layer_norm needs a weight of shape 4 (the last 1 of 3x4), got 3", shapeError (opOf "layer_norm" []) [ [ 3; 4 ]; [ 3 ] ])
    Assert.Equal("layer_norm needs a bias of shape 3x4 (the last 2 of 2x3x4), got 4",
                 shapeError (opOf "layer_norm" [ "dims", OpAttribute.Int 2 ]) [ [ 2; 3; 4 ]; [ 3; 4 ]; [ 4 ] ])
    Assert.Equal("layer_norm needs an input of rank ≥ 2 (dims = 2), got 4", shapeError (opOf "layer_norm" [ "dims", OpAttribute.Int 2 ]) [ [ 4 ] ])
    Assert.Equal("op 'layer_norm': layer_norm needs dims ≥ 1, got 0", errorOf "layer_norm" [ "dims", OpAttribute.Int 0 ])
    let bn = opOf "batch_norm" []
    Assert.Equal("batch_norm needs an input of rank ≥ 2 (N, C, …), got 3", shapeError bn [ [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ] ])
    Assert.Equal("batch_norm needs a running_var of shape 3 for an input 2x3, got 2", shapeError bn [ [ 2; 3 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 2 ] ])
    Assert.Equal("batch_norm in training needs more than one value per channel, got an input 1x3",
                 shapeError bn [ [ 1; 3 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ] ])

[<Fact>]
let ``a training loop with batch_norm: the graph's running statistics move as PyTorch's do`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(4, 2))
    let w = b.Parameter("w", Tensor(Shape.Of 2, [| 1.0; 2.0 |]))
    let bias = b.Parameter("bias", Tensor(Shape.Of 2, [| 0.0; 0.5 |]))
    let m = b.Constant("m", Tensor(Shape.Of 2, [| 0.0; 0.0 |]))
    let v = b.Constant("v", Tensor(Shape.Of 2, [| 1.0; 1.0 |]))
    let y = b.BatchNorm(x, w, bias, m, v, momentum = 0.5)
    let graph = b.Build(b.Sum(b.Square y))
    let xs = Tensor(Shape.Of(4, 2), [| 1.0; 0.0; 2.0; 0.0; 3.0; 0.0; 4.0; 4.0 |])
    let e = Engine.gradient Adjoints.All (Plan.Compile graph) (readOnly [ "x", xs ])
    let moved = Ops.Norm.runningStatistics [ for n in graph.Nodes -> n.Op, n.Ancestors ] e.Value
    // Channel 0: [1, 2, 3, 4], μ = 2.5, unbiased σ² = 5/3; channel 1: [0, 0, 0, 4], μ = 1, σ² = 4.
    Assert.Equal<double[]>([| 1.25; 0.5 |], moved["m"].Data)
    Assert.Equal(0.5 + 0.5 * 5.0 / 3.0, moved["v"].Data[0], 15)
    Assert.Equal(0.5 + 0.5 * 4.0, moved["v"].Data[1], 15)
