/// Shape ops: reshape, flatten, squeeze, unsqueeze, permute, transpose of two axes, broadcast_to, slice, concat, split, pad.
module Adjoint.Ops.Shape

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
