/// Rows of the ops in src/Graph/Ops/Axes.fs.
module Adjoint.OpTable.Rows.Axes

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
