/// Rows of the ops in src/Graph/Ops/Shape.fs.
module Adjoint.OpTable.Rows.Shape

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row

let private ints (xs: int list) = OpAttribute.Ints(Array.ofList xs)

let rows: Row list =
    [ Compute("reshape",
              [ clsWith "3x4 to 2x6" [ [ 3; 4 ] ] [ "shape", ints [ 2; 6 ] ]
                clsWith "2x3x2 to 4x-1" [ [ 2; 3; 2 ] ] [ "shape", ints [ 4; -1 ] ]
                clsWith "6 to -1x1x3" [ [ 6 ] ] [ "shape", ints [ -1; 1; 3 ] ]
                clsWith "rank 0 to 1x1" [ [] ] [ "shape", ints [ 1; 1 ] ]
                clsWith "1x1 to rank 0" [ [ 1; 1 ] ] [ "shape", ints [] ] ],
              u)
      Compute("flatten",
              [ cls "2x3x2 whole" [ [ 2; 3; 2 ] ]
                clsWith "2x3x4 from 1" [ [ 2; 3; 4 ] ] [ "start_dim", OpAttribute.Int 1 ]
                clsWith "2x3x4x2 dims -3 to -2" [ [ 2; 3; 4; 2 ] ] [ "start_dim", OpAttribute.Int -3; "end_dim", OpAttribute.Int -2 ]
                clsWith "3x4 from 1 to 1" [ [ 3; 4 ] ] [ "start_dim", OpAttribute.Int 1; "end_dim", OpAttribute.Int 1 ]
                cls "rank 0" [ [] ] ],
              u)
      Compute("squeeze",
              [ cls "2x1x3x1 all" [ [ 2; 1; 3; 1 ] ]
                clsWith "2x1x3x1 axis 1" [ [ 2; 1; 3; 1 ] ] [ "axes", ints [ 1 ] ]
                clsWith "2x1x3x1 axes -1, 1" [ [ 2; 1; 3; 1 ] ] [ "axes", ints [ -1; 1 ] ]
                cls "1x1 to rank 0" [ [ 1; 1 ] ]
                cls "3x4 none" [ [ 3; 4 ] ] ],
              u)
      Compute("unsqueeze",
              [ clsWith "3x2 at 0" [ [ 3; 2 ] ] [ "axes", ints [ 0 ] ]
                clsWith "3x2 at -1" [ [ 3; 2 ] ] [ "axes", ints [ -1 ] ]
                clsWith "2x3 at 0 and 3" [ [ 2; 3 ] ] [ "axes", ints [ 0; 3 ] ]
                clsWith "2x3 at 1 and -2" [ [ 2; 3 ] ] [ "axes", ints [ 1; -2 ] ]
                clsWith "rank 0 at 0" [ [] ] [ "axes", ints [ 0 ] ] ],
              u)
      Compute("permute",
              [ clsWith "3x4 swapped" [ [ 3; 4 ] ] [ "axes", ints [ 1; 0 ] ]
                clsWith "2x3x4 to 4x2x3" [ [ 2; 3; 4 ] ] [ "axes", ints [ 2; 0; 1 ] ]
                clsWith "2x3x4 axes -2, -1, 0" [ [ 2; 3; 4 ] ] [ "axes", ints [ -2; -1; 0 ] ]
                clsWith "2x1x3x2 reversed" [ [ 2; 1; 3; 2 ] ] [ "axes", ints [ 3; 2; 1; 0 ] ]
                clsWith "vector" [ [ 4 ] ] [ "axes", ints [ 0 ] ] ],
              u)
      Compute("transpose",
              [ cls "1x1" [ [ 1; 1 ] ]; cls "3x4" [ [ 3; 4 ] ]; cls "1x5" [ [ 1; 5 ] ]
                cls "2x3x4 last two" [ [ 2; 3; 4 ] ]
                clsWith "2x3x4 axes 0 and 2" [ [ 2; 3; 4 ] ] [ "dim0", OpAttribute.Int 0; "dim1", OpAttribute.Int 2 ]
                clsWith "2x3x4x2 axes -3 and 0" [ [ 2; 3; 4; 2 ] ] [ "dim0", OpAttribute.Int -3; "dim1", OpAttribute.Int 0 ]
                clsWith "vector, axis with itself" [ [ 4 ] ] [ "dim0", OpAttribute.Int 0; "dim1", OpAttribute.Int -1 ] ],
              u)
      Compute("broadcast_to",
              [ clsWith "3x1 to 2x3x4" [ [ 3; 1 ] ] [ "shape", ints [ 2; 3; 4 ] ]
                clsWith "rank 0 to 2x3" [ [] ] [ "shape", ints [ 2; 3 ] ]
                clsWith "4 to 3x4" [ [ 4 ] ] [ "shape", ints [ 3; 4 ] ]
                clsWith "1x4 to 3x4" [ [ 1; 4 ] ] [ "shape", ints [ 3; 4 ] ]
                clsWith "2x3 to itself" [ [ 2; 3 ] ] [ "shape", ints [ 2; 3 ] ]
                clsWith "1x1 to 1x1" [ [ 1; 1 ] ] [ "shape", ints [ 1; 1 ] ] ],
              u)
      Compute("slice",
              [ clsWith "5, 1:3" [ [ 5 ] ] [ "starts", ints [ 1 ]; "stops", ints [ 3 ] ]
                clsWith "7, 0:100:2 clamped" [ [ 7 ] ] [ "starts", ints [ 0 ]; "stops", ints [ 100 ]; "steps", ints [ 2 ] ]
                clsWith "5, reversed" [ [ 5 ] ] [ "starts", ints [ -1 ]; "stops", ints [ System.Int32.MinValue ]; "steps", ints [ -1 ] ]
                clsWith "3x5, axis 1, -4:-1" [ [ 3; 5 ] ] [ "starts", ints [ -4 ]; "stops", ints [ -1 ]; "axes", ints [ 1 ] ]
                clsWith "4x5, ::2 and 4:0:-1" [ [ 4; 5 ] ] [ "starts", ints [ 0; 4 ]; "stops", ints [ 4; 0 ]; "steps", ints [ 2; -1 ] ]
                clsWith "2x3x6, axes -1 and 0, 5:-7:-2 and 1:2" [ [ 2; 3; 6 ] ]
                    [ "starts", ints [ 5; 1 ]; "stops", ints [ -7; 2 ]; "axes", ints [ -1; 0 ]; "steps", ints [ -2; 1 ] ]
                clsWith "1x1 whole" [ [ 1; 1 ] ] [ "starts", ints [ 0 ]; "stops", ints [ 1 ] ] ],
              u)
      Compute("concat",
              [ cls "one 2x3" [ [ 2; 3 ] ]
                cls "2x3 and 1x3" [ [ 2; 3 ]; [ 1; 3 ] ]
                clsWith "2x1, 2x3, 2x2 on axis -1" [ [ 2; 1 ]; [ 2; 3 ]; [ 2; 2 ] ] [ "axis", OpAttribute.Int -1 ]
                clsWith "2x1x2, 2x3x2 on axis 1" [ [ 2; 1; 2 ]; [ 2; 3; 2 ] ] [ "axis", OpAttribute.Int 1 ]
                cls "vectors 1, 1" [ [ 1 ]; [ 1 ] ] ],
              u)
      Compute("split",
              [ clsWith "5x2 into 2, 3: first" [ [ 5; 2 ] ] [ "sizes", ints [ 2; 3 ]; "index", OpAttribute.Int 0 ]
                clsWith "5x2 into 2, 3: second" [ [ 5; 2 ] ] [ "sizes", ints [ 2; 3 ]; "index", OpAttribute.Int 1 ]
                clsWith "3x4 on axis -1 into 1, 2, 1: middle" [ [ 3; 4 ] ] [ "axis", OpAttribute.Int -1; "sizes", ints [ 1; 2; 1 ]; "index", OpAttribute.Int 1 ]
                clsWith "2x4x3 on axis 1 into 3, 1: last" [ [ 2; 4; 3 ] ] [ "axis", OpAttribute.Int 1; "sizes", ints [ 3; 1 ]; "index", OpAttribute.Int 1 ]
                clsWith "1 whole" [ [ 1 ] ] [ "sizes", ints [ 1 ]; "index", OpAttribute.Int 0 ] ],
              u)
      Compute("pad",
              [ clsWith "3 by 1, 2" [ [ 3 ] ] [ "pads", ints [ 1; 2 ] ]
                clsWith "2x3 by 0, 1, 2, 0 with 1.5" [ [ 2; 3 ] ] [ "pads", ints [ 0; 1; 2; 0 ]; "value", OpAttribute.Float 1.5 ]
                clsWith "2x1x2 by 1 each" [ [ 2; 1; 2 ] ] [ "pads", ints [ 1; 1; 1; 1; 1; 1 ] ]
                clsWith "rank 0" [ [] ] [ "pads", ints [] ]
                clsWith "1x1 by 0s" [ [ 1; 1 ] ] [ "pads", ints [ 0; 0; 0; 0 ] ] ],
              u) ]
