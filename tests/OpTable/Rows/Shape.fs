/// Rows of the ops in src/Graph/Ops/Shape.fs.
module Adjoint.OpTable.Rows.Shape

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
