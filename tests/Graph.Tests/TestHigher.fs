/// The adjoint graph (AdjointGraph.fs, VjpGraphs.fs) and what it gives: Hessian-vector products and
/// Jacobian-vector products, against the engine, finite differences and closed forms.
module Adjoint.Tests.TestHigher

open System
open System.Collections.Generic
open Xunit
open FsCheck.Xunit
open Adjoint
open Adjoint.OpTable
open Adjoint.Tests.Helpers

/// One graph per op and shape class: leaves (parameters; typed slots constants), y = op(args), and
/// z = Σ sin(y) so that second derivatives through the op meet a curved function; None for an op
/// whose class makes no float64 node.
let private opGraph (name: string) (c: ShapeClass) (rnd: Random) =
    let b = GraphBuilder()
    let row = Table.rowOf name
    let drawn = Table.argumentsOf row c rnd
    let args =
        drawn |> Array.mapi (fun slot v ->
            match c.TypeOf slot with
            | ElementType.Float64 -> b.Parameter($"p{slot}", v)
            | t -> b.Constant($"k{slot}", v, t))
    let y = b.Apply(name, args, c.AttributeMap, "y")
    if b.ElementTypeOf y <> ElementType.Float64 then None
    else Some(b.Build(b.Sum(b.Sin(y, "s"), "z")))

let private classesOf (name: string) =
    match Table.rowOf name with
    | Compute(_, classes, _) -> classes
    | Leaf _ -> []

/// Every (op, class, graph) of the covered ops, seeds fixed per op.
let private opGraphs () =
    [ for name in VjpGraphs.covered do
          // A seed from the name's characters: string.GetHashCode differs from run to run.
          let rnd = Random(name |> Seq.sumBy int)
          for c in classesOf name do
              match opGraph name c rnd with
              | Some g -> yield name, c.Class, g
              | None -> () ]

/// A random tensor per float64 input and parameter.
let private randomVectors (g: Graph) (rnd: Random) =
    readOnly [ for id in AdjointGraph.variables g -> id, tensorOfShape (g.ShapeOf id) (fun () -> uniform rnd -1.0 1.0) ]

let private dot (a: IReadOnlyDictionary<string, Tensor>) (b: IReadOnlyDictionary<string, Tensor>) =
    a.Keys |> Seq.sumBy (fun k -> inner a[k] b[k])

let private leaves (g: Graph) = g.Nodes |> Seq.filter (fun n -> n.Op.Kind <> OpKind.Compute) |> Seq.map _.Id |> Array.ofSeq

/// The largest error ‖λ_graph − λ_engine‖/max(‖λ_engine‖, 1) over the nodes, where, and whether all
/// were bitwise equal; absent adjoints count as zeros.
let private compareAdjoints (g: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) =
    let a = AdjointGraph.build g (leaves g)
    let e = Engine.gradient Adjoints.All (Plan.Compile g) inputs
    let ev = Engine.evaluate (Plan.Compile a.Graph) inputs
    let mutable worst = 0.0
    let mutable bitwise = true
    let mutable worstAt = ""
    for n in g.Nodes do
        let expected = e.Adjoint n.Id
        if not (isNull expected) && g.ElementTypeOf n.Id = ElementType.Float64 then
            let actual =
                match a.Adjoints.TryGetValue n.Id with
                | true, id -> ev.Value id
                | _ -> Tensor.Zeros expected.Shape
            // Relative to max(‖λ‖, 1): a λ that cancels to ~0 keeps only the rounding of its terms.
            let diff = Array.fold2 (fun acc (x: double) y -> acc + (x - y) * (x - y)) 0.0 actual.Data expected.Data
            let err = sqrt diff / max 1.0 (sqrt (inner expected expected))
            let err = if Double.IsNaN err then Double.PositiveInfinity else err
            if err > worst then
                worst <- err
                worstAt <- $"{n.Id} ({n.Op.Name})"
            if not (Array.forall2 (fun (x: double) y -> x = y) actual.Data expected.Data) then bitwise <- false
    worst, bitwise, worstAt

[<Fact>]
let ``the adjoint graph's λ equal the engine's backward pass for every covered op and shape class (1e-13, floor 1)`` () =
    Assert.Empty VjpGraphs.uncovered
    let mutable notBitwise = []
    let mutable count = 0
    for name, cls, g in opGraphs () do
        let worst, bitwise, at = compareAdjoints g null
        count <- count + 1
        if not bitwise then notBitwise <- $"{name} ({cls}) {worst:E1}" :: notBitwise
        assertWithin 1e-13 $"λ of {name} ({cls}) at {at}" worst
    let listed = String.Join("; ", List.rev notBitwise)
    report $"{count} graphs compared; not bitwise equal: {notBitwise.Length}: {listed}"
    Assert.True(count > 300, $"only {count} graphs compared")

[<Fact>]
let ``the adjoint graph's λ equal the engine's on random graphs of all covered ops (1e-12, floor 1)`` () =
    for seed in 1 .. 6 do
        let ops = VjpGraphs.covered
        let g = RandomOpGraph.build seed ops 2
        let worst, bitwise, at = compareAdjoints g (RandomOpGraph.inputs g seed)
        report $"random graph {seed}: {g.Count} nodes, λ normwise error {worst:E2} (at {at}), bitwise {bitwise}"
        assertWithin 1e-12 $"λ on random graph {seed} at {at}" worst

[<Fact>]
let ``an op without a VJP graph is refused by name`` () =
    // Every catalogue op has one; an op made outside the catalogue (an application's own) may not.
    let cube =
        { new Op("cube", 1, OpKind.Compute) with
            override _.Shape s = Ok s[0]
            override _.Forward(args, out) = Array.iteri (fun k (v: double) -> out.Data[k] <- v * v * v) args[0].Data
            override _.Vjp(args, _, l, _, dest) = Array.iteri (fun k (v: double) -> dest.Data[k] <- 3.0 * v * v * l.Data[k]) args[0].Data }
    let b = GraphBuilder()
    let x = b.Parameter("x", Tensor(Shape.Of(2, 2), Array.init 4 double))
    let g = b.Build(b.Sum(b.AddNode("c", cube, [| x |], None)))
    let e = throws<ArgumentException> (fun () -> AdjointGraph.build g [ "x" ] |> ignore)
    Assert.Contains("node 'c': op 'cube' has no VJP graph yet", e.Message)

/// (∇f(x + εv) − ∇f(x − εv)) / 2ε for every variable, the engine's gradients.
let private centralHv (g: Graph) (v: IReadOnlyDictionary<string, Tensor>) (eps: double) =
    let plan = Plan.Compile g
    let at (sign: double) =
        let values = readOnly [ for id in v.Keys -> id, Tensor((g.ShapeOf id), Array.map2 (fun x d -> x + sign * eps * d) (g.Node id).Value.Value.Data v[id].Data) ]
        Engine.gradient Adjoints.InputsAndParameters plan values
    let plus, minus = at 1.0, at -1.0
    readOnly [ for id in v.Keys ->
                   let p, m = plus.Adjoint id, minus.Adjoint id
                   if isNull p then id, Tensor.Zeros(g.ShapeOf id)
                   else id, Tensor(p.Shape, Array.map2 (fun a b -> (a - b) / (2.0 * eps)) p.Data m.Data) ]

[<Fact>]
let ``HVP equals central differences of the gradient for every covered op and shape class (1e-6)`` () =
    let rnd = Random 16
    let mutable worst = 0.0
    for name, cls, g in opGraphs () do
        let v = randomVectors g rnd
        if v.Count > 0 then
            let hv = Higher.hvp g null v
            let fd = centralHv g v 1e-5
            for id in v.Keys do
                // Kinks (relu, abs, clamp, max at a tie) have no second derivative; the rows keep away from them.
                let err = normwiseError hv[id] fd[id]
                let scale = sqrt (inner fd[id] fd[id])
                let err = if scale < 1e-6 then sqrt (inner hv[id] hv[id]) else err
                worst <- max worst err
                if err > 1e-8 then report $"{name} ({cls}) at {id}: {err:E2}"
                assertWithin 1e-6 $"Hv of {name} ({cls}) at {id}" err
    report $"HVP vs central differences: worst normwise error {worst:E2}"

[<Fact>]
let ``HVP is symmetric: uᵀHv = vᵀHu on random graphs (1e-12 relative)`` () =
    let ops = VjpGraphs.covered
    for seed in 1 .. 6 do
        let g = RandomOpGraph.build (100 + seed) ops 2
        let inputs = RandomOpGraph.inputs g seed
        let rnd = Random seed
        let u, v = randomVectors g rnd, randomVectors g rnd
        let h = HessianVector(g, AdjointGraph.variables g)
        let uhv = dot u (h.Apply(inputs, v))
        let vhu = dot v (h.Apply(inputs, u))
        let err = relativeError 1e-12 uhv vhu
        report $"random graph {seed}: {g.Count} nodes, HVP graph {h.Graph.Count} nodes, uᵀHv {uhv:R} vᵀHu {vhu:R}, relative {err:E2}"
        assertWithin 1e-12 $"symmetry on random graph {seed}" err

[<Fact>]
let ``HVP of xᵀAx is (A + Aᵀ)v exactly to rounding`` () =
    let rnd = Random 7
    let n = 5
    let a = randomTensor rnd n n
    let b = GraphBuilder()
    let x = b.Parameter("x", randomTensor rnd n 1)
    let g = b.Build(b.Sum(b.MatMul(b.Transpose x, b.MatMul(b.Constant("A", a), x))))
    let h = HessianVector(g, [| "x" |])
    for k in 0 .. n - 1 do
        let e = Tensor(Shape.Of(n, 1), Array.init n (fun i -> if i = k then 1.0 else 0.0))
        let column = (h.Apply(null, readOnly [ "x", e ]))["x"]
        for i in 0 .. n - 1 do
            assertWithin 1e-15 $"H[{i},{k}]" (abs (column.Data[i] - (a[i, k] + a[k, i])))

[<Fact>]
let ``HVP of the two-layer net's W2 block is 2 HᵀH v (1e-13)`` () =
    let g = GraphFile.load (examplePath "two-layer.json")
    let m id = (g.Node id).Value.Value.AsMatrix()
    let hidden = (m "X" * m "W1").Map(fun a -> 1.0 / (1.0 + exp -a))
    let rnd = Random 3
    let v = randomTensor rnd 4 1
    let hv = (HessianVector(g, [| "W2" |]).Apply(null, readOnly [ "W2", v ]))["W2"]
    let expected = Tensor.OfMatrix(2.0 * hidden.Transpose() * hidden * v.AsMatrix())
    let err = normwiseError hv expected
    report $"two-layer W2 block: normwise error {err:E2}"
    assertWithin 1e-13 "H_W2 v" err

[<Fact>]
let ``Newton's step by conjugate gradients on HVPs solves a convex quadratic in one step`` () =
    // f(x) = ½ xᵀ(MᵀM + I)x − bᵀx + Σ x³/1000 restricted to none: a pure quadratic, minimum where ∇f = 0.
    let rnd = Random 11
    let n = 6
    let mt = randomTensor rnd n n
    let b = GraphBuilder()
    let x = b.Parameter("x", randomTensor rnd n 1)
    let mx = b.MatMul(b.Constant("M", mt), x)
    let f = b.Add(b.Scale(b.Add(b.Sum(b.Square mx), b.Sum(b.Square x)), 0.5), b.Neg(b.Sum(b.Mul(b.Constant("b", randomTensor rnd n 1), x))))
    let g = b.Build f
    let plan = Plan.Compile g
    let gradientAt (point: Tensor) = (Engine.gradient Adjoints.InputsAndParameters plan (readOnly [ "x", point ])).Adjoint("x").Clone()
    let h = HessianVector(g, [| "x" |])
    let x0 = (g.Node "x").Value.Value
    let hv (p: Tensor) = (h.Apply(readOnly [ "x", x0 ], readOnly [ "x", p ]))["x"]
    // Conjugate gradients on H d = −∇f(x0), n iterations (exact in exact arithmetic).
    let g0 = gradientAt x0
    let d = Array.zeroCreate n
    let r = g0.Data |> Array.map (fun v -> -v)
    let p = Array.copy r
    let mutable rr = Array.fold2 (fun s a c -> s + a * c) 0.0 r r
    for _ in 1 .. n do
        if rr > 1e-30 then
            let hp = (hv (Tensor(Shape.Of(n, 1), Array.copy p))).Data
            let alpha = rr / Array.fold2 (fun s a c -> s + a * c) 0.0 p hp
            for i in 0 .. n - 1 do
                d[i] <- d[i] + alpha * p[i]
                r[i] <- r[i] - alpha * hp[i]
            let next = Array.fold2 (fun s a c -> s + a * c) 0.0 r r
            for i in 0 .. n - 1 do
                p[i] <- r[i] + (next / rr) * p[i]
            rr <- next
    let x1 = Tensor(Shape.Of(n, 1), Array.map2 (+) x0.Data d)
    let g1 = gradientAt x1
    let ratio = sqrt (inner g1 g1) / sqrt (inner g0 g0)
    report $"Newton step: ‖∇f(x1)‖/‖∇f(x0)‖ = {ratio:E2}"
    assertWithin 1e-12 "gradient after one Newton step" ratio

/// Jᵀu of node y by the engine: the gradient of Σ u ⊙ y in g with that node added.
let private vjpOf (g: Graph) (y: string) (u: Tensor) (inputs: IReadOnlyDictionary<string, Tensor>) =
    let b = GraphBuilder()
    let refs = Dictionary<string, NodeRef>()
    for n in g.Nodes do
        refs[n.Id] <- b.AddNode(n.Id, n.Op, n.Ancestors |> Array.map (fun a -> refs[a]), n.Value)
    let out = b.Sum(b.Mul(b.Constant("⟨u", u), refs[y]), "⟨u,y⟩")
    let g2 = b.Build out
    let e = Engine.gradient Adjoints.InputsAndParameters (Plan.Compile g2) inputs
    readOnly [ for id in AdjointGraph.variables g -> id, (match e.Adjoint id with
                                                           | null -> Tensor.Zeros(g.ShapeOf id)
                                                           | t -> t.Clone()) ]

[<Fact>]
let ``JVP: ⟨u, Jv⟩ = ⟨Jᵀu, v⟩ for every covered op's node and on random graphs (1e-12 relative)`` () =
    let rnd = Random 5
    let check (what: string) (g: Graph) (y: string) (inputs: IReadOnlyDictionary<string, Tensor>) =
        let v = randomVectors g rnd
        if v.Count > 0 then
            let u = tensorOfShape (g.ShapeOf y) (fun () -> uniform rnd -1.0 1.0)
            let jv = JacobianVector(g, y, AdjointGraph.variables g).Apply(inputs, v)
            let lhs = inner u jv
            let rhs = dot (vjpOf g y u inputs) v
            assertWithin 1e-12 $"⟨u, Jv⟩ = ⟨Jᵀu, v⟩ for {what}: {lhs:R} vs {rhs:R}" (relativeError 1e-12 lhs rhs)
    let mutable count = 0
    for name, cls, g in opGraphs () do
        check $"{name} ({cls})" g "y" null
        count <- count + 1
    let ops = VjpGraphs.covered
    for seed in 1 .. 4 do
        let g = RandomOpGraph.build (200 + seed) ops 2
        check $"random graph {seed}" g g.Output (RandomOpGraph.inputs g seed)
    report $"JVP checked on {count} op graphs and 4 random graphs"

/// uᵀHv and vᵀHu, and ⟨u, Jv⟩ and ⟨Jᵀu, v⟩ of the output, on one of RandomDag's graphs (fan-out,
/// shared sub-expressions, repeated arguments; scalar or small tensors).
[<Property(MaxTest = 40, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``uᵀHv = vᵀHu and ⟨u, Jv⟩ = ⟨Jᵀu, v⟩ on RandomDag graphs (1e-11 relative)`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    let g = dag.Graph
    let rnd = Random spec.Seed
    let u, v = randomVectors g rnd, randomVectors g rnd
    if v.Count > 0 then
        let h = HessianVector(g, AdjointGraph.variables g)
        let uhv = dot u (h.Apply(dag.Inputs, v))
        let vhu = dot v (h.Apply(dag.Inputs, u))
        assertWithin 1e-11 $"uᵀHv {uhv:R} vs vᵀHu {vhu:R}" (relativeError 1e-11 uhv vhu)
        let w = tensorOfShape (g.ShapeOf g.Output) (fun () -> uniform rnd -1.0 1.0)
        let jv = JacobianVector(g, g.Output, AdjointGraph.variables g).Apply(dag.Inputs, v)
        let lhs = inner w jv
        let rhs = dot (vjpOf g g.Output w dag.Inputs) v
        assertWithin 1e-11 $"⟨u, Jv⟩ {lhs:R} vs ⟨Jᵀu, v⟩ {rhs:R}" (relativeError 1e-11 lhs rhs)

[<Fact>]
let ``JVP of a linear map is the matrix times the tangent`` () =
    let rnd = Random 9
    let a = randomTensor rnd 3 4
    let b = GraphBuilder()
    let x = b.Parameter("x", randomTensor rnd 4 2)
    let y = b.MatMul(b.Constant("A", a), x, "y")
    let g = b.Build(b.Sum y)
    let v = randomTensor rnd 4 2
    let jv = Higher.jvpOf g "y" null (readOnly [ "x", v ])
    assertWithin 1e-15 "A v" (normwiseError jv (Tensor.OfMatrix(a.AsMatrix() * v.AsMatrix())))

[<Fact>]
let ``Newton–CG on HVPs reaches the logistic regression's optimum in far fewer iterations than Adam (examples/NewtonCg)`` () =
    let x, s = Adjoint.Examples.NewtonCg.loadDigits (examplePath "data/digits-train.csv") 3 8 120
    let problem = Adjoint.Examples.NewtonCg.logistic x s 1e-3
    let newton = Adjoint.Examples.NewtonCg.newtonCg problem 50 50 1e-10
    let best = List.last newton.Losses
    let adam = Adjoint.Examples.NewtonCg.adam problem 0.05 20000 (best + 1e-6)
    let reach trace = Adjoint.Examples.NewtonCg.iterationsTo best 1e-6 trace
    report $"Newton-CG {reach newton} iterations ({newton.Hvps} HVPs), Adam {reach adam}; loss {best:R}"
    // The gradient at Newton's end vanishes: it is the optimum, not a point where it stalled.
    let plan = Plan.Compile problem.Graph
    let g = Engine.gradient Adjoints.InputsAndParameters plan newton.Final
    Assert.True(sqrt (inner (g.Adjoint "w") (g.Adjoint "w")) < 1e-8)
    let n = (reach newton).Value
    let a = (reach adam).Value
    Assert.True(n <= 10, $"Newton–CG took {n} iterations")
    Assert.True(a >= 10 * n, $"Adam took {a} iterations, Newton–CG {n}")

[<Fact>]
let ``with parameters as inputs, an HVP takes the parameters' values from the evaluation (two-layer W2 block, 1e-13)`` () =
    // What a deployed derived graph relies on: the trained W1 arrives with the evaluation, not from the file.
    let g = AdjointGraph.parametersAsInputs (GraphFile.load (examplePath "two-layer.json"))
    Assert.Equal(OpKind.Input, (g.Node "W1").Op.Kind)
    Assert.True((g.Node "W1").Value.IsNone)
    let rnd = Random 4
    let w1 = randomTensor rnd 4 4
    let x = (g.Node "X").Value.Value
    let hidden = (x.AsMatrix() * w1.AsMatrix()).Map(fun a -> 1.0 / (1.0 + exp -a))
    let v = randomTensor rnd 4 1
    let inputs = readOnly [ "W1", w1; "W2", randomTensor rnd 4 1 ]
    let h = HessianVector(g, [| "W2" |])
    let hv = (h.Apply(inputs, readOnly [ "W2", v ]))["W2"]
    assertWithin 1e-13 "H_W2 v at the given W1" (normwiseError hv (Tensor.OfMatrix(2.0 * hidden.Transpose() * hidden * v.AsMatrix())))
    throws<EvaluationException> (fun () -> h.Apply(readOnly [ "W2", v ], readOnly [ "W2", v ]) |> ignore) |> ignore

[<Fact>]
let ``a vector or tangent that is missing, of the wrong shape or for no target is refused by node and shapes`` () =
    let g = GraphFile.load (examplePath "two-layer.json")
    let h = HessianVector(g, [| "W1"; "W2" |])
    let v = Tensor.Zeros(Shape.Of(4, 1))
    let missing = throws<ArgumentException> (fun () -> h.Bind(null, readOnly [ "W2", v ]) |> ignore)
    Assert.Equal("node 'W1': no vector given (shape 4x4)", missing.Message)
    let wrong = throws<ArgumentException> (fun () -> h.Bind(null, readOnly [ "W1", v; "W2", v ]) |> ignore)
    Assert.Equal("node 'W1': vector of shape 4x1 does not match the node's shape 4x4", wrong.Message)
    let j = JacobianVector(g, g.Output, [| "W2" |])
    let extra = throws<ArgumentException> (fun () -> j.Bind(null, readOnly [ "W2", v; "X", v ]) |> ignore)
    Assert.Equal("node 'X' is not a target; tangents are given for W2", extra.Message)
