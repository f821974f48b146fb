/// The op table: every op of the catalogue, family by family.
module Adjoint.OpTable.Table

open Adjoint.OpTable

/// Every op of the catalogue; a new op without a row fails Graph.Tests' ``the table covers the catalogue``.
let table: Row list =
    [ Leaf "input"; Leaf "parameter"; Leaf "constant" ]
    @ Rows.Elementwise.rows @ Rows.Linear.rows @ Rows.Reduce.rows @ Rows.Loss.rows @ Rows.Shape.rows
    @ Rows.Index.rows @ Rows.Axes.rows @ Rows.Nn.rows @ Rows.Norm.rows @ Rows.Conv.rows @ Rows.Pool.rows

/// The row of an op.
let rowOf (name: string) = table |> List.find (fun r -> r.Name = name)

/// The op of a shape class, made by the catalogue.
let opOf (name: string) (c: ShapeClass) =
    match Adjoint.Catalogue.compute name c.AttributeMap with
    | Ok op -> op
    | Error m -> failwith m

/// Arguments of a row's op for a shape class, drawn from its value makers.
let argumentsOf (row: Row) (c: ShapeClass) (rnd: System.Random) =
    match row with
    | Compute(_, _, values) ->
        c.Shapes |> List.mapi (fun slot shape -> values { Slot = slot; Random = rnd; Shape = shape; Class = c }) |> Array.ofList
    | Leaf _ -> [||]
