/// Profile: the step DAG of a plan, the critical path through hand-timed steps, the edge delays.
module Adjoint.Tests.TestProfile

open Xunit
open Adjoint
open Adjoint.Profile

let private step node backward start duration =
    { Node = node; Backward = backward; Start = start; Duration = duration; Silo = "s"; BytesIn = 0L; BytesOut = 0L }

[<Fact>]
let ``the critical path of a diamond follows the dependency each step waited for`` () =
    // a → b, a → c, b → d, c → d; c ends after b, so d waited for c.
    let steps = [| step "a" false 0.0 10.0; step "b" false 12.0 5.0; step "c" false 11.0 20.0; step "d" false 35.0 4.0 |]
    let deps = [| [||]; [| 0 |]; [| 0 |]; [| 1; 2 |] |]
    let a = analyse steps deps
    Assert.Equal<int[]>([| 0; 2; 3 |], a.Path)
    Assert.Equal(39.0, a.Wall)
    Assert.Equal(34.0, a.PathCompute)
    // (11 − 10) + (35 − 31)
    Assert.Equal(5.0, a.PathDelay)
    Assert.Equal(34.0 / 39.0, a.ComputeShare, 12)
    Assert.Equal<Edge[]>([| { From = 2; To = 3; Delay = 4.0 }; { From = 0; To = 1; Delay = 2.0 }; { From = 0; To = 2; Delay = 1.0 } |], a.Edges)

[<Fact>]
let ``the path ends at the step that ends last, not at the output`` () =
    // A side branch e (after a) that ends after d is where the wall time went.
    let steps = [| step "a" false 0.0 1.0; step "d" false 2.0 1.0; step "e" false 1.5 10.0 |]
    let a = analyse steps [| [||]; [| 0 |]; [| 0 |] |]
    Assert.Equal<int[]>([| 0; 2 |], a.Path)
    Assert.Equal(11.5, a.Wall)
    Assert.Equal(0.0, a.Lead)

[<Fact>]
let ``the path's compute, delays and lead make up the wall time`` () =
    // b starts 3 after a (its own start message came late) and waits for nothing; c waits for b.
    let steps = [| step "a" false 0.0 1.0; step "b" false 3.0 2.0; step "c" false 6.0 1.0 |]
    let a = analyse steps [| [||]; [||]; [| 0; 1 |] |]
    Assert.Equal<int[]>([| 1; 2 |], a.Path)
    Assert.Equal(3.0, a.Lead)
    Assert.Equal(3.0, a.PathCompute)
    Assert.Equal(1.0, a.PathDelay)
    Assert.Equal(a.Wall, a.Lead + a.PathCompute + a.PathDelay)

[<Fact>]
let ``dependencies follow the two passes of the plan`` () =
    let b = GraphBuilder()
    let x = b.Input("x", 2, 1)
    let w = b.Parameter("w", Tensor(2, 1))
    let m = b.Mul(x, w, "m")
    let plan = Plan.Compile(b.Build(b.Sum(m, "z")))
    let steps =
        [| step "x" false 0.0 1.0; step "w" false 0.0 2.0; step "m" false 3.0 1.0; step "z" false 5.0 1.0
           step "z" true 6.0 1.0; step "m" true 8.0 1.0; step "x" true 10.0 1.0; step "w" true 10.5 1.0 |]
    let deps = dependencies plan steps
    Assert.Equal<int[][]>([| [||]; [||]; [| 0; 1 |]; [| 2 |]; [| 3 |]; [| 2; 4 |]; [| 0; 5 |]; [| 1; 5 |] |], deps)
    // w's backward step ends last; m's forward step waited for w (ended at 2), not x (ended at 1).
    Assert.Equal<int[]>([| 1; 2; 3; 4; 5; 7 |], (analyse steps deps).Path)

[<Fact>]
let ``a step of a node not in the graph is refused by name`` () =
    let b = GraphBuilder()
    let plan = Plan.Compile(b.Build(b.Sum(b.Input("x", 2, 1), "z")))
    let e = Assert.Throws<System.ArgumentException>(fun () -> dependencies plan [| step "y" false 0.0 1.0 |] |> ignore)
    Assert.Contains("no node 'y'", e.Message)

[<Fact>]
let ``no steps give an empty profile`` () =
    let a = analyse [||] [||]
    Assert.Empty(a.Path)
    Assert.Equal(0.0, a.ComputeShare)
