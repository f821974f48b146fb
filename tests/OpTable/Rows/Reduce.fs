/// Rows of sum, mean and the squared norm, and the shape classes of every reduction over axes.
module Adjoint.OpTable.Rows.Reduce

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row

let private axes (xs: int list) = "axes", OpAttribute.Ints(Array.ofList xs)
let private keep = "keepdims", OpAttribute.Bool true

/// The classes of a reduction over axes: every unary class with no attributes (all axes, rank 0
/// included), with keepdims alone, and lists of axes: one, leading or trailing, negative, not adjacent,
/// across dimensions of length 1, all of them spelt out; each with and without keepdims.
let axesClasses =
    unaryClasses
    @ [ clsWith "rank 0 keepdims" [ [] ] [ keep ]
        clsWith "rank 3 keepdims" [ [ 2; 3; 2 ] ] [ keep ]
        clsWith "vector axes [0]" [ [ 4 ] ] [ axes [ 0 ] ]
        clsWith "vector axes [-1] keepdims" [ [ 4 ] ] [ axes [ -1 ]; keep ]
        clsWith "matrix axes [0]" [ [ 3; 4 ] ] [ axes [ 0 ] ]
        clsWith "matrix axes [1] keepdims" [ [ 3; 4 ] ] [ axes [ 1 ]; keep ]
        clsWith "matrix axes [-2, -1]" [ [ 3; 4 ] ] [ axes [ -2; -1 ] ]
        clsWith "rank 3 axes [0, 2]" [ [ 2; 3; 2 ] ] [ axes [ 0; 2 ] ]
        clsWith "rank 3 axes [2, 0] keepdims" [ [ 2; 3; 2 ] ] [ axes [ 2; 0 ]; keep ]
        clsWith "rank 3 axes [-2]" [ [ 2; 3; 2 ] ] [ axes [ -2 ] ]
        clsWith "rank 3 axes [1, 2] keepdims" [ [ 2; 3; 2 ] ] [ axes [ 1; 2 ]; keep ]
        clsWith "rank 4 axes [1, 3]" [ [ 2; 1; 3; 2 ] ] [ axes [ 1; 3 ] ]
        clsWith "rank 4 axes [0, -2] keepdims" [ [ 2; 1; 3; 2 ] ] [ axes [ 0; -2 ]; keep ]
        clsWith "1x1 axes [0]" [ [ 1; 1 ] ] [ axes [ 0 ] ]
        clsWith "rank 3 axes [0, 1, 2]" [ [ 2; 3; 2 ] ] [ axes [ 0; 1; 2 ] ] ]

let rows: Row list =
    [ Compute("sum", axesClasses, u)
      Compute("mean", axesClasses, u)
      Compute("sqnorm", unaryClasses, u) ]
