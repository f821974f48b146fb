/// Rows of the losses.
module Adjoint.OpTable.Rows.Loss

open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list =
    [ Compute("softmax_cross_entropy",
              [ cls "1x1" [ [ 1; 1 ]; [ 1; 1 ] ]; cls "vector" [ [ 4 ]; [ 4 ] ]; cls "matrix" [ [ 3; 4 ]; [ 3; 4 ] ]
                cls "rank 3" [ [ 2; 3; 4 ]; [ 2; 3; 4 ] ] ],
              bySlot (within -2.0 2.0) (fun d -> distributionsOf d.Random d.Shape)) ]
