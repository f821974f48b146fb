/// Reductions over a list of axes with keepdims: sum, mean, max, min, logsumexp, var, argmax.
module Adjoint.Ops.Axes

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
