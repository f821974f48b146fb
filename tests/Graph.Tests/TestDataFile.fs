/// Data files bound to a graph's inputs (CSV, .npz, .npy, JSON), the errors that name the row and the
/// input, seeded orders (against an independent Python implementation, fixtures/make_permutations.py),
/// padded passes, validation splits and scores.
module Adjoint.Tests.TestDataFile

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Xunit
open Adjoint
open Adjoint.DataFile
open Adjoint.Tests.Helpers

// A classifier of rows of 3 values into 2 classes, 4 rows an evaluation.
let private classifier () =
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(4, 3))
    let label = b.TypedInput("label", Shape.Of 4, ElementType.Int64)
    let w = b.Parameter("W", Tensor(Shape.Of(2, 3), [| 0.1; -0.2; 0.3; 0.0; 0.5; -0.1 |]))
    let logits = b.Apply("linear", [| x; w |], id = "logits")
    b.Build(b.Apply("cross_entropy", [| logits; label |], id = "loss"))

let private csv (rows: string list) = "x[0],x[1],x[2],label\n" + String.Join("\n", rows)

let private error (f: unit -> 'a) =
    let e = Assert.Throws<DataFileException>(fun () -> f () |> ignore)
    e.Message

[<Fact>]
let ``a CSV file binds each input's columns row by row`` () =
    let g = classifier ()
    let d = parseCsv (csv [ "1,2,3,0"; "4,5,6,1"; "  7 , 8,9 ,1" ]) "d.csv" None g
    Assert.Equal(3, d.Rows)
    Assert.Equal<double[]>([| 1.0 .. 9.0 |], (d.TryColumn "x").Value.Values)
    Assert.Equal<double[]>([| 0.0; 1.0; 1.0 |], (d.TryColumn "label").Value.Values)
    Assert.Equal(3, (d.TryColumn "x").Value.Width)

[<Fact>]
let ``--columns reads a CSV file without a header`` () =
    let g = classifier ()
    let d = parseCsv "1,2,3,0\n4,5,6,1\n" "d.csv" (Some(parseColumns "x:3, label")) g
    Assert.Equal(2, d.Rows)
    Assert.Equal<double[]>([| 0.0; 1.0 |], (d.TryColumn "label").Value.Values)
    Assert.Equal("--columns: input 'x' takes 3 values a row, not 4", error (fun () -> parseCsv "1" "d.csv" (Some(parseColumns "x:4")) g))
    Assert.Equal("--columns: 'x:many:more' is not ID or ID:COUNT", error (fun () -> parseColumns "x:many:more"))
    Assert.Equal("--columns: 'x:0': the count after ':' must be a positive whole number", error (fun () -> parseColumns "x:0"))

[<Fact>]
let ``CSV errors name the file, the row, the column and the input`` () =
    let g = classifier ()
    Assert.Equal("d.csv row 2: 3 values, input 'label' needs 1 (columns 4–4 of 4)", error (fun () -> parseCsv (csv [ "1,2,3,0"; "4,5,6" ]) "d.csv" None g))
    Assert.Equal("d.csv row 1: 2 values, input 'x' needs 3 (columns 1–3 of 4)", error (fun () -> parseCsv (csv [ "4,5" ]) "d.csv" None g))
    Assert.Equal("d.csv row 1: 5 values, the header names 4 columns", error (fun () -> parseCsv (csv [ "1,2,3,0,9" ]) "d.csv" None g))
    Assert.Equal("d.csv row 1, column 2 (x[1]): 'two' is not a number", error (fun () -> parseCsv (csv [ "1,two,3,0" ]) "d.csv" None g))
    Assert.Equal("d.csv row 2: input 'label' is int64 and needs a whole number within ±2^53, got 0.5",
                 error (fun () -> parseCsv (csv [ "1,2,3,0"; "1,2,3,0.5" ]) "d.csv" None g))
    Assert.StartsWith("d.csv header, column 4 'lable': names no input of the graph (its inputs: x, label)",
                      error (fun () -> parseCsv "x[0],x[1],x[2],lable\n1,2,3,0" "d.csv" None g))
    Assert.Equal("d.csv header, column 2 'x[2]': expected 'x[1]' (input 'x' takes 3 values a row, in order)",
                 error (fun () -> parseCsv "x[0],x[2],x[1],label\n1,2,3,0" "d.csv" None g))
    Assert.Equal("d.csv header, column 1 'x': input 'x' takes 3 values a row: name its columns x[0] … x[2]",
                 error (fun () -> parseCsv "x,label\n1,0" "d.csv" None g))
    Assert.StartsWith("d.csv header, column 4 'W': node 'W' is a parameter; data files bind input nodes only",
                      error (fun () -> parseCsv "x[0],x[1],x[2],W\n1,2,3,0" "d.csv" None g))
    Assert.StartsWith("d.csv: the file is empty", error (fun () -> parseCsv "\n\n" "d.csv" None g))

[<Fact>]
let ``an .npz archive binds arrays by input id, rows first, samples reshaped in row-major order`` () =
    let g = classifier ()
    use stream = new MemoryStream()
    Npz.write stream [ KeyValuePair("x", { Dims = [| 2; 3; 1 |]; Data = [| 1.0 .. 6.0 |] }); KeyValuePair("label", { Dims = [| 2 |]; Data = [| 1.0; 0.0 |] }) ]
    stream.Position <- 0L
    let d = readNpz stream "d.npz" g
    Assert.Equal(2, d.Rows)
    Assert.Equal<double[]>([| 1.0 .. 6.0 |], (d.TryColumn "x").Value.Values)
    use bad = new MemoryStream()
    Npz.write bad [ KeyValuePair("x", { Dims = [| 2; 4 |]; Data = Array.zeroCreate 8 }) ]
    bad.Position <- 0L
    Assert.Equal("d.npz:x: an array of shape 2x4, rows of 4 values; input 'x' needs 3 a row (its shape is 4x3)",
                 error (fun () -> readNpz bad "d.npz" g))
    use rows = new MemoryStream()
    Npz.write rows [ KeyValuePair("x", { Dims = [| 2; 3 |]; Data = Array.zeroCreate 6 }); KeyValuePair("label", { Dims = [| 3 |]; Data = Array.zeroCreate 3 }) ]
    rows.Position <- 0L
    Assert.Equal("d.npz:label: 3 rows, but 'x' has 2", error (fun () -> readNpz rows "d.npz" g))

[<Fact>]
let ``a JSON list of evaluations gives B rows each`` () =
    let g = classifier ()
    let one (k: int) = $"""{{ "x": [[{k},0,0],[{k},1,0],[{k},2,0],[{k},3,0]], "label": [0, 1, 0, 1] }}"""
    let d = parseJson $"[{one 1}, {one 2}]" "d.json" g
    Assert.Equal(8, d.Rows)
    Assert.Equal<double[]>([| 2.0; 3.0; 0.0 |], (d.TryColumn "x").Value.Values[21..23])
    Assert.StartsWith("d.json: a JSON data file is a list", error (fun () -> parseJson (one 1) "d.json" g))

[<Fact>]
let ``binding needs one leading dimension and a value for every other input`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(4, 3))
    let y = b.Input("y", Shape.Of(2, 3))
    let g = b.Build(b.Apply("add", [| b.Apply("sum", x); b.Apply("sum", y) |], id = "z"))
    let d = parseCsv "1,2,3,4,5,6" "d.csv" (Some(parseColumns "x,y")) g
    Assert.Contains("input 'y' takes 2 rows an evaluation", error (fun () -> Batches.bind g d))
    let onlyX = parseCsv "1,2,3" "d.csv" (Some(parseColumns "x")) g
    Assert.Equal(
        $"d.csv: gives no values for input 'y' (shape {Shape.Of(2, 3)}), which has none in the graph file",
        error (fun () -> Batches.bind g onlyX))

[<Fact>]
let ``orders are the documented SplitMix64 Fisher–Yates, equal to an independent implementation`` () =
    let path = Path.Combine(repositoryRoot.Value, "tests", "Graph.Tests", "fixtures", "permutations.json")
    use doc = JsonDocument.Parse(File.ReadAllText path)
    for case in doc.RootElement.EnumerateArray() do
        let get (name: string) = case.GetProperty(name).GetInt32()
        let expected = [| for v in case.GetProperty("order").EnumerateArray() -> v.GetInt32() |]
        Assert.Equal<int[]>(expected, Batches.permutation (get "seed") (get "stream") (get "n"))

[<Fact>]
let ``a pass takes B rows an evaluation in order and fills the last from the start`` () =
    let g = classifier ()
    let d = parseCsv (csv [ for r in 0..5 -> $"{r},0,0,{r % 2}" ]) "d.csv" None g
    let binding = Batches.bind g d
    let pass = Batches.pass g binding [| 5; 4; 3; 2; 1; 0 |]
    Assert.Equal(2, pass.Inputs.Length)
    Assert.Equal(2, pass.Padding)
    let firstColumn (k: int) = [| for r in 0..3 -> pass.Inputs[k].["x"].Data[3 * r] |]
    Assert.Equal<double[]>([| 5.0; 4.0; 3.0; 2.0 |], firstColumn 0)
    Assert.Equal<double[]>([| 1.0; 0.0; 5.0; 4.0 |], firstColumn 1)
    Assert.Equal<double[]>([| 1.0; 0.0; 1.0; 0.0 |], pass.Inputs[1].["label"].Data)
    Assert.Equal(2, pass.RealRows(1, 4))
    Assert.Equal(4, pass.RealRows(0, 4))

[<Fact>]
let ``a validation split is seeded, disjoint and covers every row once`` () =
    let g = classifier ()
    let d = parseCsv (csv [ for r in 0..19 -> $"{r},0,0,0" ]) "d.csv" None g
    let training, validation = Batches.split 3 0.25 d
    Assert.Equal(15, training.Rows)
    Assert.Equal(5, validation.Rows)
    let ids (s: DataSet) = (s.TryColumn "x").Value.Values |> Array.chunkBySize 3 |> Array.map (fun r -> int r[0])
    Assert.Equal<int[]>([| 0..19 |], Array.append (ids training) (ids validation) |> Array.sort)
    let again, _ = Batches.split 3 0.25 d
    Assert.Equal<int[]>(ids training, ids again)
    let other, _ = Batches.split 4 0.25 d
    Assert.NotEqual<int[]>(ids training, ids other)
    Assert.Throws<ArgumentException>(fun () -> Batches.split 3 1.0 d |> ignore) |> ignore

[<Fact>]
let ``scores count the real rows: accuracy by first maximal class, RMSE and MAE by hand`` () =
    let logits = Tensor(Shape.Of(4, 3), [| 0.1; 0.9; 0.0;  2.0; 2.0; 1.0;  0.0; 0.0; 5.0;  9.0; 0.0; 0.0 |])
    let labels = Tensor(Shape.Of 4, [| 1.0; 1.0; 2.0; 1.0 |])
    // Row 2 ties classes 0 and 1: the first wins, as torch.argmax, so it is wrong; the 4th row is padding.
    let t = Metrics.add Metrics.Task.Classification logits labels 3 Metrics.Tally.Zero
    Assert.Equal(3, t.Rows)
    Assert.Equal(2.0 / 3.0, Metrics.accuracy t)
    let p = Tensor(Shape.Of(2, 2), [| 1.0; 2.0; 3.0; 4.0 |])
    let y = Tensor(Shape.Of(2, 2), [| 1.5; 2.0; 1.0; 100.0 |])
    let r = Metrics.add Metrics.Task.Regression p y 1 Metrics.Tally.Zero
    Assert.Equal(Math.Sqrt(0.25 / 2.0), Metrics.rmse r)
    Assert.Equal(0.25, Metrics.mae r)

[<Fact>]
let ``the loss op at the output says what to score`` () =
    let g = classifier ()
    let s = (Metrics.scoring g None None).Value
    Assert.Equal(("logits", "label", Metrics.Task.Classification), (s.Predictions, s.Target, s.Task))
    let b = GraphBuilder()
    let x = b.Input("x", Shape.Of(4, 2))
    let y = b.Input("y", Shape.Of(4, 2))
    let r = (Metrics.scoring (b.Build(b.Apply("mse", [| b.Apply("tanh", [| x |], id = "p"); y |], id = "loss"))) None None).Value
    Assert.Equal(("p", "y", Metrics.Task.Regression), (r.Predictions, r.Target, r.Task))
