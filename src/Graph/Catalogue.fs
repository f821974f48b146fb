/// The op catalogue: every op by the name graph files and grain messages use.
module Adjoint.Catalogue

open System.Collections.Generic
open Adjoint.Ops

/// How to make an op from its attributes (most ops have none; scale has "factor").
type Entry =
    { Name: string
      Arity: int
      Attributes: string list
      Make: IReadOnlyDictionary<string, double> -> Op }

let private fixedOp (op: Op) =
    { Name = op.Name; Arity = op.Arity; Attributes = []; Make = fun _ -> op }

let private computeEntries =
    [ yield!
          [ Elementwise.add; Elementwise.sub; Elementwise.mul; Elementwise.div; Elementwise.neg
            Elementwise.square; Elementwise.sigmoid; Elementwise.tanh; Elementwise.relu; Elementwise.exp
            Elementwise.log; Elementwise.sin; Elementwise.cos; Elementwise.softplus; Elementwise.pow
            Linear.matmul; Linear.transpose; Linear.addRow; Linear.solve
            Reduce.sum; Reduce.mean; Reduce.sqnorm
            Loss.softmaxCrossEntropy ]
          |> List.map fixedOp
      { Name = "scale"; Arity = 1; Attributes = [ "factor" ]; Make = fun a -> Elementwise.scale a["factor"] } ]

let private byName = computeEntries |> List.map (fun e -> e.Name, e) |> dict

/// The names of the leaf ops, whose nodes declare a shape and perhaps a value.
let leafNames = [ "input"; "parameter"; "constant" ]

/// Every op name, leaves first.
let names = leafNames @ (computeEntries |> List.map _.Name)

/// The leaf op of that name with the declared shape.
let leaf (name: string) (shape: Shape) : Result<Op, string> =
    match name with
    | "input" -> Ok(Leaf.input shape)
    | "parameter" -> Ok(Leaf.parameter shape)
    | "constant" -> Ok(Leaf.constant shape)
    | _ -> Error $"'{name}' is not a leaf op"

let private editDistance (a: string) (b: string) =
    let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
    for i in 1 .. a.Length do
        for j in 1 .. b.Length do
            let cost = if a[i - 1] = b[j - 1] then 0 else 1
            d[i, j] <- min (min (d[i - 1, j] + 1) (d[i, j - 1] + 1)) (d[i - 1, j - 1] + cost)
    d[a.Length, b.Length]

/// "unknown op 'sigmod' (did you mean 'sigmoid'?)".
let unknownOpMessage (name: string) =
    let nearest = names |> List.minBy (editDistance name)
    if editDistance name nearest <= 2 then $"unknown op '{name}' (did you mean '{nearest}'?)"
    else $"unknown op '{name}'"

/// The catalogue entry for a compute op.
let tryFind (name: string) =
    match byName.TryGetValue name with
    | true, e -> Some e
    | _ -> None

/// The compute op of that name, made with its attributes; errors name a missing or unknown attribute.
let compute (name: string) (attributes: IReadOnlyDictionary<string, double>) : Result<Op, string> =
    match tryFind name with
    | None when List.contains name leafNames -> Error $"'{name}' is a leaf op and needs a shape"
    | None -> Error(unknownOpMessage name)
    | Some e ->
        match e.Attributes |> List.tryFind (attributes.ContainsKey >> not) with
        | Some missing -> Error $"op '{name}' needs attribute '{missing}'"
        | None ->
            match attributes.Keys |> Seq.tryFind (fun k -> not (List.contains k e.Attributes)) with
            | Some extra -> Error $"op '{name}' has no attribute '{extra}'"
            | None -> Ok(e.Make attributes)
