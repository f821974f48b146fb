/// Convolutions (NCHW): conv1d and conv2d with stride, padding, dilation and groups, by im2col and GEMM.
module Adjoint.Ops.Conv

open Adjoint

/// This family's catalogue entries.
let entries: OpEntry list = []
