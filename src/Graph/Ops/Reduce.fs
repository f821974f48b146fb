/// Reductions of a whole tensor to a scalar (rank 0): sum, mean and squared norm.
module Adjoint.Ops.Reduce

open System
open Adjoint
open Adjoint.Kernels

let private toScalar (_: Shape[]) = Ok Shape.Scalar

/// z = Σ_k x_k; λ_x = λ·1.
let sum =
    { new Op("sum", 1, OpKind.Compute) with
        override _.Shape s = toScalar s
        override _.Forward(args, out) = out.Data[0] <- Vec.sum args[0].Data 0 args[0].Count
        override _.Vjp(_, _, adjoint, _, dest) = Array.Fill(dest.Data, adjoint.Data[0])
        override _.VjpReadsArgs = false }

/// z = (1/n) Σ_k x_k; λ_x = (λ/n)·1.
let mean =
    { new Op("mean", 1, OpKind.Compute) with
        override _.Shape s = toScalar s
        override _.Forward(args, out) =
            out.Data[0] <- Vec.sum args[0].Data 0 args[0].Count / double args[0].Count
        override _.Vjp(_, _, adjoint, _, dest) = Array.Fill(dest.Data, adjoint.Data[0] / double dest.Count)
        override _.VjpReadsArgs = false }

/// z = ‖x‖² = Σ_k x_k²; λ_x = 2λ x.
let sqnorm =
    { new Op("sqnorm", 1, OpKind.Compute) with
        override _.Shape s = toScalar s
        override _.Forward(args, out) = out.Data[0] <- Vec.dot args[0].Data args[0].Data
        override _.Vjp(args, _, adjoint, _, dest) = Vec.scale (2.0 * adjoint.Data[0]) args[0].Data dest.Data }

/// The whole-tensor reductions' catalogue entries.
let entries =
    [ Spec.fixedOp sum "Σ of all elements" "x: any shape → ()"
      Spec.fixedOp mean "mean of all elements" "x: any shape → ()"
      Spec.fixedOp sqnorm "‖x‖², the sum of squares" "x: any shape → ()" ]
