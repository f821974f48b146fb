/// Normalisations: layer_norm and batch_norm.
module Adjoint.Ops.Norm

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
