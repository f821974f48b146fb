/// Which adjoints an evaluation computes and reports, and which values, for each mode: hand-listed sets.
module Adjoint.Tests.TestReporting

open Xunit
open Adjoint

// z = sum((x ⊙ w + k) ⊙ c') with k = −c, c' = tanh c; `dead` = x ⊙ w feeds nothing that reaches z.
let private plan =
    lazy
        (let b = GraphBuilder()
         let x = b.Input("x", 2, 1)
         let w = b.Parameter("w", Tensor(2, 1, [| 0.5; -0.5 |]))
         let c = b.Constant("c", Tensor(2, 1, [| 1.0; 2.0 |]))
         let h = b.Mul(x, w, "h")
         b.Mul(x, w, "dead") |> ignore
         let k = b.Neg(c, "k")
         let t = b.Tanh(c, "t")
         let u = b.Mul(b.Add(h, k, "a"), t, "u")
         Plan.Compile(b.Build(b.Sum(u, "z"))))

let private where (test: int -> bool) =
    let plan = plan.Value
    [ for p in 0 .. plan.Count - 1 do
          if test p then plan.Ids[p] ]
    |> List.sort

let private ids (names: string list) = List.sort names

[<Fact>]
let ``All computes and reports λ of every node that reaches z`` () =
    let r = Reporting.Gradient(Adjoints.All, false)
    let reaching = ids [ "x"; "w"; "c"; "h"; "k"; "t"; "a"; "u"; "z" ]
    Assert.Equal<string list>(reaching, where (fun p -> r.ComputesAdjoint(plan.Value, p)))
    Assert.Equal<string list>(reaching, where (fun p -> r.ReportsAdjoint(plan.Value, p)))

[<Fact>]
let ``InputsAndParameters computes λ on the paths from inputs and parameters to z and reports only theirs`` () =
    let r = Reporting.Gradient(Adjoints.InputsAndParameters, false)
    Assert.Equal<string list>(ids [ "x"; "w"; "h"; "a"; "u"; "z" ], where (fun p -> r.ComputesAdjoint(plan.Value, p)))
    Assert.Equal<string list>(ids [ "x"; "w" ], where (fun p -> r.ReportsAdjoint(plan.Value, p)))

[<Fact>]
let ``a forward pass computes no adjoint; values come back for z alone unless every value is asked for`` () =
    for values in [ false; true ] do
        let r = Reporting.Forward values
        Assert.Empty(where (fun p -> r.ComputesAdjoint(plan.Value, p)))
        Assert.Empty(where (fun p -> r.ReportsAdjoint(plan.Value, p)))
    let everyNode = where (fun _ -> true)
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        Assert.Equal<string list>([ "z" ], where (fun p -> (Reporting.Gradient(mode, false)).ReportsValue(plan.Value, p)))
        Assert.Equal<string list>(everyNode, where (fun p -> (Reporting.Gradient(mode, true)).ReportsValue(plan.Value, p)))
    Assert.Equal<string list>([ "z" ], where (fun p -> (Reporting.Forward false).ReportsValue(plan.Value, p)))
    Assert.Equal<string list>(everyNode, where (fun p -> (Reporting.Forward true).ReportsValue(plan.Value, p)))
