/// Theorem 16.1 on random DAGs (every λ_j = ∂z_n/∂z_j by central differences), the Lagrangian
/// certificate (both residual families vanish, and fail when an adjoint or value is wrong), and the
/// gradient check's own verdicts.
module Adjoint.Tests.TestChecks

open System
open System.Collections.Generic
open FsCheck.Xunit
open Xunit
open Adjoint
open Adjoint.Ops
open Adjoint.Tests.Helpers

/// Central-difference step, relative to max(1, |x|).
[<Literal>]
let Step = 1e-6

/// |λ − d| ≤ Tolerance · max(1, |λ|, |d|): node values stay within [−4, 4] (RandomDag.bound), so the
/// differences' rounding error, about 1e-16·|z_n| / 1e-6, is far below it.
[<Literal>]
let Tolerance = 1e-6

/// ∂z_n/∂z_j by central differences: the graph rebuilt with node j an input fed z_j ± h e_k, so
/// that exactly z_j moves and everything downstream of it is recomputed.
let partials (graph: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) (id: string) (zj: Tensor) =
    let nodes =
        graph.Nodes
        |> Seq.map (fun n ->
            if n.Id = id then { n with Op = Leaf.input (graph.ShapeOf id); Ancestors = [||]; Value = None } else n)
    let plan = Plan.Compile(Graph.Create(nodes, graph.Output))
    let e = Engine.bind plan inputs
    // Perturbed through Set: a 1×1 value read from an evaluation is a copy, not its buffer.
    let x = Array.copy zj.Data
    let f () =
        e.Set(id, Tensor(zj.Shape, x))
        Engine.forward e
        e.Output.ScalarValue
    Tensor(zj.Shape, Array.init x.Length (fun k -> centralDifference f x k (Step * max 1.0 (abs x[k]))))

/// Every λ_j of the graph against ∂z_n/∂z_j, and the leaves through Checks.gradientCheck.
let private checkTheorem (graph: Graph) (inputs: IReadOnlyDictionary<string, Tensor>) =
    let plan = Plan.Compile graph
    let e = Engine.gradient Adjoints.All plan inputs
    let mutable worst = 0.0
    for p in 0 .. plan.Count - 1 do
        if p <> plan.Output then
            let numeric = partials graph inputs plan.Ids[p] (e.ValueAt p)
            let lambda = e.AdjointAt p
            for k in 0 .. numeric.Count - 1 do
                if isNull lambda then
                    // No path to z_n: moving z_j changes nothing at all.
                    Assert.Equal(0.0, numeric.Data[k])
                else
                    worst <- max worst (relativeError 1.0 lambda.Data[k] numeric.Data[k])
    report $"Theorem 16.1, {plan.Count} nodes, output {graph.Output}: max relative error {worst:E2}"
    assertWithin Tolerance "λ_j vs ∂z_n/∂z_j" worst
    // Leaves again, through the library's own gradient check with the same measure.
    let check = Checks.gradientCheckWith Step 1.0 plan inputs
    assertWithin Tolerance "Checks.gradientCheck" check.MaxRelativeError

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``Theorem 16.1 on random DAGs: every λ_j equals ∂z_n/∂z_j`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    checkTheorem dag.Graph dag.Inputs
    // An intermediate scalar as z_n: it has successors of its own, which must get no adjoint.
    if spec.Rows = 1 && spec.Cols = 1 then
        let middle = dag.Graph.Nodes[spec.Seed % (dag.Graph.Count - 1)].Id
        checkTheorem (dag.Graph.WithOutput middle) dag.Inputs

let private copies (e: Evaluation) =
    let n = e.Plan.Count
    let values = Array.init n (fun p -> e.ValueAt(p).Clone())
    let adjoints = Array.init n (fun p -> match e.AdjointAt p with | null -> null | t -> t.Clone())
    values, adjoints

let private largest (tensors: Tensor seq) =
    tensors |> Seq.filter (isNull >> not) |> Seq.collect _.Data |> Seq.fold (fun m v -> max m (abs v)) 1.0

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``the Lagrangian certificate: both residuals vanish, and one wrong adjoint or value breaks it`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    let plan = Plan.Compile dag.Graph
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        // Made with bind, so that it keeps every value the residuals read in either mode.
        let e = Engine.bind plan dag.Inputs
        Engine.forward e
        Engine.backward mode e
        let r = Checks.residualsOf e
        let values, adjoints = copies e
        // Scaled by the largest |z| and |λ|: 1e-12 leaves room for rounding only.
        assertWithin 1e-12 "primal residual" (r.Primal / largest values)
        assertWithin 1e-12 "dual residual" (r.Dual / largest adjoints)
        // The certificate can fail: one element of one adjoint moved by δ shows up as δ. (In pruned
        // mode z_n may depend on constants only; then there is no adjoint to move.)
        let withAdjoint = [| for p in 0 .. plan.Count - 1 do if not (isNull adjoints[p]) then p |]
        Assert.True(mode = Adjoints.InputsAndParameters || withAdjoint.Length > 0)
        if withAdjoint.Length > 0 then
            let j = withAdjoint[spec.Seed % withAdjoint.Length]
            let k = spec.Seed % adjoints[j].Count
            let delta = 1e-3 * max 1.0 (abs adjoints[j].Data[k])
            adjoints[j].Data[k] <- adjoints[j].Data[k] + delta
            let corrupted = Checks.residuals plan values adjoints
            Assert.True(corrupted.Dual >= 0.5 * delta, $"dual residual {corrupted.Dual} after moving λ_{plan.Ids[j]} by {delta}")
            Assert.Equal(r.Primal, corrupted.Primal)
        // So does one value.
        let computed = [| for p in 0 .. plan.Count - 1 do if plan.Op(p).Kind = OpKind.Compute then p |]
        let i = computed[spec.Seed % computed.Length]
        let delta = 1e-3 * max 1.0 (abs values[i].Data[0])
        values[i].Data[0] <- values[i].Data[0] + delta
        let corrupted = Checks.residuals plan values adjoints
        Assert.True(corrupted.Primal >= 0.5 * delta, $"primal residual {corrupted.Primal} after moving z_{plan.Ids[i]} by {delta}")

[<Fact>]
let ``the residuals of an evaluation that dropped values are refused, naming the node`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(3, 1, [| 0.1; -0.7; 1.2 |]))
    // sum's VJP reads neither its argument nor its output: the lean evaluation drops s.
    let plan = Plan.Compile(b.Build(b.Sum(b.Sin(x, "s"), "z")))
    let lean = Engine.gradient Adjoints.InputsAndParameters plan null
    Assert.False(lean.HasValue "s")
    let ex = throws<ArgumentException> (fun () -> Checks.residualsOf lean |> ignore)
    Assert.Contains("node 's'", ex.Message)
    // The same adjoints with every value kept are certified.
    let e = Engine.bind plan null
    Engine.forward e
    Engine.backward Adjoints.InputsAndParameters e
    let r = Checks.residualsOf e
    Assert.Equal(0.0, r.Primal)
    Assert.Equal(0.0, r.Dual)

/// sin with a VJP 1% too large: what a subtly wrong op looks like.
let private wrongSin =
    { new Op("sin", 1, OpKind.Compute) with
        override _.Shape s = Ok s[0]
        override _.Forward(args, out) = Elementwise.sin.Forward(args, out)
        override _.Vjp(args, _, adjoint, _, dest) =
            for k in 0 .. dest.Count - 1 do
                dest.Data[k] <- 1.01 * cos args[0].Data[k] * adjoint.Data[k] }

[<Fact>]
let ``the gradient check catches a wrong VJP that the residuals cannot`` () =
    let x = Tensor(3, 1, [| 0.1; -0.7; 1.2 |])
    let graphWith (sinOp: Op) =
        Graph.Create([ inputNode "x" 3 1; node "s" sinOp [ "x" ]; node "z" Reduce.sum [ "s" ] ], "z") |> Plan.Compile
    let good = Checks.gradientCheck (graphWith Elementwise.sin) (readOnly [ "x", x ])
    report $"sin gradient check: {good.MaxRelativeError:E2}"
    assertWithin 1e-6 "the true VJP" good.MaxRelativeError
    let plan = graphWith wrongSin
    let bad = Checks.gradientCheck plan (readOnly [ "x", x ])
    Assert.InRange(bad.MaxRelativeError, 0.009, 0.011)
    // The residuals certify that λ solves the backward equations the ops state, not that the ops'
    // VJPs are right; that is the gradient check's job.
    let r = Checks.residualsOf (Engine.gradient Adjoints.All plan (readOnly [ "x", x ]))
    Assert.Equal(0.0, r.Dual)

[<Fact>]
let ``gradient check reports inputs and parameters, not constants, with their sizes`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor(2, 1, [| 0.5; -0.25 |]))
    let w = b.Parameter("w", Tensor(2, 1, [| 2.0; 3.0 |]))
    let c = b.Constant("c", Tensor(2, 1, [| 1.0; 1.0 |]))
    let z = b.SquaredNorm(b.Add(b.Mul(x, w), c), "z")
    let check = Checks.gradientCheck (Plan.Compile(b.Build z)) null
    Assert.Equal<string>([ "x"; "w" ], check.Inputs |> Array.map _.Node)
    Assert.All(check.Inputs, fun c -> Assert.Equal(2, c.Elements))
    assertWithin 1e-6 "gradient check" check.MaxRelativeError
    Assert.Equal(check.MaxRelativeError, check.Inputs |> Array.map _.MaxRelativeError |> Array.max)

[<Fact>]
let ``residuals of a hand-corrupted warm-up name the size of the error`` () =
    let e = Engine.gradient Adjoints.All (Plan.Compile(GraphFile.load (examplePath "warmup.json"))) null
    let r = Checks.residualsOf e
    Assert.Equal(0.0, r.Primal)
    Assert.Equal(0.0, r.Dual)
    let values, adjoints = copies e
    let z = e.Plan.IndexOf "z"
    adjoints[z] <- Tensor.Scalar(adjoints[z].ScalarValue + 0.25)
    let r = Checks.residuals e.Plan values adjoints
    // λ_z is off by 0.25 from cos(z)·λ_f, and λ_x by 0.25·2|x_k| from the corrupted λ_z's 2x λ_z:
    // the largest is 0.5·0.8.
    Assert.Equal(0.4, r.Dual, 14)
    Assert.Equal(0.0, r.Primal)
