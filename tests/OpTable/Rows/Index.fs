/// Rows of the ops in src/Graph/Ops/Index.fs.
module Adjoint.OpTable.Rows.Index

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let private f = ElementType.Float64

/// Indices in [−n, n) for the data's dimension along the class's axis: negative ones count from the
/// end, and repeats (summed by the VJP) are likely.
let private indices (d: Draw) =
    let data = d.Class.Shapes[0]
    let axis =
        match d.Class.Attributes |> List.tryFind (fun (k, _) -> k = "axis") with
        | Some(_, OpAttribute.Int a) -> a
        | _ -> 0
    let n = data.Dim(if axis < 0 then axis + data.Rank else axis)
    tensorOfShape d.Shape (fun () -> double (d.Random.Next(-n, n)))

/// Indices in [−size, size) for scatter_add's `size` (repeats likely, summed).
let private scatterIndices (d: Draw) =
    let size = d.Class.Attributes |> List.pick (fun (k, v) -> match k, v with
                                                                | "size", OpAttribute.Int n -> Some n
                                                                | _ -> None)
    tensorOfShape d.Shape (fun () -> double (d.Random.Next(-size, size)))

let private gatherClass name shapes axis =
    clsTyped name shapes (if axis = 0 then [] else [ "axis", OpAttribute.Int axis ]) [ f; ElementType.Int64 ]

let private whereClass name shapes = clsTyped name shapes [] [ ElementType.Bool; f; f ]

let rows: Row list =
    [ Compute("gather",
              [ gatherClass "4x3 rows by 6" [ [ 4; 3 ]; [ 6 ] ] 0
                gatherClass "3x4 columns by 2x2" [ [ 3; 4 ]; [ 2; 2 ] ] 1
                gatherClass "2x3x4 on axis -1 by 5" [ [ 2; 3; 4 ]; [ 5 ] ] -1
                gatherClass "2x3x2 on axis 1 by 2x1x3" [ [ 2; 3; 2 ]; [ 2; 1; 3 ] ] 1
                gatherClass "5 by a scalar" [ [ 5 ]; [] ] 0
                gatherClass "1x1 by 1" [ [ 1; 1 ]; [ 1 ] ] 0 ],
              perSlot [ u; indices ])
      Compute("scatter_add",
              [ clsTyped "6x3 into 4 rows" [ [ 6; 3 ]; [ 6 ] ] [ "size", OpAttribute.Int 4 ] [ f; ElementType.Int64 ]
                clsTyped "3x2x2 into 4 columns" [ [ 3; 2; 2 ]; [ 2; 2 ] ] [ "axis", OpAttribute.Int 1; "size", OpAttribute.Int 4 ] [ f; ElementType.Int64 ]
                clsTyped "2x3x5 on axis -1 into 4" [ [ 2; 3; 5 ]; [ 5 ] ] [ "axis", OpAttribute.Int -1; "size", OpAttribute.Int 4 ] [ f; ElementType.Int64 ]
                clsTyped "a scalar into 5" [ []; [] ] [ "size", OpAttribute.Int 5 ] [ f; ElementType.Int64 ]
                clsTyped "1 into 1x1" [ [ 1; 1 ]; [ 1 ] ] [ "size", OpAttribute.Int 1 ] [ f; ElementType.Int64 ] ],
              perSlot [ u; scatterIndices ])
      Compute("one_hot",
              [ clsTyped "labels 5, 3 classes" [ [ 5 ] ] [ "classes", OpAttribute.Int 3 ] [ ElementType.Int64 ]
                clsTyped "labels 2x3 on axis 1, 4 classes" [ [ 2; 3 ] ] [ "classes", OpAttribute.Int 4; "axis", OpAttribute.Int 1 ] [ ElementType.Int64 ]
                clsTyped "a scalar label" [ [] ] [ "classes", OpAttribute.Int 2 ] [ ElementType.Int64 ]
                clsTyped "labels 6, ignore 2" [ [ 6 ] ] [ "classes", OpAttribute.Int 3; "ignore_index", OpAttribute.Int 2 ] [ ElementType.Int64 ] ],
              (fun d ->
                  let classes = d.Class.Attributes |> List.pick (fun (k, v) -> match k, v with
                                                                                 | "classes", OpAttribute.Int n -> Some n
                                                                                 | _ -> None)
                  integersBelow d.Random classes d.Shape))
      Compute("where",
              [ whereClass "3x4 all" [ [ 3; 4 ]; [ 3; 4 ]; [ 3; 4 ] ]
                whereClass "mask 1x4, a 3x4, b 3x1" [ [ 1; 4 ]; [ 3; 4 ]; [ 3; 1 ] ]
                whereClass "mask 3x4, a scalar, b 4" [ [ 3; 4 ]; []; [ 4 ] ]
                whereClass "mask 2x1x4, a 3x1, b 4" [ [ 2; 1; 4 ]; [ 3; 1 ]; [ 4 ] ]
                whereClass "rank 0" [ []; []; [] ]
                whereClass "1x1 with 2x3" [ [ 1; 1 ]; [ 2; 3 ]; [ 1; 1 ] ] ],
              perSlot [ (fun d -> mask d.Random d.Shape); u ]) ]
