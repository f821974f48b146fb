/// Element-wise ops: on every shape class, the array path (forward and broadcasting VJP) gives, element
/// by element, the bits of the one-element path the engine takes for scalar nodes — the op's rule through
/// its ScalarKernel — so that the paths derived from one statement of f and f′ cannot drift apart.
module Adjoint.Tests.TestElementwise

open System
open FsCheck.Xunit
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

/// Array forwards replaced by a vectorised kernel that differs from f in the last bits, with how far
/// (relative) each may stray: TensorPrimitives.Sigmoid is within a few ulps of 1/(1 + e⁻ˣ).
let private forwardOverrides = dict [ "sigmoid", 1e-15 ]

let private elementwise =
    Catalogue.names
    |> List.choose (fun name ->
        match Catalogue.tryFind name with
        | Some e ->
            // Numbers 0.75 (a factor, a slope, both clamp bounds), a choice its first (gelu's "none").
            let valueOf (a: AttributeSpec) =
                match a.Type with
                | AttributeType.Text -> OpAttribute.Text(List.head a.Choices)
                // Axes of a shape-preserving op that is not element-wise (max_mask): made, then left out.
                | AttributeType.Ints -> OpAttribute.Ints [| 0 |]
                | AttributeType.Int -> OpAttribute.Int 0
                | _ -> OpAttribute.Float 0.75
            let attributes = Collections.Generic.Dictionary<string, OpAttribute>(dict [ for a in e.Attributes -> a.Name, valueOf a ])
            match Catalogue.compute name attributes with
            | Ok op when op.IsElementwise -> Some op
            | Ok _ -> None
            | Error m when e.ShapeRule.StartsWith "x: any shape → the same shape" || e.ShapeRule.StartsWith "a, b: shapes that broadcast" ->
                failwith $"element-wise op '{name}' cannot be made for the property test: {m}"
            | Error _ -> None
        | None -> None)

/// The offset in an argument of shape `arg` broadcast to `out` of the output element at offset k,
/// computed from the multi-index (independently of the engine's walk).
let private offsetIn (out: Shape) (arg: Shape) (k: int) =
    let index = out.Unravel k
    let shift = out.Rank - arg.Rank
    let mutable offset = 0
    for d in 0 .. arg.Rank - 1 do
        let i = if arg.Dim d = 1 then 0 else index[d + shift]
        offset <- offset * arg.Dim d + i
    offset

let private bits (x: double) = BitConverter.DoubleToInt64Bits x

[<Fact>]
let ``every element-wise op is found and has its one-element kernel`` () =
    let names = elementwise |> List.map _.Name
    for expected in [ "add"; "sub"; "mul"; "div"; "neg"; "scale"; "square"; "sigmoid"; "tanh"; "relu"; "exp"; "log"; "sin"; "cos"
                      "softplus"; "pow"; "abs"; "sqrt"; "rsqrt"; "clamp"; "leaky_relu"; "elu"; "gelu"; "softsign"; "sign"
                      "maximum"; "minimum" ] do
        Assert.Contains(expected, names)

[<Property(MaxTest = 300)>]
let ``array forward and VJP equal the one-element kernel element by element, broadcast terms summed in output order`` (seed: int) =
    let rnd = Random seed
    let op = elementwise[rnd.Next elementwise.Length]
    let classes = if op.Arity = 1 then Adjoint.OpTable.Row.unaryClasses else Adjoint.OpTable.Row.binaryClasses
    let c = classes[rnd.Next classes.Length]
    // Values where every op is defined (log, pow's base and div's denominator positive).
    let args = c.Shapes |> List.map (fun s -> tensorOfShape s (fun () -> uniform rnd 0.25 2.0)) |> Array.ofList
    let out = apply op args
    let lambda = tensorOfShape out.Shape (fun () -> uniform rnd -1.0 1.0)
    let a k = args[0].Data[offsetIn out.Shape args[0].Shape k]
    let b k = if op.Arity = 2 then args[1].Data[offsetIn out.Shape args[1].Shape k] else 0.0
    let what = $"{op.Name} on {c.Class}"
    // Forward.
    for k in 0 .. out.Count - 1 do
        let expected = op.Kernel.Forward(a k, b k)
        match forwardOverrides.TryGetValue op.Name with
        | true, tolerance when out.Count > 1 -> assertWithin tolerance $"{what}: forward element {k}" (relativeError 1e-300 expected out.Data[k])
        | _ -> Assert.True(bits expected = bits out.Data[k], $"{what}: forward element {k}: {expected:R} from the kernel, {out.Data[k]:R} from the array")
    // VJP of each slot: λ_k · ∂f/∂slot from the kernel's partials, summed per argument element.
    for slot in 0 .. op.Arity - 1 do
        let shape = args[slot].Shape
        let expected = Array.create shape.Count -0.0
        let partials = Array.zeroCreate 2
        let broadcast = shape.Count <> out.Count
        for k in 0 .. out.Count - 1 do
            op.Kernel.ForwardWithPartials(a k, b k, partials, 0) |> ignore
            // The array VJP reads the output z it was given; the kernel recomputes it from a and b, so an
            // overridden forward is replaced by the kernel's own value first.
            let term = lambda.Data[k] * partials[slot]
            let j = offsetIn out.Shape shape k
            expected[j] <- if broadcast then expected[j] + term else term
        let exact = apply op args
        for k in 0 .. exact.Count - 1 do
            exact.Data[k] <- op.Kernel.Forward(a k, b k)
        let got = vjp op args exact lambda slot
        for j in 0 .. expected.Length - 1 do
            Assert.True(bits expected[j] = bits got.Data[j], $"{what}: VJP slot {slot} element {j}: {expected[j]:R} from the kernel, {got.Data[j]:R} from the array")

[<Fact>]
let ``pow and relu at their edges, by hand: the PyTorch conventions at a = 0 and b = 0, relu's kink`` () =
    let pow = Ops.Elementwise.pow
    let partials = Array.zeroCreate 2
    // 0² = 0: ∂/∂a = 2·0 = 0, ∂/∂b masked to 0 (z·ln 0 would be 0·−∞ = NaN).
    Assert.Equal(0.0, pow.Kernel.ForwardWithPartials(0.0, 2.0, partials, 0))
    Assert.Equal<double>([| 0.0; 0.0 |], partials)
    // 0⁰ = 1: ∂/∂a masked to 0 (0·0⁻¹ would be NaN), ∂/∂b = 0 (b ≥ 0 at a = 0).
    Assert.Equal(1.0, pow.Kernel.ForwardWithPartials(0.0, 0.0, partials, 0))
    Assert.Equal<double>([| 0.0; 0.0 |], partials)
    // 2³ = 8: 3·2² = 12, 8·ln 2.
    Assert.Equal(8.0, pow.Kernel.ForwardWithPartials(2.0, 3.0, partials, 0))
    Assert.Equal<double>([| 12.0; 8.0 * Math.Log 2.0 |], partials)
    // relu′(0) = 0, relu′(−0) = 0, relu′(tiny) = 1.
    for x, d in [ 0.0, 0.0; -0.0, 0.0; 1e-300, 1.0; -1e-300, 0.0 ] do
        Ops.Elementwise.relu.Kernel.ForwardWithPartials(x, 0.0, partials, 0) |> ignore
        Assert.Equal(d, partials[0])

[<Fact>]
let ``a broadcast argument used twice and differentiated twice gets the reference's bits in both modes`` () =
    // The broadcasting VJP sums into a destination that may hold an earlier adjoint, a scratch or a
    // pooled buffer; it must start from −0.0 every time.
    let rnd = Random 31
    let b = GraphBuilder()
    let x = b.Input("x", tensorOfShape (Shape.Of(3, 4)) (fun () -> uniform rnd -1.0 1.0))
    let row = b.Parameter("row", tensorOfShape (Shape.Of(1, 4)) (fun () -> uniform rnd -1.0 1.0))
    let c = b.Parameter("c", Tensor.Scalar 0.3)
    let h = b.Tanh(x + row, "h")
    let k = b.Apply("softplus", h * row - c)
    let z = b.Sum(b.Apply("pow", b.Sigmoid(k + row), c + 1.0), "z")
    let plan = Plan.Compile(b.Build z)
    let values = Reference.forward plan null
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let expected = Reference.backward mode plan values
        let e = Evaluation(plan, mode)
        for _ in 1..2 do
            Engine.forward e
            Engine.backward mode e
            for p in 0 .. plan.Count - 1 do
                if not (isNull expected[p]) then assertBitwise $"{mode} λ of {plan.Ids[p]}" expected[p] (e.AdjointAt p)
