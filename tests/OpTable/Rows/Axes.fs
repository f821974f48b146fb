/// Rows of the ops in src/Graph/Ops/Axes.fs: max, min, logsumexp, var and argmax on the classes of
/// Rows/Reduce.fs (var's corrections, argmax's axis on classes of its own).
module Adjoint.OpTable.Rows.Axes

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

/// The number of elements each output of a class reduces.
let private reducedCount (c: ShapeClass) =
    let shape = c.Shapes[0]
    match c.Attributes |> List.tryFind (fun (k, _) -> k = "axes") with
    | Some(_, OpAttribute.Ints xs) -> xs |> Array.fold (fun n a -> n * shape.Dim(if a < 0 then a + shape.Rank else a)) 1
    | _ -> shape.Count

/// Corrections 0, 1 and 2 in turn, where n − correction > 0 (var divides by it).
let private varClasses =
    Rows.Reduce.axesClasses
    |> List.mapi (fun i c -> { c with Attributes = c.Attributes @ [ "correction", OpAttribute.Int(i % 3) ] })
    |> List.filter (fun c -> reducedCount c > (match List.last c.Attributes with _, OpAttribute.Int k -> k | _ -> 0))
    |> List.map (fun c -> { c with Class = $"{c.Class} correction {List.last c.Attributes |> snd}" })

let private axis (a: int) = "axis", OpAttribute.Int a
let private keep = "keepdims", OpAttribute.Bool true

let private argmaxClasses =
    unaryClasses
    @ [ clsWith "rank 3 keepdims" [ [ 2; 3; 2 ] ] [ keep ]
        clsWith "vector axis 0" [ [ 4 ] ] [ axis 0 ]
        clsWith "matrix axis 1" [ [ 3; 4 ] ] [ axis 1 ]
        clsWith "matrix axis -2 keepdims" [ [ 3; 4 ] ] [ axis -2; keep ]
        clsWith "rank 3 axis 1" [ [ 2; 3; 2 ] ] [ axis 1 ]
        clsWith "rank 4 axis -1 keepdims" [ [ 2; 1; 3; 2 ] ] [ axis -1; keep ]
        clsWith "rank 4 axis 1" [ [ 2; 1; 3; 2 ] ] [ axis 1 ] ]

/// The reduction classes without keepdims (a mask has x's shape), each once.
let private maskClasses =
    Rows.Reduce.axesClasses
    |> List.map (fun c -> { c with Attributes = c.Attributes |> List.filter (fun (k, _) -> k <> "keepdims") })
    |> List.distinctBy (fun c -> c.Shapes, string c.Attributes)

/// Distinct values 0.1 apart (a random graph's nudge of at most 0.01 keeps their order).
let private spaced = fun (d: Draw) -> distinct d.Random -1.0 0.1 d.Shape

let rows: Row list =
    [ Compute("max", Rows.Reduce.axesClasses, spaced)
      Compute("min", Rows.Reduce.axesClasses, spaced)
      Compute("max_mask", maskClasses, spaced)
      Compute("min_mask", maskClasses, spaced)
      Compute("logsumexp", Rows.Reduce.axesClasses, within -2.0 2.0)
      Compute("var", varClasses, u)
      Compute("argmax", argmaxClasses, spaced) ]
