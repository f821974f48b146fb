/// Buffers: unboxed scalars give the bits of Op.Forward/Op.Vjp on fresh tensors, a compiled plan's steady
/// state allocates nothing, and an InputsAndParameters evaluation drops the values no VJP reads.
module Adjoint.Tests.TestMemory

open System
open Xunit
open Adjoint

/// The engine as the distributed one runs it: every op on freshly allocated tensors, adjoints summed
/// in the fixed order (Reference, the plain passes).
let private reference (plan: Plan) =
    let values = Reference.forward plan null
    values, Reference.backward Adjoints.All plan values

let private assertSameBits (plan: Plan) (e: Evaluation) =
    let values, adjoints = reference plan
    for p in 0 .. plan.Count - 1 do
        Assert.True(Tensor.BitwiseEqual(values[p], e.ValueAt p), $"value of {plan.Ids[p]}")
        if isNull adjoints[p] then Assert.Null(e.AdjointAt p)
        else Assert.True(Tensor.BitwiseEqual(adjoints[p], e.AdjointAt p), $"adjoint of {plan.Ids[p]}")

[<Fact>]
let ``scalars kept unboxed give the bits of ops run on fresh tensors, also where tensor ops read and write scalars`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(5, 1, [| 0.1; -0.4; 0.7; 1.3; -2.0 |]))
    let y = b.Input("y", Tensor(1, 1, [| 1.5 |]))
    let s = b.Sum(x, "s")
    let a = b.Sin(s, "a")
    // A rank-0 value broadcast to 1×1, then a tensor op on one-element matrices.
    let a11 = b.Add(a, b.Constant("zero", Tensor(1, 1)), "a11")
    let m = b.MatMul(a11, y, "m")
    let c = b.Scale(x, 2.0, "c")
    let d = b.SquaredNorm(c, "d")
    let t = b.Tanh(b.Add(b.Mul(a, m), d), "t")
    let g = b.Mul(t, t, "g")
    let out = b.Div(b.Add(g, b.Exp(a)), y, "out")
    let plan = Plan.Compile(b.Build out)
    assertSameBits plan (Engine.gradient Adjoints.All plan null)

/// 200 random 1×1 nodes over 5 inputs, every element-wise op with and without partials among them.
let private randomScalarDag (rng: Random) =
    let b = GraphBuilder()
    let nodes = ResizeArray<NodeRef>()
    for i in 0..4 do
        nodes.Add(b.Input($"in{i}", Tensor.Scalar(rng.NextDouble() * 2.0 - 1.0)))
    for _ in 1..200 do
        let pick () = nodes[rng.Next nodes.Count]
        let last = nodes[nodes.Count - 1]
        nodes.Add(
            match rng.Next 8 with
            | 0 -> b.Add(last, pick ())
            | 1 -> b.Mul(last, pick ())
            | 2 -> b.Sub(pick (), last)
            | 3 -> b.Div(last, b.Exp(pick ()))
            | 4 -> b.Tanh last
            | 5 -> b.Sigmoid last
            | 6 -> b.Cos last
            | _ -> b.Scale(last, 0.7))
    Plan.Compile(b.Build nodes[nodes.Count - 1])

[<Fact>]
let ``random scalar DAGs give the bits of ops run on fresh tensors`` () =
    let rng = Random 21
    for _ in 1..5 do
        let plan = randomScalarDag rng
        assertSameBits plan (Engine.gradient Adjoints.All plan null)

[<Fact>]
let ``an evaluation first run forward only gives the same bits when it is later differentiated`` () =
    // Made without an adjoint mode, its forward pass stores no partials: its first backward pass computes
    // them from the values, and its later forward passes store them.
    let rng = Random 22
    for _ in 1..3 do
        let plan = randomScalarDag rng
        let e = Evaluation plan
        Engine.forward e
        Engine.backward Adjoints.All e
        assertSameBits plan e
        Engine.forward e
        Engine.backward Adjoints.All e
        assertSameBits plan e

[<Fact>]
let ``a 1×1 value read from an evaluation is a copy: writing into it changes nothing, Set does`` () =
    let b = GraphBuilder()
    let plan = Plan.Compile(b.Build(b.Sin(b.Input("x", Tensor.Scalar 0.5), "z")))
    let e = Engine.evaluate plan null
    (e.Value "x").Data[0] <- 2.0
    Engine.forward e
    Assert.Equal(0.5, (e.Value "x").ScalarValue)
    Assert.Equal(sin 0.5, e.Output.ScalarValue)
    e.Set("x", Tensor.Scalar 2.0)
    Engine.forward e
    Assert.Equal(sin 2.0, e.Output.ScalarValue)

let private chain ops =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor.Scalar 0.5)
    let w = b.Parameter("w", Tensor.Scalar 0.9)
    let mutable h = x
    for k in 0 .. ops - 1 do
        h <- (match k % 3 with
              | 0 -> b.Sin h
              | 1 -> b.Mul(h, w)
              | _ -> b.Add(h, x))
    Plan.Compile(b.Build h)

[<Fact>]
let ``the steady state of a scalar graph allocates nothing`` () =
    let plan = chain 3000
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let e = Evaluation(plan, mode)
        for _ in 1..3 do
            Engine.forward e
            Engine.backward mode e
        let before = GC.GetAllocatedBytesForCurrentThread()
        Engine.forward e
        Engine.backward mode e
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

let private twoLayer () =
    let rng = Random 5
    let random r c = Tensor(r, c, Array.init (r * c) (fun _ -> rng.NextDouble() - 0.5))
    let b = GraphBuilder()
    let x = b.Constant("X", random 16 8)
    let y = b.Constant("y", random 16 1)
    let w1 = b.Parameter("W1", random 8 8)
    let w2 = b.Parameter("W2", random 8 1)
    let loss = b.SquaredNorm(b.Sub(b.MatMul(b.Sigmoid(b.MatMul(x, w1, "H"), "S"), w2, "P"), y, "R"), "loss")
    Plan.Compile(b.Build loss)

[<Fact>]
let ``asking only for inputs' adjoints drops the values no VJP reads, and says so`` () =
    let plan = twoLayer ()
    let lean = Engine.gradient Adjoints.InputsAndParameters plan null
    let full = Engine.gradient Adjoints.All plan null
    Assert.False(lean.KeepsAllValues)
    // σ's VJP reads its output S, not its argument H; sub's reads neither.
    Assert.False(lean.HasValue "H")
    Assert.False(lean.HasValue "P")
    Assert.True(lean.HasValue "S")
    let e = Assert.Throws<InvalidOperationException>(fun () -> lean.Value "H" |> ignore)
    Assert.Contains("'H'", e.Message)
    Assert.True(Tensor.BitwiseEqual(full.Output, lean.Output))
    for id in [ "W1"; "W2" ] do
        Assert.True(Tensor.BitwiseEqual(full.Adjoint id, lean.Adjoint id), id)
    Assert.Throws<InvalidOperationException>(fun () -> Engine.backward Adjoints.All lean) |> ignore

[<Fact>]
let ``values no VJP reads share buffers`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(64, 1, Array.init 64 double))
    let mutable h = x
    for _ in 1..10 do
        h <- b.Neg h
    let plan = Plan.Compile(b.Build(b.SquaredNorm h))
    // Nine of the ten negations are read by nothing after the forward pass: two buffers serve them all.
    Assert.Equal(2, plan.Shared.Sizes.Length)
    let lean = Engine.gradient Adjoints.InputsAndParameters plan null
    let full = Engine.gradient Adjoints.All plan null
    Assert.True(Tensor.BitwiseEqual(full.Adjoint "x", lean.Adjoint "x"))
    Assert.Equal(2.0 * 63.0, (lean.Adjoint "x").Data[63])
