/// Rows of the linear-algebra ops.
module Adjoint.OpTable.Rows.Linear

open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list =
    [ Compute("matmul", [ cls "1x1 · 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 · 4x2" [ [ 3; 4 ]; [ 4; 2 ] ]
                          cls "1x4 · 4x1" [ [ 1; 4 ]; [ 4; 1 ] ]; cls "5x1 · 1x3" [ [ 5; 1 ]; [ 1; 3 ] ] ], u)
      Compute("addrow", [ cls "1x1 + 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 + 1x4" [ [ 3; 4 ]; [ 1; 4 ] ] ], u)
      Compute("solve", [ cls "1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x3 · 3x2" [ [ 3; 3 ]; [ 3; 2 ] ]; cls "4x4 · 4x1" [ [ 4; 4 ]; [ 4; 1 ] ] ],
              bySlot (fun d -> wellConditioned d.Random (d.Shape.Dim 0)) u) ]
