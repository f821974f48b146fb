/// Rows of the whole-tensor reductions.
module Adjoint.OpTable.Rows.Reduce

open Adjoint.OpTable
open Adjoint.OpTable.Row

let rows: Row list =
    [ Compute("sum", unaryClasses, u)
      Compute("mean", unaryClasses, u)
      Compute("sqnorm", unaryClasses, u) ]
