/// Neural-network ops: softmax and log_softmax along an axis, cross_entropy, mse, dropout.
module Adjoint.Ops.Nn

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
