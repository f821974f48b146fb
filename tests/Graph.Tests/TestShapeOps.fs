/// The shape and indexing ops (Ops/Shape.fs, Ops/Index.fs): forwards and VJPs against NumPy and PyTorch
/// (fixtures/shape_ops, made by make.py), against naive loops on many shapes, by hand; their errors;
/// their element types; graph files that use their attributes.
module Adjoint.Tests.TestShapeOps

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private ints (xs: int list) = OpAttribute.Ints(Array.ofList xs)

/// The error of making the op, or of its shape rule on those argument shapes.
let private errorOf (name: string) (pairs: (string * OpAttribute) list) (shapes: Shape list) =
    match Catalogue.compute name (attributesOf pairs) with
    | Error m -> m
    | Ok op ->
        match op.Shape(Array.ofList shapes) with
        | Error m -> m
        | Ok s -> failwith $"{name} accepted {shapes} and gave {s}"

let private vector (xs: double list) = Tensor(Shape.Of xs.Length, Array.ofList xs)

// ---- NumPy and PyTorch fixtures ----

type private Case =
    { Name: string
      Op: Op
      Args: (Tensor * string)[]
      Output: Tensor
      Lambda: double[]
      Grads: double[] option[] }

let private tensorOf (e: JsonElement) =
    let shape = Shape.Of([| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |])
    Tensor(shape, [| for v in e.GetProperty("data").EnumerateArray() -> v.GetDouble() |])

/// An attribute as graph files write it: a list of integers, an integer, or a number.
let private attributeOf (e: JsonElement) =
    match e.ValueKind with
    | JsonValueKind.Array -> OpAttribute.Ints [| for x in e.EnumerateArray() -> x.GetInt32() |]
    | _ when e.GetRawText().Contains '.' -> OpAttribute.Float(e.GetDouble())
    | _ -> OpAttribute.Int(e.GetInt32())

let private cases =
    lazy
        (let path = Path.Combine(repositoryRoot.Value, "tests", "Graph.Tests", "fixtures", "shape_ops", "cases.json")
         use doc = JsonDocument.Parse(File.ReadAllText path)
         [ for c in doc.RootElement.GetProperty("cases").EnumerateArray() ->
               let name = c.GetProperty("name").GetString()
               let pairs = [ for p in c.GetProperty("attributes").EnumerateObject() -> p.Name, attributeOf p.Value ]
               { Name = name
                 Op = opOf (c.GetProperty("op").GetString()) pairs
                 Args = [| for a in c.GetProperty("args").EnumerateArray() -> tensorOf a, a.GetProperty("dtype").GetString() |]
                 Output = tensorOf (c.GetProperty "output")
                 Lambda = [| for v in c.GetProperty("lam").EnumerateArray() -> v.GetDouble() |]
                 Grads =
                   [| for g in c.GetProperty("grads").EnumerateArray() ->
                          if g.ValueKind = JsonValueKind.Null then None
                          else Some [| for v in g.EnumerateArray() -> v.GetDouble() |] |] } ])

let caseNames =
    let data = TheoryData<string>()
    for c in cases.Value do
        data.Add c.Name
    data

/// VJPs that sum several terms (repeats of a broadcast or of an index) may differ from PyTorch's sums
/// in the last bits; every other VJP is a copy of λ and must be exact.
[<Literal>]
let SumTolerance = 1e-15

[<Theory>]
[<MemberData(nameof caseNames)>]
let ``forward equals NumPy exactly and every float argument's VJP equals PyTorch's`` (name: string) =
    let c = cases.Value |> List.find (fun c -> c.Name = name)
    let args = c.Args |> Array.map fst
    let out = apply c.Op args
    assertSameValues c.Output out
    let lambda = Tensor(out.Shape, c.Lambda)
    for slot in 0 .. args.Length - 1 do
        match c.Grads[slot] with
        | None -> Assert.NotEqual<string>("float64", snd c.Args[slot])
        | Some expected ->
            let actual = vjp c.Op args out lambda slot
            let expected = Tensor(args[slot].Shape, expected)
            match c.Op.Name with
            | "broadcast_to"
            | "gather"
            | "where" ->
                let worst = Array.map2 (relativeError 1.0) expected.Data actual.Data |> Array.max
                assertWithin SumTolerance $"{name} slot {slot}" worst
            | _ -> assertSameValues expected actual

[<Fact>]
let ``the fixtures cover every op of the family`` () =
    let names = cases.Value |> List.map _.Op.Name |> List.distinct |> List.sort
    // one_hot and scatter_add (the VJP graphs of labelled cross_entropy and of gather) are checked in the op
    // table (tests/OpTable/Rows/Index.fs) and through the HVPs of TestHigher, not by PyTorch fixtures.
    let family =
        (Ops.Shape.entries @ Ops.Index.entries) |> List.map _.Name |> List.filter (fun n -> n <> "one_hot" && n <> "scatter_add") |> List.sort
    Assert.Equal<string>(family, names)

// ---- Against naive loops ----

/// z[i] = x[i permuted], by nested index arithmetic on every element.
let private naivePermute (x: Tensor) (perm: int[]) =
    let dims = perm |> Array.map (fun p -> x.Shape.Dim p)
    let out = Tensor(Shape.Of dims)
    for k in 0 .. out.Count - 1 do
        let i = out.Shape.Unravel k
        let source = Array.zeroCreate x.Rank
        for d in 0 .. perm.Length - 1 do
            source[perm[d]] <- i[d]
        out.Data[k] <- x.At source
    out

[<Fact>]
let ``permute and transpose equal a naive index map on random shapes of rank 1 to 5, and their VJPs map back`` () =
    let rnd = Random 1401
    for _ in 1 .. 200 do
        let rank = rnd.Next(1, 6)
        let dims = Array.init rank (fun _ -> rnd.Next(1, 4))
        let x = tensorOfShape (Shape.Of dims) (fun () -> uniform rnd -1.0 1.0)
        let perm = Array.init rank id
        rnd.Shuffle perm
        let written = perm |> Array.map (fun p -> if rnd.Next 2 = 0 then p - rank else p)
        let op = opOf "permute" [ "axes", OpAttribute.Ints written ]
        let z = apply op [| x |]
        assertSameValues (naivePermute x perm) z
        // The VJP is the inverse permutation: applied to z it gives x back.
        assertSameValues x (vjp op [| x |] z z 0)
        let a = rnd.Next rank
        let b = rnd.Next rank
        let swap = Array.init rank id
        swap[a] <- b
        swap[b] <- a
        let t = opOf "transpose" [ "dim0", OpAttribute.Int a; "dim1", OpAttribute.Int(b - rank) ]
        assertSameValues (naivePermute x swap) (apply t [| x |])

/// The indices Python's slice(start, stop, step).indices(n) walks, by its definition.
let private pythonRange (n: int) (start: int) (stop: int) (step: int) =
    let adjust v lo hi = if v < 0 then max lo (v + n) else min hi v
    let lo, hi = if step > 0 then 0, n else -1, n - 1
    let a = adjust start lo hi
    let b = adjust stop lo hi
    [ let mutable i = a
      while (if step > 0 then i < b else i > b) do
          yield i
          i <- i + step ]

[<Fact>]
let ``slice equals Python's slice indices on random starts, stops and steps, and its VJP scatters into zeros`` () =
    let rnd = Random 1402
    let mutable tried = 0
    while tried < 300 do
        let rank = rnd.Next(1, 4)
        let dims = Array.init rank (fun _ -> rnd.Next(1, 6))
        let x = tensorOfShape (Shape.Of dims) (fun () -> uniform rnd 1.0 2.0)
        let axis = rnd.Next rank
        let n = dims[axis]
        let start, stop = rnd.Next(-n - 3, n + 4), rnd.Next(-n - 3, n + 4)
        let step = (if rnd.Next 2 = 0 then -1 else 1) * rnd.Next(1, 4)
        let picked = pythonRange n start stop step
        let op = opOf "slice" [ "starts", ints [ start ]; "stops", ints [ stop ]; "axes", ints [ axis - rank ]; "steps", ints [ step ] ]
        // An empty selection is an error (graphs hold no empty tensors).
        if picked.IsEmpty then Assert.True(Result.isError (op.Shape [| x.Shape |]), $"{n}, {start}:{stop}:{step}")
        else
            tried <- tried + 1
            let z = apply op [| x |]
            let expectedDims = Array.copy dims
            expectedDims[axis] <- picked.Length
            Assert.Equal(Shape.Of expectedDims, z.Shape)
            for k in 0 .. z.Count - 1 do
                let i = z.Shape.Unravel k
                i[axis] <- picked[i[axis]]
                Assert.Equal(x.At i, z.Data[k])
            // The VJP of λ = z puts x's elements back where they came from, zeros elsewhere.
            let back = vjp op [| x |] z z 0
            for k in 0 .. x.Count - 1 do
                let i = x.Shape.Unravel k
                Assert.Equal((if List.contains i[axis] picked then x.Data[k] else 0.0), back.Data[k])

// ---- By hand ----

[<Fact>]
let ``hand-computed values: slices, pads, gather's scatter-add over repeated indices, where`` () =
    let x = vector [ 0.0; 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 ]
    let sl starts stops steps = apply (opOf "slice" [ "starts", ints starts; "stops", ints stops; "steps", ints steps ]) [| x |]
    assertSameValues (vector [ 5.0; 3.0; 1.0 ]) (sl [ 5 ] [ -8 ] [ -2 ])
    assertSameValues (vector [ 6.0; 5.0; 4.0; 3.0; 2.0; 1.0; 0.0 ]) (sl [ -1 ] [ Int32.MinValue ] [ -1 ])
    assertSameValues (vector [ 4.0; 5.0 ]) (sl [ -3 ] [ -1 ] [ 1 ])
    let padded = apply (opOf "pad" [ "pads", ints [ 1; 2 ]; "value", OpAttribute.Float 9.0 ]) [| vector [ 1.0; 2.0 ] |]
    assertSameValues (vector [ 9.0; 1.0; 2.0; 9.0; 9.0 ]) padded
    let m = Tensor.OfRows [| [| 1.0; 2.0 |]; [| 3.0; 4.0 |] |]
    let mPadded = apply (opOf "pad" [ "pads", ints [ 1; 0; 0; 1 ] ]) [| m |]
    assertSameValues (Tensor.OfRows [| [| 0.0; 0.0; 0.0 |]; [| 1.0; 2.0; 0.0 |]; [| 3.0; 4.0; 0.0 |] |]) mPadded
    let g = opOf "gather" []
    let data = vector [ 10.0; 20.0; 30.0 ]
    let idx = vector [ 2.0; 0.0; -1.0 ]
    let z = apply g [| data; idx |]
    assertSameValues (vector [ 30.0; 10.0; 30.0 ]) z
    assertSameValues (vector [ 2.0; 0.0; 5.0 ]) (vjp g [| data; idx |] z (vector [ 1.0; 2.0; 4.0 ]) 0)
    assertSameValues (vector [ 0.0; 0.0; 0.0 ]) (vjp g [| data; idx |] z (vector [ 1.0; 2.0; 4.0 ]) 1)
    let w = Ops.Index.where
    let mask = vector [ 1.0; 0.0; 1.0 ]
    let a = Tensor.Scalar 7.0
    let b = vector [ 1.0; 2.0; 3.0 ]
    let zw = apply w [| mask; a; b |]
    assertSameValues (vector [ 7.0; 2.0; 7.0 ]) zw
    let l = vector [ 0.5; 0.25; 2.0 ]
    assertSameValues (Tensor.Scalar 2.5) (vjp w [| mask; a; b |] zw l 1)
    assertSameValues (vector [ 0.0; 0.25; 0.0 ]) (vjp w [| mask; a; b |] zw l 2)

[<Fact>]
let ``a matrix transposes as before: the default transpose, by name and from the builder, is Xᵀ`` () =
    let x = Tensor.OfRows [| [| 1.0; 2.0; 3.0 |]; [| 4.0; 5.0; 6.0 |] |]
    let expected = Tensor.OfRows [| [| 1.0; 4.0 |]; [| 2.0; 5.0 |]; [| 3.0; 6.0 |] |]
    assertSameValues expected (apply (opOf "transpose" []) [| x |])
    assertSameValues expected (apply Ops.Shape.transpose [| x |])
    // A version-1 graph file's transpose, without attributes, loads and computes the same.
    let text =
        """{ "version": 1, "output": "t", "nodes": [ { "id": "x", "op": "input", "shape": [2, 3] },
             { "id": "t", "op": "transpose", "ancestors": ["x"] } ] }"""
    let e = Engine.evaluate (Plan.Compile(GraphFile.parse text null)) (readOnly [ "x", x ])
    assertSameValues expected e.Output
    let b = GraphBuilder()
    let t = b.Transpose(b.Input("x", Shape.Of(2, 3)))
    Assert.Equal(Shape.Of(3, 2), t.Shape)

// ---- Errors ----

[<Fact>]
let ``bad attributes are refused when the op is made, saying what was expected`` () =
    let made name pairs =
        match Catalogue.compute name (attributesOf pairs) with
        | Error m -> m
        | Ok _ -> failwith $"{name} accepted {pairs}"
    Assert.Equal("op 'reshape': reshape may infer one dimension (one -1), got [2, -1, -1]", made "reshape" [ "shape", ints [ 2; -1; -1 ] ])
    Assert.Equal("op 'reshape': reshape needs positive dimensions (or one -1), got [2, 0]", made "reshape" [ "shape", ints [ 2; 0 ] ])
    Assert.Equal("op 'slice': slice steps must not be 0, got [1, 0]", made "slice" [ "starts", ints [ 0; 0 ]; "stops", ints [ 1; 1 ]; "steps", ints [ 1; 0 ] ])
    Assert.Equal("op 'slice': slice needs as many stops as starts, got [0] and [1, 2]", made "slice" [ "starts", ints [ 0 ]; "stops", ints [ 1; 2 ] ])
    Assert.Equal("op 'slice': slice needs as many axes as starts, got [0, 1] for [0]", made "slice" [ "starts", ints [ 0 ]; "stops", ints [ 1 ]; "axes", ints [ 0; 1 ] ])
    Assert.Equal("op 'split': split needs positive sizes, got [2, 0]", made "split" [ "sizes", ints [ 2; 0 ]; "index", OpAttribute.Int 0 ])
    Assert.Equal("op 'split': split index 2 is out of range for 2 pieces", made "split" [ "sizes", ints [ 2; 1 ]; "index", OpAttribute.Int 2 ])
    Assert.Equal("op 'split' needs attribute 'index'", made "split" [ "sizes", ints [ 2; 1 ] ])
    Assert.Equal("op 'pad': pad needs pads of 0 or more, got [1, -1]", made "pad" [ "pads", ints [ 1; -1 ] ])
    Assert.Equal("op 'broadcast_to': broadcast_to needs positive dimensions, got [2, 0]", made "broadcast_to" [ "shape", ints [ 2; 0 ] ])
    Assert.Equal("op 'permute' needs attribute 'axes'", made "permute" [])

[<Fact>]
let ``shapes that do not fit are refused by the shape rule, naming both`` () =
    let s (dims: int list) = Shape.Of(Array.ofList dims)
    Assert.Equal("reshape cannot make [5, -1] from 3x4 (12 elements)", errorOf "reshape" [ "shape", ints [ 5; -1 ] ] [ s [ 3; 4 ] ])
    Assert.Equal("reshape cannot make [2, 5] from 3x4 (12 elements)", errorOf "reshape" [ "shape", ints [ 2; 5 ] ] [ s [ 3; 4 ] ])
    Assert.Equal("flatten: start_dim 2 comes after end_dim 1 in a tensor of rank 3", errorOf "flatten" [ "start_dim", OpAttribute.Int 2; "end_dim", OpAttribute.Int 1 ] [ s [ 2; 3; 4 ] ])
    Assert.Equal("flatten: start_dim 3 or end_dim -1 is out of range for rank 3", errorOf "flatten" [ "start_dim", OpAttribute.Int 3 ] [ s [ 2; 3; 4 ] ])
    Assert.Equal("squeeze: dimension 1 of 2x3 has size 3, not 1", errorOf "squeeze" [ "axes", ints [ -1 ] ] [ s [ 2; 3 ] ])
    Assert.Equal("squeeze: axis 2 is out of range for rank 2", errorOf "squeeze" [ "axes", ints [ 2 ] ] [ s [ 2; 1 ] ])
    Assert.Equal("unsqueeze: axis -3 (that is 0) is given twice", errorOf "unsqueeze" [ "axes", ints [ 0; -3 ] ] [ s [ 2 ] ])
    Assert.Equal("permute: axis -2 (that is 0) is given twice", errorOf "permute" [ "axes", ints [ 0; -2 ] ] [ s [ 2; 3 ] ])
    Assert.Equal("permute needs 3 axes for a tensor of rank 3, got [1, 0]", errorOf "permute" [ "axes", ints [ 1; 0 ] ] [ s [ 2; 3; 4 ] ])
    Assert.Equal("transpose: axes -2 and -1 are out of range for rank 1", errorOf "transpose" [] [ s [ 4 ] ])
    Assert.Equal("broadcast_to cannot broadcast 2x3 to 3x3", errorOf "broadcast_to" [ "shape", ints [ 3; 3 ] ] [ s [ 2; 3 ] ])
    Assert.Equal("broadcast_to cannot broadcast 1x3 to 3", errorOf "broadcast_to" [ "shape", ints [ 3 ] ] [ s [ 1; 3 ] ])
    Assert.Equal("slice selects no element of axis 0 (size 5) with start 3, stop 1, step 1", errorOf "slice" [ "starts", ints [ 3 ]; "stops", ints [ 1 ] ] [ s [ 5 ] ])
    Assert.Equal("slice: axis 1 is out of range for rank 1", errorOf "slice" [ "starts", ints [ 0 ]; "stops", ints [ 1 ]; "axes", ints [ 1 ] ] [ s [ 5 ] ])
    Assert.Equal("concat along axis 0 needs equal dimensions elsewhere, got 2x3 and 2x4", errorOf "concat" [] [ s [ 2; 3 ]; s [ 2; 4 ] ])
    Assert.Equal("concat along axis 0 needs equal dimensions elsewhere, got 2x3 and 6", errorOf "concat" [] [ s [ 2; 3 ]; s [ 6 ] ])
    Assert.Equal("concat: axis 0 is out of range for rank 0 (got scalar)", errorOf "concat" [] [ s [] ])
    Assert.Equal("split: sizes [2, 2] sum to 4, not to dimension 0 of 5x2", errorOf "split" [ "sizes", ints [ 2; 2 ]; "index", OpAttribute.Int 0 ] [ s [ 5; 2 ] ])
    Assert.Equal("pad needs 2 pads (before, after) per axis, 4 for 2x3, got [1, 1]", errorOf "pad" [ "pads", ints [ 1; 1 ] ] [ s [ 2; 3 ] ])
    Assert.Equal("gather: axis 2 is out of range for data of rank 2 (got 2x3)", errorOf "gather" [ "axis", OpAttribute.Int 2 ] [ s [ 2; 3 ]; s [ 4 ] ])
    Assert.Equal("where cannot broadcast the mask 2x3 with 3 and 2", errorOf "where" [] [ s [ 2; 3 ]; s [ 3 ]; s [ 2 ] ])

[<Fact>]
let ``concat refuses no ancestors, from the builder, with its arity "at least 1"`` () =
    let b = GraphBuilder()
    let e = graphError (fun () -> b.Concat([||], 0, "c") |> ignore)
    Assert.Equal(WrongArity("c", "concat", "at least 1", 0), e)
    let entry = (Catalogue.tryFind "concat").Value
    Assert.Equal("at least 1", entry.Arity)
    Assert.Equal(1, entry.MinArity)

[<Fact>]
let ``gather fails on an index out of range at evaluation, naming the index, node and op`` () =
    let b = GraphBuilder()
    let data = b.Input("data", Shape.Of(3, 2))
    let idx = b.TypedInput("idx", Shape.Of 2, ElementType.Int64)
    let g = b.Gather(data, idx, 0, "g")
    let plan = Plan.Compile(b.Build(b.Sum g))
    let run (indices: double list) =
        Engine.evaluate plan (readOnly [ "data", Tensor(3, 2, Array.init 6 double); "idx", vector indices ])
    assertSameValues (Tensor.Scalar(4.0 + 5.0 + 0.0 + 1.0)) (run [ 2.0; -3.0 ]).Output
    for indices, bad, at in [ [ 0.0; 3.0 ], "3", 1; [ -4.0; 0.0 ], "-4", 0 ] do
        let e = throws<EvaluationException> (fun () -> run indices |> ignore)
        Assert.Equal("g", e.Node)
        Assert.Equal("gather", e.Op)
        Assert.Equal($"gather: index {bad} at flat position {at} of the indices is out of range for axis 0 of size 3", e.Reason)

// ---- Element types ----

[<Fact>]
let ``shape ops keep their argument's element type; concat of mixed types is float64; gather and where check theirs`` () =
    let b = GraphBuilder()
    let labels = b.TypedInput("labels", Shape.Of(2, 3), ElementType.Int64)
    let mask = b.TypedInput("mask", Shape.Of(2, 3), ElementType.Bool)
    let x = b.Input("x", Shape.Of(2, 3))
    let typeOf node = b.ElementTypeOf node
    Assert.Equal(ElementType.Int64, typeOf (b.Reshape(labels, [| -1 |])))
    Assert.Equal(ElementType.Int64, typeOf (b.Slice(labels, [| 1 |], [| 2 |])))
    Assert.Equal(ElementType.Int64, typeOf (b.Transpose labels))
    Assert.Equal(ElementType.Bool, typeOf (b.Permute(mask, [| 1; 0 |])))
    Assert.Equal(ElementType.Bool, typeOf (b.BroadcastTo(mask, [| 4; 2; 3 |])))
    Assert.Equal(ElementType.Int64, typeOf (b.Split(labels, 1, [| 1; 2 |])[1]))
    Assert.Equal(ElementType.Int64, typeOf (b.Concat([| labels; labels |])))
    Assert.Equal(ElementType.Float64, typeOf (b.Concat([| labels; x |])))
    Assert.Equal(ElementType.Float64, typeOf (b.Concat([| labels; mask |])))
    Assert.Equal(ElementType.Int64, typeOf (b.Pad(labels, [| 1; 0; 0; 1 |], 3.0)))
    Assert.Equal(ElementType.Int64, typeOf (b.Gather(labels, b.Flatten labels, 1)))
    Assert.Equal(ElementType.Float64, typeOf (b.Gather(x, b.Flatten labels, 1)))
    Assert.Equal(ElementType.Int64, typeOf (b.Where(mask, labels, labels)))
    Assert.Equal(ElementType.Float64, typeOf (b.Where(mask, labels, x)))
    let mismatch f = graphError f
    Assert.Equal(TypeMismatch("p", "pad", "pad value 0.5 is not an integer, so it cannot pad an int64 tensor"),
                 mismatch (fun () -> b.Pad(labels, [| 1; 0; 0; 1 |], 0.5, "p") |> ignore))
    Assert.Equal(TypeMismatch("p2", "pad", "pad value 2 is not 0 or 1, so it cannot pad a bool tensor"),
                 mismatch (fun () -> b.Pad(mask, [| 1; 0; 0; 1 |], 2.0, "p2") |> ignore))
    Assert.Equal(TypeMismatch("g", "gather", "gather needs int64 indices, got float64"),
                 mismatch (fun () -> b.Gather(x, b.Flatten x, 1, "g") |> ignore))
    Assert.Equal(TypeMismatch("w", "where", "where needs a bool mask, got float64"),
                 mismatch (fun () -> b.Where(x, x, x, "w") |> ignore))
    Assert.Equal(TypeMismatch("w2", "where", "where needs a bool mask, got int64"),
                 mismatch (fun () -> b.Where(labels, x, x, "w2") |> ignore))

// ---- Graph files and the engine ----

/// A graph using every op of the family with attributes of every kind (integer lists, negative axes,
/// −1 in reshape, a number), as a small model's plumbing would.
let private familyGraph () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(Shape.Of(2, 3, 4), Array.init 24 (fun k -> 0.1 * double k - 1.0)))
    let w = b.Parameter("w", Tensor(Shape.Of(4, 1), [| 0.5; -1.0; 2.0; 0.25 |]))
    let idx = b.Constant("idx", vector [ 2.0; -1.0; 0.0; 2.0 ], ElementType.Int64)
    let mask = b.Constant("mask", Tensor(Shape.Of(1, 3), [| 1.0; 0.0; 1.0 |]), ElementType.Bool)
    let flat = b.Reshape(x, [| 6; -1 |], "flat")
    let pieces = b.Split(flat, -1, [| 1; 3 |], "piece")
    let joined = b.Concat([| pieces[1]; pieces[0]; flat |], -1, "joined")
    let cut = b.Slice(joined, [| 7; 5 |], [| -9; 0 |], [| -1; 0 |], [| -2; -2 |], "cut")
    let turned = b.Transpose(b.Unsqueeze(cut, [| 0 |]), 0, -1, "turned")
    let picked = b.Gather(b.Squeeze(turned, null, "squeezed"), idx, 0, "picked")
    let spread = b.BroadcastTo(w, [| 3; 4; 4 |], "spread")
    let padded = b.Pad(b.Flatten(b.Permute(spread, [| 2; 0; 1 |]), 1, -1), [| 0; 0; 1; 2 |], 0.5, "padded")
    let chosen = b.Where(mask, b.Slice(padded, [| 0 |], [| 3 |], [| 1 |]), picked, "chosen")
    b.Build(b.Add(b.Sum chosen, b.Sum picked, "z"))

[<Fact>]
let ``a graph of every shape and indexing op survives save and load, attributes included, and evaluates the same`` () =
    let g = familyGraph ()
    let text = GraphFile.toJson g
    Assert.Contains("\"steps\"", text)
    let back = GraphFile.parse text null
    Assert.Equal(g, back)
    Assert.Equal(text, GraphFile.toJson back)
    Assert.Equal(g, GraphFile.parse (GraphFile.toCompactJson g) null)
    let e1 = Engine.gradient Adjoints.All (Plan.Compile g) null
    let e2 = Engine.gradient Adjoints.All (Plan.Compile back) null
    assertBitwise "z" e1.Output e2.Output
    assertBitwise "λ_w" (e1.Adjoint "w") (e2.Adjoint "w")
    assertBitwise "λ_x" (e1.Adjoint "x") (e2.Adjoint "x")

[<Fact>]
let ``the family's graph: the engine's adjoints of the input and the parameter equal central differences of z`` () =
    let g = familyGraph ()
    let plan = Plan.Compile g
    let e = Engine.gradient Adjoints.All plan null
    for id in [ "x"; "w" ] do
        let value = (g.Node id).Value.Value.Clone()
        let objective () = (Engine.evaluate plan (readOnly [ id, value ])).Output.ScalarValue
        let lambda = e.Adjoint id
        Assert.Contains(lambda.Data, fun v -> v <> 0.0)
        for k in 0 .. value.Count - 1 do
            let numeric = centralDifference objective value.Data k 1e-6
            assertWithin 1e-8 $"λ_{id}[{k}]" (relativeError 1.0 lambda.Data[k] numeric)

[<Fact>]
let ``Split returns every piece, in order, and concat of the pieces is the argument`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(Shape.Of(2, 5), Array.init 10 double))
    let pieces = b.Split(x, 1, [| 2; 1; 2 |], "s")
    Assert.Equal<string>([| "s_0"; "s_1"; "s_2" |], pieces |> Array.map _.Id)
    Assert.Equal<Shape>([| Shape.Of(2, 2); Shape.Of(2, 1); Shape.Of(2, 2) |], pieces |> Array.map _.Shape)
    let joined = b.Concat(pieces, 1, "j")
    let e = Engine.evaluate (Plan.Compile(b.Build joined)) null
    assertSameValues (Tensor(Shape.Of(2, 5), Array.init 10 double)) e.Output
    assertSameValues (Tensor(2, 1, [| 2.0; 7.0 |])) (e.Value "s_1")
