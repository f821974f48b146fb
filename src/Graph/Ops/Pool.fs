/// Pooling (NCHW): max_pool2d, avg_pool2d and global_avg_pool.
module Adjoint.Ops.Pool

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
