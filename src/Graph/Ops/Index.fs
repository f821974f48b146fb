/// Indexing ops: gather along an axis (its VJP a scatter-add) and where(mask, a, b).
module Adjoint.Ops.Index

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
