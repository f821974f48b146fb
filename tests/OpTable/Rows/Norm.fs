/// Rows of the ops in src/Graph/Ops/Norm.fs.
module Adjoint.OpTable.Rows.Norm

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row

let private dims (k: int) = "dims", OpAttribute.Int k
let private inference = "training", OpAttribute.Bool false

let rows: Row list =
    [ Compute("layer_norm",
              [ cls "x 3x4" [ [ 3; 4 ] ]; cls "x 5" [ [ 5 ] ]; cls "x 3x4, w 4" [ [ 3; 4 ]; [ 4 ] ]
                cls "x 2x3x4, w 4, b 4" [ [ 2; 3; 4 ]; [ 4 ]; [ 4 ] ]
                clsWith "x 2x3x4 dims 2, w 3x4, b 3x4" [ [ 2; 3; 4 ]; [ 3; 4 ]; [ 3; 4 ] ] [ dims 2 ]
                clsWith "x 2x3x2 dims 3" [ [ 2; 3; 2 ] ] [ dims 3; "eps", OpAttribute.Float 0.1 ] ], u)
      Compute("batch_norm",
              [ cls "training 4x3" [ [ 4; 3 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ] ]
                cls "training 2x3x2x2" [ [ 2; 3; 2; 2 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ] ]
                clsWith "training 1x2x3 momentum 0.3" [ [ 1; 2; 3 ]; [ 2 ]; [ 2 ]; [ 2 ]; [ 2 ] ] [ "momentum", OpAttribute.Float 0.3 ]
                clsWith "inference 2x3x4" [ [ 2; 3; 4 ]; [ 3 ]; [ 3 ]; [ 3 ]; [ 3 ] ] [ inference ]
                clsWith "inference 1x1" [ [ 1; 1 ]; [ 1 ]; [ 1 ]; [ 1 ]; [ 1 ] ] [ inference; "eps", OpAttribute.Float 0.01 ] ],
              perSlot [ u; u; u; u; within 0.5 1.5 ]) ]
