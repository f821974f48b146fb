/// Rows of the linear-algebra ops.
module Adjoint.OpTable.Rows.Linear

open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list =
    [ Compute("matmul", [ cls "1x1 · 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 · 4x2" [ [ 3; 4 ]; [ 4; 2 ] ]
                          cls "1x4 · 4x1" [ [ 1; 4 ]; [ 4; 1 ] ]; cls "5x1 · 1x3" [ [ 5; 1 ]; [ 1; 3 ] ]
                          cls "4 · 4x2" [ [ 4 ]; [ 4; 2 ] ]; cls "3x4 · 4" [ [ 3; 4 ]; [ 4 ] ]; cls "4 · 4" [ [ 4 ]; [ 4 ] ]
                          cls "1 · 1" [ [ 1 ]; [ 1 ] ]; cls "2x3x4 · 2x4x5" [ [ 2; 3; 4 ]; [ 2; 4; 5 ] ]
                          cls "2x1x3x4 · 5x4x2" [ [ 2; 1; 3; 4 ]; [ 5; 4; 2 ] ]; cls "3x4 · 2x4x2" [ [ 3; 4 ]; [ 2; 4; 2 ] ]
                          cls "2x3x4 · 4" [ [ 2; 3; 4 ]; [ 4 ] ]; cls "4 · 2x4x3" [ [ 4 ]; [ 2; 4; 3 ] ]
                          cls "1x2x3 · 2x3x1" [ [ 1; 2; 3 ]; [ 2; 3; 1 ] ] ], u)
      Compute("linear", [ cls "x 3x4, W 2x4" [ [ 3; 4 ]; [ 2; 4 ] ]; cls "x 4, W 2x4" [ [ 4 ]; [ 2; 4 ] ]
                          cls "x 3x4, W 2x4, b 2" [ [ 3; 4 ]; [ 2; 4 ]; [ 2 ] ]
                          cls "x 2x3x4, W 5x4, b 5" [ [ 2; 3; 4 ]; [ 5; 4 ]; [ 5 ] ]; cls "x 1, W 1x1, b 1" [ [ 1 ]; [ 1; 1 ]; [ 1 ] ] ], u)
      Compute("addrow", [ cls "1x1 + 1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x4 + 1x4" [ [ 3; 4 ]; [ 1; 4 ] ] ], u)
      Compute("solve", [ cls "1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "3x3 · 3x2" [ [ 3; 3 ]; [ 3; 2 ] ]; cls "4x4 · 4x1" [ [ 4; 4 ]; [ 4; 1 ] ] ],
              bySlot (fun d -> wellConditioned d.Random (d.Shape.Dim 0)) u) ]
