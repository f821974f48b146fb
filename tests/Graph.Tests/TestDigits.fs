/// The digits examples (examples/digits-*.json) against PyTorch: the loss and every parameter's gradient at
/// the files' initial parameters and default inputs, as examples/train_reference.py recorded them in
/// examples/data/reference.json.
module Adjoint.Tests.TestDigits

open System.IO
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

/// torch float64 and this engine sum in different orders; what they agree to is far below this.
let private tolerance = 1e-10

let private reference =
    lazy (JsonDocument.Parse(File.ReadAllText(examplePath (Path.Combine("data", "reference.json"))))).RootElement

/// ‖t‖₂, summed naively.
let private norm (t: Tensor) = sqrt (inner t t)

/// The first `count` rows of a digits CSV file: the 64 pixels and the label of each.
let private csvRows (name: string) (count: int) =
    let lines = File.ReadLines(examplePath (Path.Combine("data", name))) |> Seq.truncate (count + 1) |> Array.ofSeq
    Assert.Equal(String.concat "," [ for k in 0..63 -> $"x[{k}]" ] + ",label", lines[0])
    lines[1..] |> Array.map (fun l -> l.Split ',' |> Array.map double)

[<Theory>]
[<InlineData("mlp")>]
[<InlineData("cnn")>]
let ``a digits example's loss and parameter gradients at its initial parameters match PyTorch's`` (model: string) =
    let expected = reference.Value.GetProperty("models").GetProperty(model)
    let g = GraphFile.load (examplePath (expected.GetProperty("file").GetString()))
    Assert.Equal(Shape.Of(32, 64), g.ShapeOf "x")
    Assert.Equal(Shape.Of 32, g.ShapeOf "label")
    Assert.Equal(ElementType.Int64, g.ElementTypeOf "label")
    Assert.Equal(Shape.Scalar, g.ShapeOf g.Output)
    Assert.Equal("cross_entropy", g.Node(g.Output).Op.Name)
    Assert.Equal(Shape.Of(32, 10), g.ShapeOf(g.Node(g.Output).Ancestors[0]))
    let e = Engine.gradient Adjoints.InputsAndParameters (Plan.Compile g) null
    let initial = expected.GetProperty "initial"
    let measured = ResizeArray<double>()
    let within what (torch: double) (ours: double) =
        let r = relativeError 0.0 torch ours
        measured.Add r
        assertWithin tolerance $"{model}: {what} (torch {torch:R}, ours {ours:R})" r
    within "loss" (initial.GetProperty("loss").GetDouble()) e.Output.ScalarValue
    let parameters = initial.GetProperty "parameters"
    let ids = g.Nodes |> Seq.filter (fun n -> n.Op.Kind = OpKind.Parameter) |> Seq.map _.Id |> List.ofSeq
    Assert.Equal<string>(parameters.EnumerateObject() |> Seq.map _.Name |> List.ofSeq, ids)
    for id in ids do
        let p = parameters.GetProperty id
        let theta, lambda = g.Node(id).Value.Value, e.Adjoint id
        Assert.Equal<int>(p.GetProperty("shape").EnumerateArray() |> Seq.map _.GetInt32() |> List.ofSeq, List.ofSeq lambda.Shape.Dims)
        within $"‖λ_{id}‖" (p.GetProperty("gradient_norm").GetDouble()) (norm lambda)
        within $"⟨λ_{id}, {id}⟩" (p.GetProperty("gradient_dot_parameter").GetDouble()) (inner lambda theta)
    report $"{model}: largest relative difference from torch {Seq.max measured:E2} over the loss and {ids.Length} parameters"

[<Theory>]
[<InlineData("digits-mlp.json")>]
[<InlineData("digits-cnn.json")>]
let ``a digits example's default inputs are the first 32 rows of the training file`` (name: string) =
    let g = GraphFile.load (examplePath name)
    let rows = csvRows "digits-train.csv" 32
    let x, label = g.Node("x").Value.Value, g.Node("label").Value.Value
    Assert.Equal<double>(rows |> Array.collect (fun r -> r[..63]), x.Data)
    Assert.Equal<double>(rows |> Array.map (fun r -> r[64]), label.Data)
