/// Rows of the ops in src/Graph/Ops/Conv.fs.
module Adjoint.OpTable.Rows.Conv

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
