/// Data files: rows of samples for a graph's input nodes, read from CSV, NumPy (.npy, .npz) or JSON.
///
/// One mapping for every format: a row holds one sample for each input it binds, and an input node of
/// shape [B, d₁, …] takes B rows per evaluation, each row's sample filling [d₁, …] in row-major order.
/// Every input a data set binds has the same B, the graph's rows per evaluation.
module Adjoint.DataFile

open System
open System.Collections.Generic
open System.Globalization
open System.IO
open System.Text.Json

/// A data file this reader refuses. `Place` names the file and the place in it ("digits.csv row 17",
/// "data.npz:x.npy"); the message is "{Place}: {Detail}".
type DataFileException(place: string, detail: string, ?inner: exn) =
    inherit Exception($"{place}: {detail}", Option.toObj inner)
    /// The file and the place in it at fault.
    member _.Place = place
    /// What is wrong there.
    member _.Detail = detail

/// One input's samples: `Width` values a row, rows one after the other.
type DataColumn =
    { Node: string
      Width: int
      Type: ElementType
      Values: double[] }

/// Rows of samples by input node.
type DataSet =
    { Source: string
      Rows: int
      Columns: DataColumn[] }

    /// The column of an input node, if the data binds it.
    member d.TryColumn(node: string) = d.Columns |> Array.tryFind (fun c -> c.Node = node)

/// A CSV column group for `--columns`: an input node and how many columns it takes (default: its width).
type ColumnSpec = { Node: string; Count: int option }

let private fail source detail = raise (DataFileException(source, detail))

let private plural n (what: string) = if n = 1 then $"1 {what}" else $"{n} {what}s"

let private dataInputs (graph: Graph) =
    graph.Nodes |> Seq.filter (fun n -> n.Op.Kind = OpKind.Input) |> Seq.map _.Id |> List.ofSeq

/// The values of one row's sample of input `node` (B rows per evaluation; a scalar input has none).
let private widthOf (source: string) (graph: Graph) (node: string) =
    if not (graph.Contains node) then
        fail source $"""no input '{node}' in the graph (its inputs: {String.Join(", ", dataInputs graph)})"""
    let n = graph.Node node
    if n.Op.Kind <> OpKind.Input then
        fail source $"node '{node}' is a {n.Op.Name}; data files bind input nodes only"
    let s = graph.ShapeOf node
    if s.Rank = 0 then
        fail source $"input '{node}' is a scalar; data rows bind inputs along their first dimension, so give it shape [1]"
    s.Count / max 1 (s.Dim 0)

let private checkType (source: string) (column: DataColumn) =
    match ElementType.firstInvalid column.Type column.Values with
    | -1 -> ()
    | k ->
        let row = k / column.Width + 1
        fail $"{source} row {row}" $"input '{column.Node}' is {ElementType.name column.Type} and needs {ElementType.expectation column.Type}, got {column.Values[k]}"

// ---------------------------------------------------------------- CSV

// Splits a CSV line at commas; a field may be quoted ("x[0]"), with "" for a quote inside.
let private fields (line: string) =
    let result = List<string>()
    let field = Text.StringBuilder()
    let mutable quoted = false
    let mutable k = 0
    while k < line.Length do
        let c = line[k]
        if quoted then
            if c = '"' && k + 1 < line.Length && line[k + 1] = '"' then
                field.Append '"' |> ignore
                k <- k + 1
            elif c = '"' then quoted <- false
            else field.Append c |> ignore
        elif c = '"' then quoted <- true
        elif c = ',' then
            result.Add(field.ToString().Trim())
            field.Clear() |> ignore
        else field.Append c |> ignore
        k <- k + 1
    result.Add(field.ToString().Trim())
    result

// "x[12]" → ("x", Some 12); "label" → ("label", None).
let private columnName (name: string) =
    let o = name.LastIndexOf '['
    if o > 0 && name.EndsWith ']' then
        match Int32.TryParse(name.AsSpan(o + 1, name.Length - o - 2), NumberStyles.None, CultureInfo.InvariantCulture) with
        | true, k -> name.Substring(0, o), Some k
        | _ -> name, None
    else name, None

// The header's column groups: consecutive columns of one input, x[0] … x[w-1] (or a bare id when w = 1).
let private headerGroups (source: string) (graph: Graph) (names: List<string>) =
    let groups = List<ColumnSpec>()
    let mutable c = 0
    while c < names.Count do
        let id, index = columnName names[c]
        let at = $"{source} header, column {c + 1} '{names[c]}'"
        if not (graph.Contains id) then
            fail at $"""names no input of the graph (its inputs: {String.Join(", ", dataInputs graph)}); name columns by input id, id[k] for element k of a row's sample, or use --columns"""
        if groups |> Seq.exists (fun g -> g.Node = id) then fail at $"input '{id}' already has columns before this one; its columns must be together"
        let width = widthOf at graph id
        match index with
        | None when width = 1 ->
            groups.Add { Node = id; Count = Some 1 }
            c <- c + 1
        | None -> fail at $"input '{id}' takes {width} values a row: name its columns {id}[0] … {id}[{width - 1}]"
        | Some _ ->
            for k in 0 .. width - 1 do
                let expected = $"{id}[{k}]"
                if c + k >= names.Count then
                    fail $"{source} header" $"""{plural k "column"} for input '{id}', which takes {width} values a row ({id}[0] … {id}[{width - 1}])"""
                if names[c + k] <> expected then
                    fail $"{source} header, column {c + k + 1} '{names[c + k]}'" $"expected '{expected}' (input '{id}' takes {width} values a row, in order)"
            groups.Add { Node = id; Count = Some width }
            c <- c + width
    List.ofSeq groups

let private parseNumber (text: string) (t: ElementType) =
    match t, text.ToLowerInvariant() with
    | ElementType.Bool, "true" -> ValueSome 1.0
    | ElementType.Bool, "false" -> ValueSome 0.0
    | _ ->
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> ValueSome v
        | _ -> ValueNone

/// Reads CSV text: a header row naming the columns by input id (`x[0]` … `x[63]` for an input whose
/// rows have 64 values, `label` for one value), or no header when `columns` lists the inputs in column
/// order. Empty lines are skipped; row numbers count data rows from 1.
let parseCsv (text: string) (source: string) (columns: ColumnSpec list option) (graph: Graph) : DataSet =
    let lines =
        text.Split('\n')
        |> Array.mapi (fun i l -> i + 1, l.TrimEnd('\r'))
        |> Array.filter (fun (_, l) -> l.Trim().Length > 0)
    let groups, body =
        match columns with
        | Some specs ->
            if specs.IsEmpty then fail "--columns" "lists no inputs"
            let widths =
                specs
                |> List.map (fun s ->
                    let width = widthOf "--columns" graph s.Node
                    match s.Count with
                    | Some n when n <> width -> fail "--columns" $"input '{s.Node}' takes {width} values a row, not {n}"
                    | _ -> { s with Count = Some width })
            widths, lines
        | None ->
            if lines.Length = 0 then fail source "the file is empty; it needs a header row naming the inputs (or --columns)"
            headerGroups source graph (fields (snd lines[0])), lines[1..]
    let names = groups |> List.map _.Node
    let duplicate = names |> List.countBy id |> List.tryFind (fun (_, n) -> n > 1)
    match duplicate with
    | Some(node, _) -> fail source $"input '{node}' is given twice"
    | None -> ()
    let widths = groups |> List.map (fun g -> g.Count.Value) |> Array.ofList
    let types = groups |> List.map (fun g -> graph.ElementTypeOf g.Node) |> Array.ofList
    let total = Array.sum widths
    let starts = Array.scan (+) 0 widths
    let values = widths |> Array.map (fun w -> Array.zeroCreate<double> (w * body.Length))
    body
    |> Array.iteri (fun r (_, line) ->
        let at = $"{source} row {r + 1}"
        let row = fields line
        if row.Count < total then
            // The input whose columns the row does not reach.
            let g = Array.findIndex (fun s -> s > row.Count) starts[1..]
            fail at $"""{plural row.Count "value"}, input '{names[g]}' needs {widths[g]} (columns {starts[g] + 1}–{starts[g + 1]} of {total})"""
        if row.Count > total then fail at $"""{plural row.Count "value"}, the header names {plural total "column"}"""
        for g in 0 .. widths.Length - 1 do
            for k in 0 .. widths[g] - 1 do
                let text = row[starts[g] + k]
                match parseNumber text types[g] with
                | ValueSome v -> values[g][r * widths[g] + k] <- v
                | ValueNone ->
                    let column = if widths[g] = 1 then names[g] else $"{names[g]}[{k}]"
                    let hint = if columns.IsSome && r = 0 then " (with --columns the file has no header row)" else ""
                    fail $"{at}, column {starts[g] + k + 1} ({column})" $"'{text}' is not a number{hint}")
    let data =
        { Source = source
          Rows = body.Length
          Columns = Array.init widths.Length (fun g -> { Node = names[g]; Width = widths[g]; Type = types[g]; Values = values[g] }) }
    for c in data.Columns do checkType source c
    data

// ---------------------------------------------------------------- NumPy and JSON

let private ofArrays (source: string) (graph: Graph) (arrays: (string * NpyArray) list) =
    if arrays.IsEmpty then fail source "holds no arrays"
    let rowsOf (key: string, a: NpyArray) =
        if a.Dims.Length = 0 then fail $"{source}:{key}" "a scalar array; data arrays have one row per sample along their first axis"
        a.Dims[0]
    let rows = rowsOf arrays.Head
    let columns =
        arrays
        |> List.map (fun (key, a) ->
            let at = $"{source}:{key}"
            let width = widthOf at graph key
            if rowsOf (key, a) <> rows then fail at $"""{plural a.Dims[0] "row"}, but '{fst arrays.Head}' has {rows}"""
            let sample = if a.Dims.Length = 1 then 1 else Array.reduce (*) a.Dims[1..]
            if sample <> width then
                fail at $"""an array of shape {Shape.Of a.Dims}, rows of {plural sample "value"}; input '{key}' needs {width} a row (its shape is {graph.ShapeOf key})"""
            { Node = key; Width = width; Type = graph.ElementTypeOf key; Values = a.Data })
    let data = { Source = source; Rows = rows; Columns = Array.ofList columns }
    for c in data.Columns do checkType source c
    data

// NumPy's errors name the file or archive member; ours say the same.
let private numpy (read: unit -> 'a) =
    try
        read ()
    with :? NpyException as e ->
        raise (DataFileException(e.File, e.Detail, e))

/// Reads an .npz archive: one array per input, named by its id, rows along the first axis.
let readNpz (stream: Stream) (source: string) (graph: Graph) : DataSet =
    let arrays = numpy (fun () -> Npz.read stream source)
    ofArrays source graph [ for kv in arrays -> kv.Key, kv.Value ]

/// Reads a .npy array for the input named by the file's name ("x.npy" binds input x).
let readNpy (stream: Stream) (source: string) (graph: Graph) : DataSet =
    ofArrays source graph [ Path.GetFileNameWithoutExtension source, numpy (fun () -> Npy.read stream source) ]

/// Reads a JSON list of evaluations, each an object of values by input id as `--inputs` takes; each
/// evaluation's [B, …] values are B rows.
let parseJson (text: string) (source: string) (graph: Graph) : DataSet =
    let items =
        try
            use doc = JsonDocument.Parse text
            if doc.RootElement.ValueKind <> JsonValueKind.Array then
                fail source "a JSON data file is a list of objects of values by input id (one object an evaluation)"
            [ for e in doc.RootElement.EnumerateArray() -> e.GetRawText() ]
        with :? JsonException as e ->
            fail source $"not valid JSON: {e.Message}"
    if items.IsEmpty then fail source "the list is empty"
    let sets = items |> List.mapi (fun i item -> GraphFile.parseValues item $"{source}[{i}]" graph)
    let keys = sets.Head.Keys |> Seq.sort |> List.ofSeq
    sets
    |> List.iteri (fun i s ->
        if (s.Keys |> Seq.sort |> List.ofSeq) <> keys then
            fail $"{source}[{i}]" $"""gives inputs {String.Join(", ", Seq.sort s.Keys)}; the first object gives {String.Join(", ", keys)}""")
    let arrays =
        keys
        |> List.map (fun key ->
            let shape = graph.ShapeOf key
            let rows = if shape.Rank = 0 then 1 else shape.Dim 0
            key, { Dims = Array.append [| rows * sets.Length |] (if shape.Rank = 0 then [||] else Array.ofSeq (Seq.skip 1 shape.Dims))
                   Data = sets |> Seq.collect (fun s -> s[key].Data) |> Array.ofSeq })
    ofArrays source graph arrays

/// Reads a data file by its extension: .csv, .npz, .npy or .json. `columns` applies to CSV only.
let load (path: string) (columns: ColumnSpec list option) (graph: Graph) : DataSet =
    let source = Path.GetFileName path
    let ext = Path.GetExtension(path).ToLowerInvariant()
    if columns.IsSome && ext <> ".csv" then fail source "--columns applies to CSV files only"
    let opened () =
        try
            File.OpenRead path
        with e ->
            fail source $"cannot read the file: {e.Message}"
    match ext with
    | ".csv" ->
        use s = opened ()
        use r = new StreamReader(s)
        parseCsv (r.ReadToEnd()) source columns graph
    | ".npz" ->
        use s = opened ()
        readNpz s source graph
    | ".npy" ->
        use s = opened ()
        readNpy s source graph
    | ".json" ->
        use s = opened ()
        use r = new StreamReader(s)
        parseJson (r.ReadToEnd()) source graph
    | _ -> fail source "unknown data format: data files end in .csv, .npz, .npy or .json"

/// Parses `--columns`: "x:64,label" — inputs in column order, each with an optional column count.
let parseColumns (text: string) : ColumnSpec list =
    [ for part in text.Split(',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries) ->
          match part.Split(':', StringSplitOptions.TrimEntries) with
          | [| node |] -> { Node = node; Count = None }
          | [| node; count |] ->
              match Int32.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture) with
              | true, n when n > 0 -> { Node = node; Count = Some n }
              | _ -> fail "--columns" $"'{part}': the count after ':' must be a positive whole number"
          | _ -> fail "--columns" $"'{part}' is not ID or ID:COUNT" ]
