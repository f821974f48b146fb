/// From rows of a data set to the input sets of evaluations: B rows an evaluation (the leading
/// dimension of the inputs the data binds), in an order shuffled per epoch by a seeded generator that
/// gives the same order on every machine, the last evaluation filled up from the start of the order.
module Adjoint.Batches

open System
open System.Collections.Generic
open Adjoint.DataFile

/// How a data set feeds a graph: B rows an evaluation.
type Binding =
    { RowsPerEvaluation: int
      Data: DataSet }

let private fail source detail = raise (DataFileException(source, detail))

/// Checks that the data set binds inputs of one leading dimension B and that every other input has a
/// value in the graph file; the errors name the input at fault.
let bind (graph: Graph) (data: DataSet) : Binding =
    if data.Rows = 0 then fail data.Source "holds no rows"
    let leading =
        data.Columns
        |> Array.map (fun c ->
            let s = graph.ShapeOf c.Node
            c.Node, s.Dim 0)
    let b = snd leading[0]
    match leading |> Array.tryFind (fun (_, d) -> d <> b) with
    | Some(node, d) ->
        let first = fst leading[0]
        fail data.Source
            $"input '{node}' takes {d} rows an evaluation (shape {graph.ShapeOf node}) but '{first}' takes {b} (shape {graph.ShapeOf first}); the inputs a data file binds share their first dimension"
    | None -> ()
    let keys = Modes.dropoutKeys graph
    for n in graph.Nodes do
        if n.Op.Kind = OpKind.Input && n.Value.IsNone && (data.TryColumn n.Id).IsNone && not (Array.contains n.Id keys) then
            fail data.Source $"gives no values for input '{n.Id}' (shape {graph.ShapeOf n.Id}), which has none in the graph file"
    { RowsPerEvaluation = b; Data = data }

/// The rows of `data` at `rows`, in that order.
let select (data: DataSet) (rows: int[]) : DataSet =
    { data with
        Rows = rows.Length
        Columns =
            data.Columns
            |> Array.map (fun c ->
                let values = Array.zeroCreate (rows.Length * c.Width)
                rows |> Array.iteri (fun i r -> Array.blit c.Values (r * c.Width) values (i * c.Width) c.Width)
                { c with Values = values }) }

// SplitMix64 (Steele, Lea and Flood 2014): a generator whose stream is fixed by the seed on every
// platform, unlike System.Random's, whose algorithm .NET does not promise to keep.
let private gamma = 0x9E3779B97F4A7C15UL

let private mix (z: uint64) =
    let z = (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    let z = (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    z ^^^ (z >>> 31)

/// A permutation of 0 … n−1 by Fisher–Yates from SplitMix64 seeded with (seed, stream): the same on
/// every machine and run. `stream` tells apart uses of one seed (the epoch, the validation split).
let permutation (seed: int) (stream: int) (n: int) : int[] =
    let order = Array.init n id
    let mutable state = mix (mix (uint64 (int64 seed) + gamma) ^^^ uint64 (int64 stream))
    for i in n - 1 .. -1 .. 1 do
        state <- state + gamma
        // Lemire's multiply-shift: an index below i + 1 without division (bias below 2⁻³²·n).
        let j = int ((mix state >>> 32) * uint64 (i + 1) >>> 32)
        let t = order[i]
        order[i] <- order[j]
        order[j] <- t
    order

/// Splits off a validation set: `fraction` of the rows, chosen by a seeded permutation (stream −1, so
/// that no epoch's order repeats it); the rest, in their file order, are for training.
let split (seed: int) (fraction: double) (data: DataSet) : DataSet * DataSet =
    if not (fraction > 0.0 && fraction < 1.0) then
        invalidArg "fraction" $"the validation fraction must be between 0 and 1, got {fraction}"
    let n = int (Math.Round(fraction * double data.Rows))
    if n < 1 || n >= data.Rows then
        invalidArg "fraction" $"a validation fraction of {fraction} of {data.Rows} rows leaves {n} for validation and {data.Rows - n} for training; both need at least one"
    let order = permutation seed -1 data.Rows
    let validation = Array.sort order[.. n - 1]
    let training = Array.sort order[n..]
    select data training, select data validation

/// The evaluations of one pass over `order`: B rows each, in order. The last one, when fewer than B
/// rows are left, is filled up with rows from the start of the order (as MXNet's last_batch "pad");
/// `Padding` says how many, so that metrics can leave them out.
type Pass =
    { Inputs: IReadOnlyDictionary<string, Tensor>[]
      Padding: int }

    /// The rows of evaluation `k` that are real data (not padding).
    member p.RealRows(k: int, rowsPerEvaluation: int) =
        if k = p.Inputs.Length - 1 then rowsPerEvaluation - p.Padding else rowsPerEvaluation

let pass (graph: Graph) (binding: Binding) (order: int[]) : Pass =
    let b = binding.RowsPerEvaluation
    let n = order.Length
    if n = 0 then invalidArg "order" "a pass needs at least one row"
    let count = (n + b - 1) / b
    let inputs =
        Array.init count (fun k ->
            let values = Dictionary<string, Tensor>()
            for c in binding.Data.Columns do
                let data = Array.zeroCreate (b * c.Width)
                for i in 0 .. b - 1 do
                    let r = order[(k * b + i) % n]
                    Array.blit c.Values (r * c.Width) data (i * c.Width) c.Width
                values[c.Node] <- Tensor(graph.ShapeOf c.Node, data)
            values :> IReadOnlyDictionary<_, _>)
    { Inputs = inputs; Padding = count * b - n }
