/// Training and inference modes: model.eval()'s switch of batch_norm and dropout, and which constants a
/// training loop moves.
module Adjoint.Tests.TestModes

open System
open System.Collections.Generic
open Xunit
open Adjoint

let private attrs (pairs: (string * OpAttribute) list) = Dictionary(dict pairs) :> IReadOnlyDictionary<_, _>

let private model (runningAsInput: bool) =
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(4, 2))
    let w = b.Parameter("w", Tensor(Shape.Of 2, [| 1.0; 2.0 |]))
    let bias = b.Parameter("b", Tensor(Shape.Of 2, [| 0.0; 0.5 |]))
    let mean = if runningAsInput then b.Input("m", Shape.Of 2) else b.Constant("m", Tensor(Shape.Of 2, [| 0.1; 0.2 |]))
    let var = b.Constant("v", Tensor(Shape.Of 2, [| 1.0; 3.0 |]))
    let normed = b.Apply("batch_norm", [| x; w; bias; mean; var |], id = "bn")
    let dropped = b.Apply("dropout", [| normed |], attrs [ "p", OpAttribute.Float 0.25 ], "drop")
    let frozen = b.Apply("batch_norm", [| dropped; w; bias; mean; var |], attrs [ "training", OpAttribute.Bool false ], "frozen")
    b.Build(b.Apply("sum", [| frozen |], id = "z"))

[<Fact>]
let ``inference mode switches every training op off and leaves the rest as it was`` () =
    let g = model false
    Assert.True(Modes.hasTrainingOps g)
    let i = Modes.inference g
    Assert.False(Modes.hasTrainingOps i)
    for id in [ "bn"; "drop"; "frozen" ] do
        Assert.Equal(OpAttribute.Bool false, (i.Node id).Op.Attributes["training"])
    Assert.Equal(OpAttribute.Float 0.25, (i.Node "drop").Op.Attributes["p"])
    Assert.Equal<string[]>((g.Node "bn").Ancestors, (i.Node "bn").Ancestors)
    Assert.Same(i, Modes.inference i)

[<Fact>]
let ``the running statistics are those of training-mode batch_norm nodes, and must be stored constants`` () =
    let r = Modes.runningStatistics (model false)
    Assert.Equal<string[]>([| "m"; "v" |], r.Keys |> Seq.sort |> Array.ofSeq)
    Assert.Empty(Modes.runningStatistics (Modes.inference (model false)))
    let e = Assert.Throws<ArgumentException>(fun () -> Modes.runningStatistics (model true) |> ignore)
    Assert.StartsWith("batch_norm node 'bn': its running statistic 'm' must be a constant with a value (its op is input)", e.Message)

[<Fact>]
let ``a training evaluation moves the statistics by momentum towards the batch's (variance unbiased)`` () =
    let g = model false
    let x = Tensor(Shape.Of(4, 2), [| 1.0; 0.0; 2.0; 0.0; 3.0; 0.0; 6.0; 4.0 |])
    let moved = Modes.moveRunningStatistics g (Modes.runningStatistics g) (Func<string, Tensor>(fun id -> if id = "x" then x else failwith id))
    // channel 0: mean 3, unbiased variance ((−2)² + (−1)² + 0² + 3²)/3 = 14/3; channel 1: mean 1, variance 4.
    Assert.Equal<double[]>([| 0.9 * 0.1 + 0.1 * 3.0; 0.9 * 0.2 + 0.1 * 1.0 |], moved["m"].Data)
    Assert.Equal<double[]>([| 0.9 * 1.0 + 0.1 * (14.0 / 3.0); 0.9 * 3.0 + 0.1 * 4.0 |], moved["v"].Data)
