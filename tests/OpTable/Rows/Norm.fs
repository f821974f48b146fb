/// Rows of the ops in src/Graph/Ops/Norm.fs.
module Adjoint.OpTable.Rows.Norm

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
