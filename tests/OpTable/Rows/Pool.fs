/// Rows of the ops in src/Graph/Ops/Pool.fs.
module Adjoint.OpTable.Rows.Pool

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
