/// Convolution and pooling: forwards and VJPs against a direct nested-loop definition written here
/// (independent of im2col), PyTorch-made fixtures (fixtures/conv, made by make.py), tie-breaking,
/// repeatability and the errors for shapes and attributes that do not fit.
module Adjoint.Tests.TestConv

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private randomOf (rnd: Random) (dims: int list) = tensorOfShape (Shape.Of(Array.ofList dims)) (fun () -> uniform rnd -1.0 1.0)

/// A 2-d convolution's configuration, as the direct definition takes it.
type private Config =
    { Stride: int * int; Padding: int * int; Dilation: int * int; Groups: int }

/// z[n, f, oh, ow] = b[f] + Σ_{c < C/G, i, j} w[f, c, i, j] · x[n, g·C/G + c, oh·sh − ph + i·dh, ow·sw − pw + j·dw],
/// straight from the definition (x zero outside), and its VJPs by the chain rule on each term of that sum:
/// λ_x[n, g·C/G + c, ih, iw] += λ[n, f, oh, ow]·w[f, c, i, j], λ_w[f, c, i, j] += λ[n, f, oh, ow]·x[…],
/// λ_b[f] += λ[n, f, oh, ow].
let private direct (cfg: Config) (x: Tensor) (w: Tensor) (b: Tensor option) (lambda: Tensor option) =
    let n, c, h, wd = x.Shape.Dim 0, x.Shape.Dim 1, x.Shape.Dim 2, x.Shape.Dim 3
    let f, cg, kh, kw = w.Shape.Dim 0, w.Shape.Dim 1, w.Shape.Dim 2, w.Shape.Dim 3
    let (sh, sw), (ph, pw), (dh, dw) = cfg.Stride, cfg.Padding, cfg.Dilation
    let oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1
    let ow = (wd + 2 * pw - dw * (kw - 1) - 1) / sw + 1
    let fg = f / cfg.Groups
    let z = Array4D.zeroCreate n f oh ow
    let dx = Array4D.zeroCreate n c h wd
    let dwt = Array4D.zeroCreate f cg kh kw
    let db = Array.zeroCreate f
    let xAt (a: int) (ch: int) (r: int) (col: int) = x.Data[((a * c + ch) * h + r) * wd + col]
    let wAt (ff: int) (ch: int) (i: int) (j: int) = w.Data[((ff * cg + ch) * kh + i) * kw + j]
    for a in 0 .. n - 1 do
        for ff in 0 .. f - 1 do
            let g = ff / fg
            for r in 0 .. oh - 1 do
                for col in 0 .. ow - 1 do
                    let l = match lambda with Some t -> t.Data[((a * f + ff) * oh + r) * ow + col] | None -> 0.0
                    let mutable total = match b with Some bias -> bias.Data[ff] | None -> 0.0
                    db[ff] <- db[ff] + l
                    for ch in 0 .. cg - 1 do
                        for i in 0 .. kh - 1 do
                            for j in 0 .. kw - 1 do
                                let ih, iw = r * sh - ph + i * dh, col * sw - pw + j * dw
                                if ih >= 0 && ih < h && iw >= 0 && iw < wd then
                                    let xc = g * cg + ch
                                    total <- total + wAt ff ch i j * xAt a xc ih iw
                                    dx[a, xc, ih, iw] <- dx[a, xc, ih, iw] + l * wAt ff ch i j
                                    dwt[ff, ch, i, j] <- dwt[ff, ch, i, j] + l * xAt a xc ih iw
                    z[a, ff, r, col] <- total
    let flat4 (arr: double[,,,]) =
        Tensor(Shape.Of(Array4D.length1 arr, Array4D.length2 arr, Array4D.length3 arr, Array4D.length4 arr),
               [| for p in 0 .. Array4D.length1 arr - 1 do
                      for q in 0 .. Array4D.length2 arr - 1 do
                          for r in 0 .. Array4D.length3 arr - 1 do
                              for s in 0 .. Array4D.length4 arr - 1 -> arr[p, q, r, s] |])
    flat4 z, flat4 dx, flat4 dwt, Tensor(Shape.Of f, db)

let private pairAttribute (a, b) = OpAttribute.Ints [| a; b |]

let private configs =
    [ "plain", [ 2; 3; 6; 6 ], [ 4; 3; 3; 3 ], false, { Stride = (1, 1); Padding = (0, 0); Dilation = (1, 1); Groups = 1 }
      "bias, padding 1 (same size)", [ 3; 2; 5; 7 ], [ 5; 2; 3; 3 ], true, { Stride = (1, 1); Padding = (1, 1); Dilation = (1, 1); Groups = 1 }
      "stride 2, padding (1, 2), non-square kernel", [ 2; 3; 9; 8 ], [ 4; 3; 3; 2 ], true, { Stride = (2, 2); Padding = (1, 2); Dilation = (1, 1); Groups = 1 }
      "dilation (2, 3), stride (1, 2)", [ 2; 2; 9; 10 ], [ 3; 2; 3; 2 ], false, { Stride = (1, 2); Padding = (0, 1); Dilation = (2, 3); Groups = 1 }
      "groups 2, bias", [ 2; 4; 6; 5 ], [ 6; 2; 2; 3 ], true, { Stride = (1, 1); Padding = (1, 0); Dilation = (1, 1); Groups = 2 }
      "depthwise, stride 2, dilation 2", [ 3; 3; 8; 8 ], [ 3; 1; 3; 3 ], true, { Stride = (2, 2); Padding = (2, 2); Dilation = (2, 2); Groups = 3 }
      "1x1 kernel, one image", [ 1; 5; 4; 3 ], [ 2; 5; 1; 1 ], true, { Stride = (1, 1); Padding = (0, 0); Dilation = (1, 1); Groups = 1 }
      "kernel as large as the padded input", [ 2; 1; 3; 4 ], [ 2; 1; 5; 6 ], false, { Stride = (1, 1); Padding = (1, 1); Dilation = (1, 1); Groups = 1 } ]

let configNames =
    let data = TheoryData<string>()
    for name, _, _, _, _ in configs do
        data.Add name
    data

let private tolerance = 1e-12

[<Theory>]
[<MemberData(nameof configNames)>]
let ``conv2d and its VJPs equal the direct definition (1e-12 relative)`` (name: string) =
    let _, xs, ws, withBias, cfg = configs |> List.find (fun (n, _, _, _, _) -> n = name)
    let rnd = Random(1400 + name.Length)
    let x, w = randomOf rnd xs, randomOf rnd ws
    let b = if withBias then Some(randomOf rnd [ ws[0] ]) else None
    let op =
        opOf "conv2d" [ "stride", pairAttribute cfg.Stride; "padding", pairAttribute cfg.Padding
                        "dilation", pairAttribute cfg.Dilation; "groups", OpAttribute.Int cfg.Groups ]
    let args = Array.append [| x; w |] (Option.toArray b)
    let z = apply op args
    let lambda = tensorOfShape z.Shape (fun () -> uniform rnd -1.0 1.0)
    let z0, dx, dw, db = direct cfg x w b (Some lambda)
    let check what (expected: Tensor) (actual: Tensor) =
        let e = normwiseError actual expected
        report $"conv2d {name} {what}: {e:E2}"
        assertWithin tolerance $"conv2d {name} {what}" e
    check "z" z0 z
    check "λ_x" dx (vjp op args z lambda 0)
    check "λ_w" dw (vjp op args z lambda 1)
    if withBias then check "λ_b" db (vjp op args z lambda 2)

[<Fact>]
let ``conv1d and its VJPs equal the direct 2-d definition at height 1 (1e-12 relative)`` () =
    let rnd = Random(141)
    for stride, padding, dilation, groups in [ 1, 0, 1, 1; 2, 1, 1, 1; 1, 3, 2, 2; 3, 2, 2, 4 ] do
        let x, w, b = randomOf rnd [ 2; 4; 13 ], randomOf rnd [ 4; 4 / groups; 3 ], randomOf rnd [ 4 ]
        let op =
            opOf "conv1d" [ "stride", OpAttribute.Ints [| stride |]; "padding", OpAttribute.Ints [| padding |]
                            "dilation", OpAttribute.Ints [| dilation |]; "groups", OpAttribute.Int groups ]
        let z = apply op [| x; w; b |]
        let lambda = tensorOfShape z.Shape (fun () -> uniform rnd -1.0 1.0)
        let as4 (t: Tensor) = t.Reshape(Shape.Of(t.Shape.Dim 0, t.Shape.Dim 1, 1, t.Shape.Dim 2))
        let cfg = { Stride = (1, stride); Padding = (0, padding); Dilation = (1, dilation); Groups = groups }
        let z0, dx, dw, db = direct cfg (as4 x) (as4 w) (Some b) (Some(as4 lambda))
        let what = $"conv1d stride {stride} padding {padding} dilation {dilation} groups {groups}"
        assertWithin tolerance $"{what} z" (normwiseError (as4 z) z0)
        assertWithin tolerance $"{what} λ_x" (normwiseError (as4 (vjp op [| x; w; b |] z lambda 0)) dx)
        assertWithin tolerance $"{what} λ_w" (normwiseError (as4 (vjp op [| x; w; b |] z lambda 1)) dw)
        assertWithin tolerance $"{what} λ_b" (normwiseError (vjp op [| x; w; b |] z lambda 2) db)

// PyTorch's values (torch.nn.functional, float64), for λ drawn with them.

let private fixturePath =
    lazy Path.Combine(repositoryRoot.Value, "tests", "Graph.Tests", "fixtures", "conv", "conv.json")

let private tensorOfJson (e: JsonElement) =
    Tensor(Shape.Of([| for d in e.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]),
           [| for v in e.GetProperty("values").EnumerateArray() -> v.GetDouble() |])

let private attributeOfJson (e: JsonElement) =
    match e.ValueKind with
    | JsonValueKind.Array -> OpAttribute.Ints [| for v in e.EnumerateArray() -> v.GetInt32() |]
    | JsonValueKind.True -> OpAttribute.Bool true
    | JsonValueKind.False -> OpAttribute.Bool false
    | _ -> OpAttribute.Int(e.GetInt32())

let fixtureNames =
    let data = TheoryData<string>()
    use doc = JsonDocument.Parse(File.ReadAllText fixturePath.Value)
    for c in doc.RootElement.GetProperty("cases").EnumerateArray() do
        data.Add(c.GetProperty("name").GetString())
    data

[<Theory>]
[<MemberData(nameof fixtureNames)>]
let ``conv and pooling equal PyTorch's values and VJPs (1e-12 relative)`` (name: string) =
    use doc = JsonDocument.Parse(File.ReadAllText fixturePath.Value)
    let c = doc.RootElement.GetProperty("cases").EnumerateArray() |> Seq.find (fun c -> c.GetProperty("name").GetString() = name)
    let attributes = [ for p in c.GetProperty("attributes").EnumerateObject() -> p.Name, attributeOfJson p.Value ]
    let op = opOf (c.GetProperty("op").GetString()) attributes
    let args = [| for a in c.GetProperty("args").EnumerateArray() -> tensorOfJson a |]
    let lambda = tensorOfJson (c.GetProperty "lambda")
    let z = apply op args
    let expectedZ = tensorOfJson (c.GetProperty "z")
    // PyTorch keeps global average pooling's (N, C, 1, 1); so does the op.
    assertWithin tolerance $"{name} z" (normwiseError z expectedZ)
    c.GetProperty("vjps").EnumerateArray()
    |> Seq.iteri (fun slot expected ->
        let e = normwiseError (vjp op args z lambda slot) (tensorOfJson expected)
        report $"{name} slot {slot}: {e:E2}"
        assertWithin tolerance $"{name} slot {slot}" e)

[<Fact>]
let ``the fixtures cover conv2d's groups, dilation, stride and padding, conv1d, and the three pools`` () =
    use doc = JsonDocument.Parse(File.ReadAllText fixturePath.Value)
    let cases = [ for c in doc.RootElement.GetProperty("cases").EnumerateArray() -> c.GetProperty("op").GetString(), [ for p in c.GetProperty("attributes").EnumerateObject() -> p.Name ] ]
    for op, attribute in [ "conv2d", "groups"; "conv2d", "dilation"; "conv2d", "stride"; "conv2d", "padding"; "conv1d", "groups"
                           "max_pool2d", "padding"; "max_pool2d", "dilation"; "avg_pool2d", "count_include_pad" ] do
        Assert.Contains(cases, fun (o, attributes) -> o = op && List.contains attribute attributes)
    Assert.Contains(cases, fun (o, _) -> o = "global_avg_pool")

// Pooling by hand.

[<Fact>]
let ``max_pool2d sends λ to the first maximal element of a window, and sums over overlapping windows`` () =
    // One 3x3 image, windows 2x2 at stride 1: the 5s tie in the first window.
    let x = Tensor(Shape.Of(1, 1, 3, 3), [| 1.0; 5.0; 2.0; (* row 1 *) 5.0; 0.0; 7.0; (* row 2 *) 3.0; 4.0; 6.0 |])
    let op = opOf "max_pool2d" [ "kernel", OpAttribute.Ints [| 2 |]; "stride", OpAttribute.Ints [| 1 |] ]
    let z = apply op [| x |]
    assertSameValues (Tensor(Shape.Of(1, 1, 2, 2), [| 5.0; 7.0; 5.0; 7.0 |])) z
    let lambda = Tensor(Shape.Of(1, 1, 2, 2), [| 1.0; 10.0; 100.0; 1000.0 |])
    // Window (0, 0) picks x[0, 1] (first 5 in row-major order); window (1, 0) has 5 at x[1, 0] only.
    assertSameValues (Tensor(Shape.Of(1, 1, 3, 3), [| 0.0; 1.0; 0.0; 100.0; 0.0; 1010.0; 0.0; 0.0; 0.0 |])) (vjp op [| x |] z lambda 0)

[<Fact>]
let ``max_pool2d pads with −∞ and avg_pool2d with zeros counted or not`` () =
    let x = Tensor(Shape.Of(1, 1, 2, 2), [| -1.0; -2.0; -3.0; -4.0 |])
    let padded k extra = opOf k ([ "kernel", OpAttribute.Ints [| 2 |]; "padding", OpAttribute.Ints [| 1 |] ] @ extra)
    // Windows of 2 at stride 2 over the padded 4x4: each holds one cell of x.
    assertSameValues (Tensor(Shape.Of(1, 1, 2, 2), [| -1.0; -2.0; -3.0; -4.0 |])) (apply (padded "max_pool2d" []) [| x |])
    assertSameValues (Tensor(Shape.Of(1, 1, 2, 2), [| -0.25; -0.5; -0.75; -1.0 |])) (apply (padded "avg_pool2d" []) [| x |])
    assertSameValues x (apply (padded "avg_pool2d" [ "count_include_pad", OpAttribute.Bool false ]) [| x |])

[<Fact>]
let ``global_avg_pool is the mean of each channel, λ/m to each cell`` () =
    let x = Tensor(Shape.Of(1, 2, 1, 3), [| 1.0; 2.0; 6.0; -3.0; 0.0; 0.0 |])
    let op = opOf "global_avg_pool" []
    let z = apply op [| x |]
    assertSameValues (Tensor(Shape.Of(1, 2, 1, 1), [| 3.0; -1.0 |])) z
    assertSameValues (Tensor(Shape.Of(1, 2, 1, 3), [| 2.0; 2.0; 2.0; -1.0; -1.0; -1.0 |]))
        (vjp op [| x |] z (Tensor(Shape.Of(1, 2, 1, 1), [| 6.0; -3.0 |])) 0)

[<Fact>]
let ``conv2d gives the same bits every time, with other shapes convolved in between`` () =
    let rnd = Random(7)
    let x, w, b = randomOf rnd [ 3; 4; 7; 7 ], randomOf rnd [ 6; 2; 3; 3 ], randomOf rnd [ 6 ]
    let op = opOf "conv2d" [ "groups", OpAttribute.Int 2; "padding", OpAttribute.Ints [| 1 |] ]
    let other = opOf "conv2d" [ "stride", OpAttribute.Ints [| 2 |] ]
    let run () =
        let z = apply op [| x; w; b |]
        let lambda = tensorOfShape z.Shape (let r = Random(3) in fun () -> uniform r -1.0 1.0)
        [ z; vjp op [| x; w; b |] z lambda 0; vjp op [| x; w; b |] z lambda 1; vjp op [| x; w; b |] z lambda 2 ]
    let first = run ()
    let y, v = randomOf rnd [ 2; 4; 9; 9 ], randomOf rnd [ 6; 4; 3; 3 ]
    let zo = apply other [| y; v |]
    vjp other [| y; v |] zo zo 0 |> ignore
    vjp other [| y; v |] zo zo 1 |> ignore
    List.iteri2 (fun k a b -> assertBitwise $"result {k}" a b) first (run ())

[<Fact>]
let ``the builder makes conv2d, conv1d and the pools with their attributes`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(2, 3, 8, 8))
    let w = b.Parameter("w", Tensor(Shape.Of(4, 3, 3, 3)))
    let bias = b.Parameter("b", Tensor(Shape.Of 4))
    let c = b.Conv2d(x, w, bias, stride = [| 2 |], padding = [| 1 |])
    Assert.Equal(Shape.Of(2, 4, 4, 4), c.Shape)
    Assert.Equal(Shape.Of(2, 4, 4, 2), (b.Conv2d(x, w, dilation = [| 2; 3 |])).Shape)
    Assert.Equal(Shape.Of(2, 4, 2, 2), (b.MaxPool2d(c, [| 2 |])).Shape)
    Assert.Equal(Shape.Of(2, 4, 2, 2), (b.AvgPool2d(c, [| 3 |], stride = [| 2 |], padding = [| 1 |], countIncludePad = false)).Shape)
    Assert.Equal(Shape.Of(2, 4, 1, 1), (b.GlobalAvgPool c).Shape)
    let s = b.Input("s", Shape.Of(2, 4, 10))
    let k = b.Parameter("k", Tensor(Shape.Of(6, 2, 3)))
    Assert.Equal(Shape.Of(2, 6, 4), (b.Conv1d(s, k, stride = 2, padding = 0, groups = 2)).Shape)

// Errors.

let private shapeError (op: Op) (shapes: int list list) =
    match op.Shape [| for s in shapes -> Shape.Of(Array.ofList s) |] with
    | Error m -> m
    | Ok s -> failwith $"expected an error, got {s}"

[<Fact>]
let ``conv2d and conv1d refuse a wrong rank, channels that do not match, groups that do not divide, a bad bias and a kernel larger than the padded input`` () =
    let conv = opOf "conv2d" []
    Assert.Equal("conv2d needs an input of rank 4 (N, C, H, W), got 3x4x4", shapeError conv [ [ 3; 4; 4 ]; [ 2; 3; 3; 3 ] ])
    Assert.Equal("conv2d needs a weight of rank 4 (F, C/groups, kH, kW), got 2x3x3", shapeError conv [ [ 1; 3; 4; 4 ]; [ 2; 3; 3 ] ])
    Assert.Equal("conv2d needs the weight's second dimension to be C/groups = 3 (input 1x3x4x4, groups 1), got weight 2x2x3x3",
                 shapeError conv [ [ 1; 3; 4; 4 ]; [ 2; 2; 3; 3 ] ])
    Assert.Equal("conv2d needs a bias of shape (2) for 2 filters, got 3", shapeError conv [ [ 1; 3; 4; 4 ]; [ 2; 3; 3; 3 ]; [ 3 ] ])
    Assert.Equal("conv2d: the kernel along H (dilated extent 5) is larger than the padded input (4 + 2·0 = 4), input 1x3x4x4, weight 2x3x5x3",
                 shapeError conv [ [ 1; 3; 4; 4 ]; [ 2; 3; 5; 3 ] ])
    let dilated = opOf "conv2d" [ "dilation", OpAttribute.Ints [| 1; 3 |]; "padding", OpAttribute.Ints [| 1 |] ]
    Assert.Equal("conv2d: the kernel along W (dilated extent 7) is larger than the padded input (4 + 2·1 = 6), input 1x3x4x4, weight 2x3x3x3",
                 shapeError dilated [ [ 1; 3; 4; 4 ]; [ 2; 3; 3; 3 ] ])
    let grouped = opOf "conv2d" [ "groups", OpAttribute.Int 2 ]
    Assert.Equal("conv2d needs the input's channels C = 3 divisible by groups = 2", shapeError grouped [ [ 1; 3; 4; 4 ]; [ 2; 1; 3; 3 ] ])
    Assert.Equal("conv2d needs the filters F = 3 divisible by groups = 2", shapeError grouped [ [ 1; 4; 4; 4 ]; [ 3; 2; 3; 3 ] ])
    let conv1 = opOf "conv1d" []
    Assert.Equal("conv1d needs an input of rank 3 (N, C, L), got 1x3x4x4", shapeError conv1 [ [ 1; 3; 4; 4 ]; [ 2; 3; 3 ] ])
    Assert.Equal("conv1d: the kernel along L (dilated extent 5) is larger than the padded input (4 + 2·0 = 4), input 1x3x4, weight 2x3x5",
                 shapeError conv1 [ [ 1; 3; 4 ]; [ 2; 3; 5 ] ])
    Assert.False(conv.AcceptsArity 1)
    Assert.True(conv.AcceptsArity 2 && conv.AcceptsArity 3)
    Assert.False(conv.AcceptsArity 4)
    Assert.Equal("2 or 3", conv.ArityText)

[<Fact>]
let ``conv and pooling attributes that can never work are refused by name`` () =
    let refused name attributes =
        match Catalogue.compute name (attributesOf attributes) with
        | Error m -> m
        | Ok _ -> failwith "expected an error"
    Assert.Equal("op 'conv2d': stride must be at least 1, got 0", refused "conv2d" [ "stride", OpAttribute.Ints [| 0 |] ])
    Assert.Equal("op 'conv2d': padding takes one or two values, got 3", refused "conv2d" [ "padding", OpAttribute.Ints [| 1; 1; 1 |] ])
    Assert.Equal("op 'conv1d': dilation takes one value, got 2", refused "conv1d" [ "dilation", OpAttribute.Ints [| 1; 2 |] ])
    Assert.Equal("op 'conv2d': groups must be at least 1, got 0", refused "conv2d" [ "groups", OpAttribute.Int 0 ])
    Assert.Equal("op 'conv2d': padding must be at least 0, got -1", refused "conv2d" [ "padding", OpAttribute.Ints [| -1 |] ])
    Assert.Equal("op 'max_pool2d' needs attribute 'kernel'", refused "max_pool2d" [])
    Assert.Equal("op 'max_pool2d': kernel must be at least 1, got 0", refused "max_pool2d" [ "kernel", OpAttribute.Ints [| 0 |] ])
    Assert.Equal("op 'max_pool2d': padding must be at most half the window (3), got 2",
                 refused "max_pool2d" [ "kernel", OpAttribute.Ints [| 3 |]; "padding", OpAttribute.Ints [| 2 |] ])
    Assert.Equal("op 'avg_pool2d': padding must be at most half the window (2), got 2",
                 refused "avg_pool2d" [ "kernel", OpAttribute.Ints [| 2 |]; "padding", OpAttribute.Ints [| 2 |] ])

[<Fact>]
let ``pools refuse a wrong rank and a window larger than the padded input`` () =
    let pool = opOf "max_pool2d" [ "kernel", OpAttribute.Ints [| 3 |] ]
    Assert.Equal("max_pool2d needs an input of rank 4 (N, C, H, W), got 2x3", shapeError pool [ [ 2; 3 ] ])
    Assert.Equal("max_pool2d: the window (3x3, dilation 1x1) is larger than the padded input (2x5), input 1x1x2x5",
                 shapeError pool [ [ 1; 1; 2; 5 ] ])
    Assert.Equal("avg_pool2d needs an input of rank 4 (N, C, H, W), got 4", shapeError (opOf "avg_pool2d" [ "kernel", OpAttribute.Ints [| 2 |] ]) [ [ 4 ] ])
    Assert.Equal("global_avg_pool needs an input of rank 3 or more (N, C, spatial…), got 2x3", shapeError (opOf "global_avg_pool" []) [ [ 2; 3 ] ])
