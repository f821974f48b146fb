/// The local engine against the seed: closed forms (16.1, 16.4), Remark 1's evaluation counts, the
/// fixed summation order, failures, forward-only runs and reuse of one plan and one evaluation.
module Adjoint.Tests.TestEngine

open System
open System.Collections.Generic
open FsCheck.Xunit
open MathNet.Numerics.LinearAlgebra
open Xunit
open Adjoint
open Adjoint.Ops
open Adjoint.Tests.Helpers

// §16.1: f(g(x)) = sin(‖x‖²), ∇x = cos(‖x‖²)·2x.

[<Fact>]
let ``warm-up: λ_x = cos(‖x‖²)·2x, λ_z = cos z, λ_f = 1 (1e-14 relative)`` () =
    let plan = Plan.Compile(GraphFile.load (examplePath "warmup.json"))
    let rnd = Random 161
    let stored = [| 0.3; -0.5; 0.8 |]
    for trial in 0 .. 20 do
        let x = if trial = 0 then Tensor(3, 1, stored) else randomTensor rnd 3 1
        let e = Engine.gradient Adjoints.All plan (readOnly [ "x", x ])
        let z = x.Data |> Array.sumBy (fun v -> v * v)
        assertWithin 1e-14 "f = sin ‖x‖²" (relativeError 0.0 (sin z) e.Output.ScalarValue)
        Assert.Equal(1.0, e.Adjoint("f").ScalarValue)
        assertWithin 1e-14 "λ_z = cos z" (relativeError 0.0 (cos z) (e.Adjoint("z").ScalarValue))
        let lambdaX = e.Adjoint "x"
        for k in 0 .. 2 do
            assertWithin 1e-14 $"λ_x[{k}]" (relativeError 1e-300 (cos z * 2.0 * x.Data[k]) lambdaX.Data[k])

// §16.4: f(W1, W2) = ‖σ(X W1) W2 − y‖².

let private sigma (m: Matrix<double>) = m.Map(fun a -> 1.0 / (1.0 + exp -a))

[<Fact>]
let ``two-layer net: gradients equal the hand-written formulas (1e-12 relative)`` () =
    let graph = GraphFile.load (examplePath "two-layer.json")
    let plan = Plan.Compile graph
    let rnd = Random 164
    for trial in 0 .. 5 do
        // Trial 0 uses the file's values; the others draw new data and weights.
        let values =
            if trial = 0 then
                [ for id in [ "X"; "y"; "W1"; "W2" ] -> id, (graph.Node id).Value.Value ]
            else
                [ "X", randomTensor rnd 8 4; "y", randomTensor rnd 8 1; "W1", randomTensor rnd 4 4; "W2", randomTensor rnd 4 1 ]
        let e = Engine.gradient Adjoints.All plan (readOnly values)
        let m id = (values |> List.find (fst >> (=) id) |> snd).AsMatrix()
        let x, y, w1, w2 = m "X", m "y", m "W1", m "W2"
        let h = sigma (x * w1)
        let r = h * w2 - y
        let lambda = 2.0 * r
        let lambdaW2 = h.Transpose() * lambda
        let lambdaH = lambda * w2.Transpose()
        let lambdaXW1 = lambdaH.PointwiseMultiply(h).PointwiseMultiply(1.0 - h)
        let lambdaW1 = x.Transpose() * lambdaXW1
        let lambdaX = lambdaXW1 * w1.Transpose()
        assertWithin 1e-12 "loss" (relativeError 0.0 (r.Column(0).DotProduct(r.Column 0)) e.Output.ScalarValue)
        let check id (expected: Matrix<double>) =
            let err = normwiseError (e.Adjoint id) (Tensor.OfMatrix expected)
            report $"two-layer trial {trial}: λ_{id} relative error {err:E2}"
            assertWithin 1e-12 $"λ_{id}" err
        check "r" lambda
        check "HW2" lambda
        check "W2" lambdaW2
        check "H" lambdaH
        check "XW1" lambdaXW1
        check "W1" lambdaW1
        check "X" lambdaX
        check "y" (-lambda)

[<Fact>]
let ``two-layer net: the gradient check passes (step 1e-6, relative error 1e-6 with floor 1e-6)`` () =
    let plan = Plan.Compile(GraphFile.load (examplePath "two-layer.json"))
    let check = Checks.gradientCheck plan null
    Assert.Equal<string>([ "X"; "y"; "W1"; "W2" ], check.Inputs |> Array.map _.Node)
    for c in check.Inputs do
        report $"two-layer gradient check {c.Node}: max relative {c.MaxRelativeError:E2}, max absolute {c.MaxAbsoluteError:E2} over {c.Elements}"
    assertWithin 1e-6 "two-layer gradient check" check.MaxRelativeError

[<Fact>]
let ``an intermediate scalar as z_n: λ = 1 there, its ancestors' by closed form, none after it`` () =
    // s = sin x, q = s·s (the output), t = q + s after it: λ_s = 2s, λ_x = 2s·cos x, no λ_t.
    let b = GraphBuilder()
    let s = b.Sin(b.Input("x", Tensor.Scalar 0.7), "s")
    let q = b.Mul(s, s, "q")
    let graph = (b.Build(b.Add(q, s, "t"))).WithOutput "q"
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let e = Engine.gradient mode (Plan.Compile graph) null
        assertWithin 1e-15 "z_n = sin² x" (relativeError 0.0 (sin 0.7 * sin 0.7) e.Output.ScalarValue)
        Assert.Equal(1.0, (e.Adjoint "q").ScalarValue)
        Assert.Null(e.Adjoint "t")
        assertWithin 1e-15 "λ_s" (relativeError 0.0 (2.0 * sin 0.7) (e.Adjoint "s").ScalarValue)
        assertWithin 1e-15 "λ_x" (relativeError 0.0 (2.0 * sin 0.7 * cos 0.7) (e.Adjoint "x").ScalarValue)

// Remark 1: Forward once per compute node, Vjp once per edge whose ends both need an adjoint.

/// Counts the calls of one node's op and delegates everything to it.
type CountingOp(inner: Op, id: string, forwards: Dictionary<string, int>, vjps: Dictionary<struct (string * int), int>) as this =
    inherit Op(inner.Name, inner.Arity, inner.Kind)
    do this.Attributes <- inner.Attributes
    override _.Shape shapes = inner.Shape shapes
    override _.Forward(args, out) =
        forwards[id] <- (match forwards.TryGetValue id with | true, n -> n | _ -> 0) + 1
        inner.Forward(args, out)
    override _.Vjp(args, out, adjoint, slot, dest) =
        let key = struct (id, slot)
        vjps[key] <- (match vjps.TryGetValue key with | true, n -> n | _ -> 0) + 1
        inner.Vjp(args, out, adjoint, slot, dest)
    override _.VjpReadsArgs = inner.VjpReadsArgs
    override _.VjpReadsOutput = inner.VjpReadsOutput

/// Runs forward and backward on the graph with every op wrapped, and checks the counts against
/// ones derived from the graph's edges alone (not from the plan).
let private checkCounts (graph: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) (mode: Adjoints) =
    let forwards = Dictionary<string, int>()
    let vjps = Dictionary<struct (string * int), int>()
    let wrapped =
        Graph.Create(graph.Nodes |> Seq.map (fun n -> { n with Op = CountingOp(n.Op, n.Id, forwards, vjps) :> Op }), graph.Output)
    let e = Engine.bind (Plan.Compile wrapped) inputs
    Engine.forward e
    Assert.Empty vjps
    for n in graph.Nodes do
        let expected = if n.Op.Kind = OpKind.Compute then 1 else 0
        Assert.True((expected = (match forwards.TryGetValue n.Id with | true, c -> c | _ -> 0)), $"Forward calls of {n.Id}")
    Engine.backward mode e
    // Which nodes need λ, from the edges: they reach z_n, and (pruned mode) an input or parameter reaches them.
    let reachesOutput = HashSet<string>([ graph.Output ])
    let mutable changed = true
    while changed do
        changed <- false
        for n in graph.Nodes do
            if reachesOutput.Contains n.Id then
                for a in n.Ancestors do
                    if reachesOutput.Add a then changed <- true
    let reachedFromLeaves = HashSet<string>()
    changed <- true
    while changed do
        changed <- false
        for n in graph.Nodes do
            if (n.Op.Kind = OpKind.Input || n.Op.Kind = OpKind.Parameter || n.Ancestors |> Array.exists reachedFromLeaves.Contains)
               && reachedFromLeaves.Add n.Id then
                changed <- true
    let needs id = reachesOutput.Contains id && (mode = Adjoints.All || reachedFromLeaves.Contains id)
    let expected =
        [ for n in graph.Nodes do
              if needs n.Id then
                  for slot, a in Array.indexed n.Ancestors do
                      if needs a then struct (n.Id, slot) ]
    Assert.Equal<struct (string * int)>(List.sort expected, vjps.Keys |> Seq.sort |> List.ofSeq)
    for KeyValue(key, count) in vjps do
        Assert.True((count = 1), $"Vjp of {key} called {count} times")
    expected.Length

[<Fact>]
let ``Remark 1: Forward once per compute node, Vjp once per needed edge, none on pruned edges`` () =
    let g =
        Graph.Create(
            [ inputNode "x" 2 1
              leafWith Leaf.parameter "w" (Tensor(2, 1, [| 0.5; -1.0 |]))
              leafWith Leaf.constant "c" (Tensor(2, 1, [| 0.1; 0.2 |]))
              node "k" Elementwise.exp [ "c" ]
              node "kk" Elementwise.mul [ "k"; "k" ]
              node "m" Elementwise.mul [ "x"; "w" ]
              node "n" Elementwise.add [ "m"; "kk" ]
              node "xx" Elementwise.mul [ "x"; "x" ]
              node "dead" Elementwise.sin [ "x" ]
              node "s" Elementwise.add [ "n"; "xx" ]
              node "z" Reduce.sqnorm [ "s" ] ],
            "z"
        )
    let inputs = readOnly [ "x", Tensor(2, 1, [| 0.3; 0.7 |]) ]
    // All: z (1), s (2), n (2), xx (2, one per slot), m (2), kk (2), k (1); none from dead.
    Assert.Equal(12, checkCounts g inputs Adjoints.All)
    // Pruned: nothing towards kk, k or c; z (1), s (2), n (1), xx (2), m (2).
    Assert.Equal(8, checkCounts g inputs Adjoints.InputsAndParameters)

[<Property(MaxTest = 60, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``Remark 1 on random DAGs`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    checkCounts dag.Graph dag.Inputs Adjoints.All |> ignore
    checkCounts dag.Graph dag.Inputs Adjoints.InputsAndParameters |> ignore

// The fixed summation order: λ_j = ((t₁ + t₂) + t₃) + … over the successors from the last in plan order
// to the first, a successor's slots in order, bit for bit.

/// λ_j summed by hand from Op.Vjp terms in the fixed order (only successors with a λ); `ascending`
/// sums them from the first successor instead, which must give other bits on data chosen for it.
let private sumInFixedOrder (e: Evaluation) (p: int) (ascending: bool) =
    let plan = e.Plan
    let terms =
        [ for struct (i, slot) in plan.Successors p do
              let lambdaI = e.AdjointAt i
              if not (isNull lambdaI) then
                  let args = plan.Ancestors i |> Seq.map e.ValueAt |> Array.ofSeq
                  yield (i, slot), vjp (plan.Op i) args (e.ValueAt i) lambdaI slot ]
        |> List.sortBy (fun ((i, slot), _) -> if ascending then (i, slot) else (-i, slot))
        |> List.map snd
    let total = (List.head terms).Clone()
    for t in List.tail terms do
        for k in 0 .. total.Count - 1 do
            total.Data[k] <- total.Data[k] + t.Data[k]
    total, terms.Length

[<Fact>]
let ``a fan-out node's adjoint is ((t1 + t2) + t3) + t4 from the last successor to the first, bit for bit`` () =
    let rnd = Random 7
    let b = GraphBuilder()
    let x = b.Input("x", randomTensor rnd 50 1)
    let w = b.Parameter("w", uniformTensor rnd 1e3 1e4 50 1)
    let t1 = b.Mul(x, w, "t1")
    let t2 = b.Sin(x, "t2")
    let t3 = b.Scale(x, 1e-7, "t3")
    let t4 = b.Exp(x, "t4")
    let z = b.Sum(b.Add(b.Add(b.Add(t1, t2), t3), t4), "z")
    let e = Engine.gradient Adjoints.All (Plan.Compile(b.Build z)) null
    let p = e.Plan.IndexOf "x"
    let expected, count = sumInFixedOrder e p false
    Assert.Equal(4, count)
    assertBitwise "λ_x" expected (e.Adjoint "x")
    // The order is observable: summed the other way round the bits differ, so the test can fail.
    let other, _ = sumInFixedOrder e p true
    Assert.False(Tensor.BitwiseEqual(other, e.Adjoint "x"), "the other order gave the same bits; the data does not test the order")

[<Property(MaxTest = 60, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``every adjoint on random DAGs is summed in the fixed order`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    let e = Engine.gradient Adjoints.All (Plan.Compile dag.Graph) dag.Inputs
    for p in 0 .. e.Plan.Count - 1 do
        if p <> e.Plan.Output && not (isNull (e.AdjointAt p)) then
            let expected, _ = sumInFixedOrder e p false
            assertBitwise e.Plan.Ids[p] expected (e.AdjointAt p)

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``the fast passes give the bits of the plain reference passes, in both modes`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    let plan = Plan.Compile dag.Graph
    let values = Reference.forward plan dag.Inputs
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let e = Engine.gradient mode plan dag.Inputs
        let adjoints = Reference.backward mode plan values
        for p in 0 .. plan.Count - 1 do
            if e.HasValueAt p then assertBitwise $"value of {plan.Ids[p]}" values[p] (e.ValueAt p)
            if isNull adjoints[p] then Assert.Null(e.AdjointAt p)
            else assertBitwise $"{mode} adjoint of {plan.Ids[p]}" adjoints[p] (e.AdjointAt p)

// Failures name the node and op.

[<Fact>]
let ``a singular matrix in solve fails the evaluation naming the node and op`` () =
    let b = GraphBuilder()
    let a = b.Constant("A", Tensor.OfRows [| [| 1.0; 2.0 |]; [| 2.0; 4.0 |] |])
    let x = b.Solve(a, b.Input("b", 2, 1), "x")
    let plan = Plan.Compile(b.Build(b.Sum(x, "z")))
    let ex = throws<EvaluationException> (fun () -> Engine.evaluate plan (readOnly [ "b", Tensor(2, 1, [| 1.0; 1.0 |]) ]) |> ignore)
    Assert.Equal("x", ex.Node)
    Assert.Equal("solve", ex.Op)
    Assert.Equal("solve: the matrix A is singular", ex.Reason)
    Assert.Equal("node 'x': op 'solve' failed: solve: the matrix A is singular", ex.Message)

[<Fact>]
let ``an unbound input fails the evaluation naming the input`` () =
    let b = GraphBuilder()
    let plan = Plan.Compile(b.Build(b.Sum(b.Input("x", 2, 1), "z")))
    let ex = throws<EvaluationException> (fun () -> Engine.evaluate plan null |> ignore)
    Assert.Equal("node 'x': op 'input' failed: no value bound to this input", ex.Message)

// One plan, many input sets; one evaluation reused.

let private twoLayer = lazy (GraphFile.load (examplePath "two-layer.json"))

let private inputSets (seed: int) (count: int) =
    let rnd = Random seed
    [ for _ in 1 .. count -> readOnly [ "X", randomTensor rnd 8 4; "y", randomTensor rnd 8 1; "W1", randomTensor rnd 4 4 ] ]

/// Every value both evaluations keep and every adjoint, bit for bit; two evaluations made alike keep
/// the same values.
let private assertSameEvaluation (expected: Evaluation) (actual: Evaluation) =
    for p in 0 .. expected.Plan.Count - 1 do
        let id = expected.Plan.Ids[p]
        if expected.KeepsAllValues = actual.KeepsAllValues then
            Assert.True((expected.HasValue id = actual.HasValue id), $"z_{id} kept in one evaluation only")
        if expected.HasValue id && actual.HasValue id then
            assertBitwise $"z_{id}" (expected.Value id) (actual.Value id)
        match expected.Adjoint id, actual.Adjoint id with
        | null, null -> ()
        | null, _
        | _, null -> Assert.Fail $"λ_{id} computed in one evaluation only"
        | a, b -> assertBitwise $"λ_{id}" a b

[<Fact>]
let ``one plan evaluated for many input sets gives what fresh plans give`` () =
    let plan = Plan.Compile twoLayer.Value
    let sets = inputSets 9 5
    let many = Engine.gradientMany Adjoints.All plan sets |> Array.ofSeq
    Assert.Equal(5, many.Length)
    for set, e in List.zip sets (List.ofArray many) do
        let fresh = Engine.gradient Adjoints.All (Plan.Compile(GraphFile.load (examplePath "two-layer.json"))) set
        assertSameEvaluation fresh e
    // Different inputs really gave different results.
    Assert.NotEqual(many[0].Output.ScalarValue, many[1].Output.ScalarValue)

[<Fact>]
let ``forward-only evaluation gives the same values and keeps no adjoints`` () =
    let plan = Plan.Compile twoLayer.Value
    for set in inputSets 10 3 do
        let forward = Engine.evaluate plan set
        let full = Engine.gradient Adjoints.All plan set
        Assert.False forward.HasAdjoints
        Assert.True full.HasAdjoints
        for id in plan.Ids do
            assertBitwise id (full.Value id) (forward.Value id)
            Assert.Null(forward.Adjoint id)

[<Fact>]
let ``reusing one Evaluation gives what fresh evaluations give`` () =
    let plan = Plan.Compile twoLayer.Value
    let reused = Evaluation plan
    let reusedLean = Evaluation(plan, Adjoints.InputsAndParameters)
    Assert.True reused.KeepsAllValues
    for set in inputSets 11 4 do
        for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
            reused.SetAll set
            Engine.forward reused
            Engine.backward mode reused
            // Every value, against a fresh evaluation that keeps them all, then against the mode's own.
            let fresh = Engine.bind plan set
            Engine.forward fresh
            Engine.backward mode fresh
            assertSameEvaluation fresh reused
            assertSameEvaluation (Engine.gradient mode plan set) reused
        // An evaluation that shares buffers gives the same when reused.
        reusedLean.SetAll set
        Engine.forward reusedLean
        Engine.backward Adjoints.InputsAndParameters reusedLean
        assertSameEvaluation (Engine.gradient Adjoints.InputsAndParameters plan set) reusedLean
        // A forward-only run on it forgets the adjoints.
        Engine.forward reused
        Assert.False reused.HasAdjoints
        Assert.Null(reused.Adjoint "W1")
        assertSameEvaluation (Engine.evaluate plan set) reused

[<Fact>]
let ``pruned mode leaves λ null where no input or parameter is reached, and agrees elsewhere`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(2, 1, [| 0.3; -0.2 |]))
    let k = b.Exp(b.Constant("c", Tensor(2, 1, [| 0.1; 0.2 |])), "k")
    let z = b.Sum(b.Mul(x, k), "z")
    let plan = Plan.Compile(b.Build z)
    let e = Evaluation plan
    Engine.forward e
    Engine.backward Adjoints.All e
    let all = e.Adjoint("x").Clone()
    Assert.NotNull(e.Adjoint "k")
    Engine.backward Adjoints.InputsAndParameters e
    Assert.Null(e.Adjoint "k")
    Assert.Null(e.Adjoint "c")
    assertBitwise "λ_x" all (e.Adjoint "x")
