/// Rows of the ops in src/Graph/Ops/Index.fs.
module Adjoint.OpTable.Rows.Index

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let rows: Row list = []
