/// Graph files: a versioned JSON format for graphs, their stored values, and a side file of values.
/// The reference is docs/graph-format.md, the schema docs/graph-file.schema.json.
///
/// {
///   "format": "adjoint-graph", "version": 2,
///   "output": "loss",
///   "values": "net.npz",                     (optional: arrays by node id beside the file, .npz or .json)
///   "nodes": [
///     { "id": "X",  "op": "input", "shape": [4, 3, 2] },                     (value optional)
///     { "id": "W1", "op": "parameter", "value": [[...], ...] },              (shape optional)
///     { "id": "E",  "op": "constant", "value": { "npy": "E.npy" } },         (a .npy file beside the graph)
///     { "id": "h",  "op": "matmul", "ancestors": ["X", "W1"] },
///     { "id": "s",  "op": "scale", "ancestors": ["h"], "attributes": { "factor": 0.5 } }
///   ]
/// }
///
/// Version 2: a shape is a list of dimensions ([] for a scalar); a value is a number (rank 0) or nested
/// lists in row-major order, one level per dimension. Version 1 (still read): shapes [rows, cols]; a
/// value a number (1×1), a list of rows, or a flat list for a vector (n×1, or 1×n when so declared).
module Adjoint.GraphFile

open System
open System.Collections.Generic
open System.IO
open System.Text.Json

/// The format name and the version this build reads and writes.
[<Literal>]
let Format = "adjoint-graph"

[<Literal>]
let Version = 2

/// The most dimensions a shape in a graph file may have.
[<Literal>]
let MaxRank = 8

/// A graph file is malformed or describes an invalid graph. `Path` is the JSON path at fault
/// ("nodes[3].op"); the message starts with it.
type GraphFileException(path: string, detail: string, ?inner: exn) =
    inherit Exception($"{path}: {detail}", defaultArg inner null)
    member _.Path = path
    member _.Detail = detail

let private fail path detail = raise (GraphFileException(path, detail))

let private kindName (k: JsonValueKind) =
    match k with
    | JsonValueKind.Object -> "an object"
    | JsonValueKind.Array -> "an array"
    | JsonValueKind.String -> "a string"
    | JsonValueKind.Number -> "a number"
    | JsonValueKind.True
    | JsonValueKind.False -> "a boolean"
    | JsonValueKind.Null -> "null"
    | _ -> "nothing"

let private expect (kind: JsonValueKind) (what: string) path (e: JsonElement) =
    if e.ValueKind <> kind then fail path $"expected {what}, got {kindName e.ValueKind}"

let private property (e: JsonElement) (name: string) =
    match e.TryGetProperty name with
    | true, v -> Some v
    | _ -> None

let private required (e: JsonElement) (name: string) path =
    match property e name with
    | Some v -> v
    | None -> fail path $"missing field '{name}'"

let private str (e: JsonElement) path =
    expect JsonValueKind.String "a string" path e
    e.GetString()

let private number (e: JsonElement) path =
    expect JsonValueKind.Number "a number" path e
    match e.TryGetDouble() with
    | true, v when Double.IsFinite v -> v
    | _ -> fail path $"number {e.GetRawText()} is out of range"

let private dimension (e: JsonElement) path =
    expect JsonValueKind.Number "a number" path e
    match e.TryGetInt32() with
    | true, v when v > 0 -> v
    | _ -> fail path $"a dimension must be a positive integer, got {e.GetRawText()}"

/// Unknown fields are errors rather than silently ignored: "ancestor" for "ancestors" must not pass.
let private onlyFields (known: string list) (e: JsonElement) path =
    for p in e.EnumerateObject() do
        if not (List.contains p.Name known) then
            let expected = String.Join(", ", known)
            let simple = p.Name.Length > 0 && p.Name |> Seq.forall (fun c -> Char.IsLetterOrDigit c || c = '_')
            let field = if simple then p.Name else JsonSerializer.Serialize p.Name |> sprintf "[%s]"
            let at = if path = "$" then (if simple then field else "$" + field) elif simple then $"{path}.{field}" else path + field
            let shown = if simple then $"'{p.Name}'" else JsonSerializer.Serialize p.Name
            fail at $"unknown field {shown} (expected one of: {expected})"


let private onlyFieldsOf known e path = onlyFields known e path

let private readShape (version: int) (e: JsonElement) path =
    if version = 1 then
        expect JsonValueKind.Array "[rows, cols]" path e
        if e.GetArrayLength() <> 2 then fail path $"expected [rows, cols], got {e.GetArrayLength()} numbers"
        Shape.Of(dimension e[0] $"{path}[0]", dimension e[1] $"{path}[1]")
    else
        expect JsonValueKind.Array "a list of dimensions" path e
        if e.GetArrayLength() > MaxRank then fail path $"a shape has at most {MaxRank} dimensions, got {e.GetArrayLength()}"
        Shape.Of [| for i, d in Seq.indexed (e.EnumerateArray()) -> dimension d $"{path}[{i}]" |]

/// A number, or nested lists of numbers, rectangular: its shape (a number is rank 0) and its values in
/// row-major order.
let private readNested (e: JsonElement) path =
    let dims = ResizeArray<int>()
    // The shape from the first element at each depth; every other list must match it.
    let mutable probe = e
    while probe.ValueKind = JsonValueKind.Array do
        if probe.GetArrayLength() = 0 then fail path "a value has no empty lists"
        dims.Add(probe.GetArrayLength())
        probe <- probe[0]
    if dims.Count > MaxRank then fail path $"a value has at most {MaxRank} dimensions, got {dims.Count}"
    let data = ResizeArray<double>()
    let rec walk (x: JsonElement) (depth: int) (at: string) =
        if depth = dims.Count then
            if x.ValueKind = JsonValueKind.Array then fail at $"expected a number, got a list (the value's first entries make it rank {dims.Count})"
            // A mask may be written as booleans: true is 1, false 0 (as NumPy converts them).
            match x.ValueKind with
            | JsonValueKind.True -> data.Add 1.0
            | JsonValueKind.False -> data.Add 0.0
            | _ -> data.Add(number x at)
        else
            if x.ValueKind <> JsonValueKind.Array then
                fail at $"expected a list of {dims[depth]}, got {kindName x.ValueKind} (the value's first entries make it rank {dims.Count})"
            if x.GetArrayLength() <> dims[depth] then
                fail at $"has {x.GetArrayLength()} entries where the first list at this depth has {dims[depth]}"
            for i, item in Seq.indexed (x.EnumerateArray()) do
                walk item (depth + 1) $"{at}[{i}]"
    match e.ValueKind with
    | JsonValueKind.Number
    | JsonValueKind.True
    | JsonValueKind.False
    | JsonValueKind.Array -> walk e 0 path
    | k -> fail path $"expected a number or a list, got {kindName k}"
    Tensor(Shape.Of(dims.ToArray()), data.ToArray())

/// What the reader of a value needs of its file: the version, and where .npy files lie.
type private Source = { Version: int; BaseDirectory: string }

/// A .npy array beside the graph.
let private readNpy (source: Source) (e: JsonElement) path =
    onlyFieldsOf [ "npy" ] e path
    let file = str (required e "npy" path) $"{path}.npy"
    if isNull source.BaseDirectory then fail $"{path}.npy" "a .npy file needs the graph to be loaded from a file"
    let full = Path.Combine(source.BaseDirectory, file)
    if not (File.Exists full) then fail $"{path}.npy" $"file '{file}' not found"
    let a =
        try
            Npy.readFile full
        with :? NpyException as e ->
            fail $"{path}.npy" e.Message
    Tensor(Shape.Of a.Dims, a.Data)

/// A value as the file's version writes it, fitted to the node's declared shape where that is
/// unambiguous: in version 1 a number is 1×1 and a flat list a vector (n×1, or 1×n if so declared); in
/// both, one element binds any one-element shape and a flat list any vector-like shape of its length.
let private readValue (source: Source) (e: JsonElement) (declared: Shape option) path =
    let t =
        if source.Version >= 2 && e.ValueKind = JsonValueKind.Object then readNpy source e path
        else readNested e path
    if source.Version = 1 && t.Rank > 2 then fail path $"version 1 holds matrices; a value of rank {t.Rank} needs version 2"
    let vectorLike (s: Shape) = s.Raw |> Array.filter (fun d -> d > 1) |> Array.length <= 1
    match declared with
    | Some s when s <> t.Shape && s.Count = t.Count && ((t.Rank <= 1 && vectorLike s) || s.Count = 1) -> t.Reshape s
    | _ when source.Version = 1 && t.Rank = 0 -> t.Reshape(Shape.Of(1, 1))
    | _ when source.Version = 1 && t.Rank = 1 -> t.Reshape(Shape.Of(t.Count, 1))
    | _ -> t

let private readAttribute (e: JsonElement) path =
    match e.ValueKind with
    | JsonValueKind.Number ->
        // An integer only when written as one: 3 is an Int, 3.0 and 3e0 are numbers.
        let raw = e.GetRawText()
        match e.TryGetInt32() with
        | true, i when not (raw.Contains '.' || raw.Contains 'e' || raw.Contains 'E') -> OpAttribute.Int i
        | _ -> OpAttribute.Float(number e path)
    | JsonValueKind.True -> OpAttribute.Bool true
    | JsonValueKind.False -> OpAttribute.Bool false
    | JsonValueKind.String -> OpAttribute.Text(e.GetString())
    | JsonValueKind.Array ->
        OpAttribute.Ints
            [| for i, x in Seq.indexed (e.EnumerateArray()) ->
                   // TryGetInt32 throws on a non-number: the kind is checked first.
                   match x.ValueKind with
                   | JsonValueKind.Number ->
                       match x.TryGetInt32() with
                       | true, v when not (x.GetRawText().Contains '.' || x.GetRawText().Contains 'e' || x.GetRawText().Contains 'E') -> v
                       | _ -> fail $"{path}[{i}]" $"expected an integer, got {x.GetRawText()}"
                   | k -> fail $"{path}[{i}]" $"expected an integer, got {kindName k}" |]
    | k -> fail path $"expected a number, an integer, a list of integers, a boolean or a string, got {kindName k}"

let private readAttributes (e: JsonElement) path =
    expect JsonValueKind.Object "an object of attributes" path e
    let d = Dictionary<string, OpAttribute>()
    for p in e.EnumerateObject() do
        d[p.Name] <- readAttribute p.Value $"{path}.{p.Name}"
    d :> IReadOnlyDictionary<_, _>

/// A value from the side file, read when its node's declared shape is known.
type private SideValue = { Path: string; Read: Shape option -> Tensor }

let private readNode (source: Source) (sideValues: IReadOnlyDictionary<string, SideValue>) (i: int) (e: JsonElement) =
    let path = $"nodes[{i}]"
    expect JsonValueKind.Object "a node object" path e
    onlyFields [ "id"; "op"; "shape"; "dtype"; "ancestors"; "attributes"; "value"; "description" ] e path
    let id = str (required e "id" path) $"{path}.id"
    if String.IsNullOrWhiteSpace id then fail $"{path}.id" "a node id must not be empty"
    let opName = str (required e "op" path) $"{path}.op"
    let declared = property e "shape" |> Option.map (fun s -> readShape source.Version s $"{path}.shape")
    let value =
        match property e "value", sideValues.TryGetValue id with
        | Some v, _ -> Some(readValue source v declared $"{path}.value")
        | None, (true, side) ->
            // Checked here: graph validation would point at this node's (absent) "value".
            let t = side.Read declared
            match declared with
            | Some s when t.Shape <> s -> fail side.Path (ValueShape(id, s, t.Shape)).Message
            | _ -> Some t
        | None, _ -> None
    let ancestors =
        match property e "ancestors" with
        | None -> [||]
        | Some a ->
            expect JsonValueKind.Array "a list of node ids" $"{path}.ancestors" a
            [| for j, x in Seq.indexed (a.EnumerateArray()) -> str x $"{path}.ancestors[{j}]" |]
    let op =
        if List.contains opName Catalogue.leafNames then
            let shape =
                match declared, value with
                | Some s, _ -> s
                | None, Some v -> v.Shape
                | None, None ->
                    let article = if opName = "input" then "an" else "a"
                    fail path $"{article} {opName} needs a 'shape' or a 'value'"
            let elementType =
                match property e "dtype" with
                | None -> ElementType.Float64
                | Some t ->
                    match ElementType.tryParse (str t $"{path}.dtype") with
                    | Some t -> t
                    | None -> fail $"{path}.dtype" $"unknown element type '{t.GetString()}' (expected float64, int64 or bool)"
            match Catalogue.leafOf opName shape elementType with
            | Ok op -> op
            | Error m -> fail (if elementType <> ElementType.Float64 then $"{path}.dtype" else $"{path}.op") m
        else
            if (property e "dtype").IsSome then
                fail $"{path}.dtype" $"a computed node's element type follows from its op ('{opName}'); only leaves declare one"
            let attributes =
                match property e "attributes" with
                | Some a -> readAttributes a $"{path}.attributes"
                | None -> Dictionary() :> IReadOnlyDictionary<_, _>
            match Catalogue.computeOrBlame opName attributes with
            | Ok op -> op
            | Error(Some attribute, m) -> fail $"{path}.attributes.{attribute}" m
            | Error(None, m) -> fail (if Catalogue.tryFind opName |> Option.isSome then $"{path}.attributes" else $"{path}.op") m
    { Id = id; Op = op; Ancestors = ancestors; Value = value }

let private parseDocument (text: string) (source: string) =
    try
        JsonDocument.Parse(text, JsonDocumentOptions(CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true))
    with :? JsonException as ex ->
        let where =
            if ex.LineNumber.HasValue then
                $"line {ex.LineNumber.Value + 1L}, byte {ex.BytePositionInLine.GetValueOrDefault() + 1L}"
            else
                "an unknown position"
        // The parser's own message repeats the position and may quote a raw control character.
        let reason =
            ex.Message.Split(" Path: ")[0]
            |> String.collect (fun c -> if Char.IsControl c then $"\\u{int c:x4}" else string c)
        raise (GraphFileException("$", $"{source} is not valid JSON at {where}: {reason}", ex))

/// Where in the file a graph validation error points.
let private pathOf (nodes: JsonElement) (error: GraphError) =
    let indexOf (id: string) =
        nodes.EnumerateArray()
        |> Seq.tryFindIndex (fun n ->
            match n.TryGetProperty "id" with
            | true, v when v.ValueKind = JsonValueKind.String -> v.GetString() = id
            | _ -> false)
        |> Option.map (fun i -> $"nodes[{i}]")
    match error with
    | DuplicateId id ->
        // The second occurrence is the one at fault.
        nodes.EnumerateArray()
        |> Seq.indexed
        |> Seq.filter (fun (_, n) -> match n.TryGetProperty "id" with | true, v -> v.ValueKind = JsonValueKind.String && v.GetString() = id | _ -> false)
        |> Seq.map (fun (i, _) -> $"nodes[{i}].id")
        |> Seq.tryItem 1
        |> Option.defaultValue "nodes"
    | UnknownAncestor(n, _) -> indexOf n |> Option.map (fun p -> p + ".ancestors") |> Option.defaultValue "nodes"
    | WrongArity(n, _, _, _) -> indexOf n |> Option.map (fun p -> p + ".ancestors") |> Option.defaultValue "nodes"
    | ShapeMismatch(n, _, _)
    | TypeMismatch(n, _, _)
    | UnknownOp(n, _) -> indexOf n |> Option.defaultValue "nodes"
    | ValueType(n, _, _, _) -> indexOf n |> Option.map (fun p -> p + ".value") |> Option.defaultValue "nodes"
    | MissingValue(n, _)
    | ValueShape(n, _, _) -> indexOf n |> Option.map (fun p -> p + ".value") |> Option.defaultValue "nodes"
    | MissingOutput _
    | NonScalarOutput _ -> "output"
    | TensorTooLarge(n, _, _)
    | BadShape(n, _) -> indexOf n |> Option.map (fun p -> p + ".shape") |> Option.defaultValue "nodes"
    | Cycle _
    | EmptyGraph
    | TooManyNodes _ -> "nodes"

/// Reads a graph from JSON text within the given limits. `baseDirectory` resolves a side file of values
/// (null: none allowed).
let parseWith (limits: Limits) (text: string) (baseDirectory: string) : Graph =
    use doc = parseDocument text "the graph file"
    let root = doc.RootElement
    expect JsonValueKind.Object "a graph object" "$" root
    onlyFields [ "format"; "version"; "output"; "values"; "nodes"; "description" ] root "$"
    match property root "format" with
    | Some f when str f "format" <> Format -> fail "format" $"expected '{Format}', got '{f.GetString()}'"
    | _ -> ()
    let version = required root "version" "$"
    let version =
        match version.ValueKind with
        | JsonValueKind.Number when (match version.TryGetInt32() with | true, v -> v = 1 || v = Version | _ -> false) -> version.GetInt32()
        | _ -> fail "version" $"unsupported version {version.GetRawText()} (this build reads versions 1 and {Version})"
    let source = { Version = version; BaseDirectory = baseDirectory }
    let output = str (required root "output" "$") "output"
    let nodes = required root "nodes" "$"
    expect JsonValueKind.Array "a list of nodes" "nodes" nodes
    // The side document must outlive the node reader, which reads JsonElements from it.
    let sideDoc, sideValues =
        match property root "values" with
        | None -> null, Dictionary() :> IReadOnlyDictionary<_, _>
        | Some v ->
            let file = str v "values"
            if isNull baseDirectory then fail "values" "a values side file needs the graph to be loaded from a file"
            let full = Path.Combine(baseDirectory, file)
            if not (File.Exists full) then fail "values" $"side file '{file}' not found"
            let d = Dictionary<string, SideValue>()
            if file.EndsWith(".npz", StringComparison.OrdinalIgnoreCase) && version >= 2 then
                let arrays =
                    try
                        Npz.readFile full
                    with :? NpyException as e ->
                        fail "values" e.Message
                for KeyValue(id, a) in arrays do
                    let t = Tensor(Shape.Of a.Dims, a.Data)
                    d[id] <- { Path = $"{file}:{id}"; Read = fun _ -> t }
                null, d :> IReadOnlyDictionary<_, _>
            else
                let sideDoc = parseDocument (File.ReadAllText full) $"side file '{file}'"
                expect JsonValueKind.Object "an object of values by node id" $"{file}:$" sideDoc.RootElement
                for p in sideDoc.RootElement.EnumerateObject() do
                    let at = $"{file}:{p.Name}"
                    let value = p.Value
                    d[p.Name] <- { Path = at; Read = fun declared -> readValue { source with BaseDirectory = null } value declared at }
                sideDoc, d :> IReadOnlyDictionary<_, _>
    use _ = sideDoc
    let parsed = [| for i, n in Seq.indexed (nodes.EnumerateArray()) -> readNode source sideValues i n |]
    match sideValues.Keys |> Seq.tryFind (fun id -> not (parsed |> Array.exists (fun n -> n.Id = id))) with
    | Some id -> fail sideValues[id].Path $"value for '{id}', which is not a node of the graph"
    | None -> ()
    match Graph.TryCreate(parsed, output, limits) with
    | Ok g -> g
    | Error e -> raise (GraphFileException(pathOf nodes e, e.Message))

/// Reads a graph from JSON text within the default limits (see parseWith).
let parse (text: string) (baseDirectory: string) : Graph = parseWith Limits.Default text baseDirectory

/// Reads a graph file within the given limits (and its side file of values, resolved beside it).
let loadWith (limits: Limits) (path: string) : Graph =
    let text =
        try
            File.ReadAllText path
        with ex ->
            raise (GraphFileException(path, $"cannot read the file: {ex.Message}", ex))
    parseWith limits text (Path.GetDirectoryName(Path.GetFullPath path))

/// Reads a graph file within the default limits (and its side file of values, resolved beside it).
let load (path: string) : Graph = loadWith Limits.Default path

/// A number for rank 0, else nested lists, one level per dimension, in row-major order; a bool node's
/// elements as true and false.
let private writeValue (w: Utf8JsonWriter) (elementType: ElementType) (t: Tensor) =
    let rec nest (d: int) (offset: int) (size: int) =
        if d = t.Rank then
            if elementType = ElementType.Bool then w.WriteBooleanValue(t.Data[offset] <> 0.0)
            else w.WriteNumberValue t.Data[offset]
        else
            let n = t.Shape.Dim d
            let inner = size / n
            w.WriteStartArray()
            for k in 0 .. n - 1 do
                nest (d + 1) (offset + k * inner) inner
            w.WriteEndArray()
    nest 0 0 t.Count

/// The graph as JSON text with every stored value inline, indented (for files people read and diff) or
/// not (for messages and storage: indenting puts each number of a stored value on its own line, which
/// makes a graph of constants and parameters about three times larger).
let write (indented: bool) (graph: Graph) : string =
    use stream = new MemoryStream()
    (
        use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = indented))
        w.WriteStartObject()
        w.WriteString("format", Format)
        w.WriteNumber("version", Version)
        w.WriteString("output", graph.Output)
        w.WriteStartArray "nodes"
        for n in graph.Nodes do
            w.WriteStartObject()
            w.WriteString("id", n.Id)
            w.WriteString("op", n.Op.Name)
            if n.Op.Kind <> OpKind.Compute then
                w.WriteStartArray "shape"
                for d in (graph.ShapeOf n.Id).Dims do w.WriteNumberValue d
                w.WriteEndArray()
                let t = graph.ElementTypeOf n.Id
                if t <> ElementType.Float64 then w.WriteString("dtype", ElementType.name t)
            if n.Ancestors.Length > 0 then
                w.WriteStartArray "ancestors"
                for a in n.Ancestors do w.WriteStringValue a
                w.WriteEndArray()
            if n.Op.Attributes.Count > 0 then
                w.WriteStartObject "attributes"
                for KeyValue(k, v) in n.Op.Attributes |> Seq.sortBy _.Key do
                    w.WritePropertyName k
                    match v with
                    | OpAttribute.Float x -> w.WriteNumberValue x
                    | OpAttribute.Int x -> w.WriteNumberValue x
                    | OpAttribute.Ints xs ->
                        w.WriteStartArray()
                        for x in xs do w.WriteNumberValue x
                        w.WriteEndArray()
                    | OpAttribute.Bool x -> w.WriteBooleanValue x
                    | OpAttribute.Text x -> w.WriteStringValue x
                w.WriteEndObject()
            match n.Value with
            | Some v ->
                w.WritePropertyName "value"
                writeValue w (graph.ElementTypeOf n.Id) v
            | None -> ()
            w.WriteEndObject()
        w.WriteEndArray()
        w.WriteEndObject()
    )
    Text.Encoding.UTF8.GetString(stream.ToArray())

/// The graph as indented JSON text with every stored value inline (the file format).
let toJson (graph: Graph) : string = write true graph

/// The graph as JSON text on one line, every stored value inline: what deploys send and graph grains store.
let toCompactJson (graph: Graph) : string = write false graph

/// Writes the graph to a file, values inline.
let save (graph: Graph) (path: string) = File.WriteAllText(path, toJson graph)

/// Reads a data file of values by node id — `{ "X": [[...], ...], "y": ... }`, the side-file format —
/// for binding inputs (or overriding stored values) of `graph`. Errors name the file and node.
let parseValues (text: string) (source: string) (graph: Graph) : IReadOnlyDictionary<string, Tensor> =
    use doc = parseDocument text source
    expect JsonValueKind.Object "an object of values by node id" $"{source}:$" doc.RootElement
    let values = Dictionary<string, Tensor>()
    for p in doc.RootElement.EnumerateObject() do
        let path = $"{source}:{p.Name}"
        if not (graph.Contains p.Name) then fail path $"no node '{p.Name}' in the graph"
        let node = graph.Node p.Name
        if node.Op.Kind = OpKind.Compute then
            fail path $"node '{p.Name}' is computed by op '{node.Op.Name}'; only inputs, parameters and constants take values"
        let declared = graph.ShapeOf p.Name
        // Data files are read as version 2, fitted to the node (so version-1 habits still bind).
        let v = readValue { Version = Version; BaseDirectory = null } p.Value (Some declared) path
        if v.Shape <> declared then fail path $"value of shape {v.Shape} does not match the node's shape {declared}"
        let t = graph.ElementTypeOf p.Name
        match ElementType.firstInvalid t v.Data with
        | -1 -> ()
        | k -> fail path (GraphError.ValueType(p.Name, t, k, v.Data[k])).Message
        values[p.Name] <- v
    values :> IReadOnlyDictionary<_, _>

/// Reads a data file of values by node id (see parseValues).
let loadValues (path: string) (graph: Graph) =
    let text =
        try
            File.ReadAllText path
        with ex ->
            raise (GraphFileException(path, $"cannot read the file: {ex.Message}", ex))
    parseValues text (Path.GetFileName path) graph
