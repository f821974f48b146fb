/// The op catalogue: every op by the name graph files and grain messages use, with its attributes.
module Adjoint.Catalogue

open System
open System.Collections.Generic
open Adjoint.Ops

/// Every compute op's entry, family by family (each family's module declares its own).
let entries: OpEntry list =
    Elementwise.entries @ Linear.entries @ Reduce.entries @ Loss.entries @ Shape.entries @ Index.entries
    @ Axes.entries @ Nn.entries @ Norm.entries @ Conv.entries @ Pool.entries

let private byName =
    let d = Dictionary<string, OpEntry>()
    for e in entries do
        if not (d.TryAdd(e.Name, e)) then failwith $"the catalogue declares op '{e.Name}' twice"
    d

/// The names of the leaf ops, whose nodes declare a shape and perhaps a value.
let leafNames = [ "input"; "parameter"; "constant" ]

/// Every op name, leaves first.
let names = leafNames @ (entries |> List.map _.Name)

/// The leaf op of that name with the declared shape (and element type: float64 unless given).
let leafOf (name: string) (shape: Shape) (elementType: ElementType) : Result<Op, string> =
    match name with
    | "input" -> Ok(Leaf.inputOf shape elementType)
    | "parameter" when elementType <> ElementType.Float64 ->
        Error $"a parameter is trained, so it holds float64, not {ElementType.name elementType}"
    | "parameter" -> Ok(Leaf.parameter shape)
    | "constant" -> Ok(Leaf.constantOf shape elementType)
    | _ -> Error $"'{name}' is not a leaf op"

/// The float64 leaf op of that name with the declared shape.
let leaf (name: string) (shape: Shape) : Result<Op, string> = leafOf name shape ElementType.Float64

let private editDistance (a: string) (b: string) =
    let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
    for i in 1 .. a.Length do
        for j in 1 .. b.Length do
            let cost = if a[i - 1] = b[j - 1] then 0 else 1
            d[i, j] <- min (min (d[i - 1, j] + 1) (d[i, j - 1] + 1)) (d[i - 1, j - 1] + cost)
    d[a.Length, b.Length]

let private nearest (name: string) (candidates: string seq) =
    if Seq.isEmpty candidates then None
    else
        let best = candidates |> Seq.minBy (editDistance name)
        if editDistance name best <= 2 then Some best else None

/// "unknown op 'sigmod' (did you mean 'sigmoid'?)".
let unknownOpMessage (name: string) =
    match nearest name names with
    | Some n -> $"unknown op '{name}' (did you mean '{n}'?)"
    | None -> $"unknown op '{name}'"

/// The catalogue entry for a compute op.
let tryFind (name: string) =
    match byName.TryGetValue name with
    | true, e -> Some e
    | _ -> None

let private typeName (t: AttributeType) =
    match t with
    | AttributeType.Float -> "a number"
    | AttributeType.Int -> "an integer"
    | AttributeType.Ints -> "a list of integers"
    | AttributeType.Bool -> "true or false"
    | _ -> "a string"

/// The attribute as its spec's type, where it can be one exactly (3 for 3.0, [1] for 1), or a message.
let private coerce (op: string) (spec: AttributeSpec) (value: OpAttribute) : Result<OpAttribute, string> =
    let wrong () = Error $"op '{op}' attribute '{spec.Name}' must be {typeName spec.Type}, got {value}"
    let whole (x: double) = Math.Round x = x && abs x <= double Int32.MaxValue
    match spec.Type, value with
    | AttributeType.Float, OpAttribute.Float _ -> Ok value
    | AttributeType.Float, OpAttribute.Int x -> Ok(OpAttribute.Float(double x))
    | AttributeType.Int, OpAttribute.Int _ -> Ok value
    | AttributeType.Int, OpAttribute.Float x when whole x -> Ok(OpAttribute.Int(int x))
    | AttributeType.Ints, OpAttribute.Ints _ -> Ok value
    | AttributeType.Ints, OpAttribute.Int x -> Ok(OpAttribute.Ints [| x |])
    | AttributeType.Bool, OpAttribute.Bool _ -> Ok value
    | AttributeType.Text, OpAttribute.Text t ->
        if spec.Choices.IsEmpty || List.contains t spec.Choices then Ok value
        else
            let choices = String.Join(", ", spec.Choices |> List.map (fun c -> $"'{c}'"))
            Error $"op '{op}' attribute '{spec.Name}' must be one of {choices}, got '{t}'"
    | _ -> wrong ()

/// The compute op of that name, made with its attributes; an error says what is wrong and which given
/// attribute is at fault, if one is (an unknown or ill-typed one; not a missing one).
let computeOrBlame (name: string) (attributes: IReadOnlyDictionary<string, OpAttribute>) : Result<Op, string option * string> =
    match tryFind name with
    | None when List.contains name leafNames -> Error(None, $"'{name}' is a leaf op and needs a shape")
    | None -> Error(None, unknownOpMessage name)
    | Some e ->
        let given = Dictionary<string, OpAttribute>()
        let mutable error = None
        for KeyValue(k, v) in attributes |> Seq.sortBy _.Key do
            if error.IsNone then
                match e.Attributes |> List.tryFind (fun s -> s.Name = k) with
                | None ->
                    let hint =
                        match nearest k (e.Attributes |> List.map _.Name) with
                        | Some n -> $" (did you mean '{n}'?)"
                        | None -> ""
                    error <- Some(Some k, $"op '{name}' has no attribute '{k}'{hint}")
                | Some spec ->
                    match coerce name spec v with
                    | Error m -> error <- Some(Some k, m)
                    // Defaults are left out, so a file that spells one out equals one that does not.
                    | Ok c when spec.Default = Some c -> ()
                    | Ok c -> given[k] <- c
        match error with
        | Some m -> Error m
        | None ->
            match e.Attributes |> List.tryFind (fun s -> s.Default.IsNone && not s.Optional && not (given.ContainsKey s.Name)) with
            | Some missing -> Error(None, $"op '{name}' needs attribute '{missing.Name}'")
            | None ->
                try
                    let op = e.Make(Attributes(e.Attributes, given))
                    if given.Count > 0 then
                        // A shared op carrying other attributes would be an entry's bug that changes
                        // every graph using that op: refused loudly rather than overwritten.
                        let same =
                            op.Attributes.Count = given.Count
                            && given |> Seq.forall (fun kv -> match op.Attributes.TryGetValue kv.Key with
                                                              | true, v -> v.Equals kv.Value
                                                              | _ -> false)
                        if op.Attributes.Count > 0 && not same then
                            invalidOp $"catalogue entry '{name}' returned an op made with other attributes"
                        op.Attributes <- given
                    Ok op
                with :? ArgumentException as ex ->
                    Error(None, $"op '{name}': {ex.Message}")

/// The compute op of that name, made with its attributes; errors name a missing, unknown or ill-typed
/// attribute, or one the op cannot take (a negative dropout probability).
let compute (name: string) (attributes: IReadOnlyDictionary<string, OpAttribute>) : Result<Op, string> =
    computeOrBlame name attributes |> Result.mapError snd

/// The compute op of that name with numeric attributes only (scale's factor), as version 1 had them.
let computeWith (name: string) (attributes: (string * double) seq) =
    compute name (Dictionary(dict [ for k, v in attributes -> k, OpAttribute.Float v ]) :> IReadOnlyDictionary<_, _>)
