/// Rows of the ops in src/Graph/Ops/Nn.fs.
module Adjoint.OpTable.Rows.Nn

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
