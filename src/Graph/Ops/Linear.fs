/// Linear-algebra ops: matmul (Claim 16.2), transpose, row-broadcast add, and solve.
module Adjoint.Ops.Linear

open MathNet.Numerics.LinearAlgebra
open Adjoint

/// An error an op raises while evaluating (a singular matrix); the engine adds the node and op.
exception OpFailure of string

/// C = A B; Λ_A = Λ Bᵀ, Λ_B = Aᵀ Λ (Claim 16.2), through GEMM's transpose flags.
let matmul =
    { new Op("matmul", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0].Cols = s[1].Rows then Ok(Shape.Of(s[0].Rows, s[1].Cols))
            else Error $"matmul needs inner dimensions to agree, got {s[0]} and {s[1]}"
        override _.Forward(args, out) = Kernels.gemm false false args[0] args[1] 0.0 out
        override _.Vjp(args, _, adjoint, slot, dest) =
            if slot = 0 then Kernels.gemm false true adjoint args[1] 0.0 dest
            else Kernels.gemm true false args[0] adjoint 0.0 dest }

/// Xᵀ; Λ_X = Λᵀ.
let transpose =
    { new Op("transpose", 1, OpKind.Compute) with
        override _.Shape s = Ok(Shape.Of(s[0].Cols, s[0].Rows))
        override _.Forward(args, out) = Kernels.transpose args[0].Rows args[0].Cols args[0].Data out.Data
        override _.Vjp(_, _, adjoint, _, dest) = Kernels.transpose adjoint.Rows adjoint.Cols adjoint.Data dest.Data
        override _.VjpReadsArgs = false }

/// X + 1 bᵀ: adds the row b (1×n) to every row of X (m×n), a layer's bias.
/// Λ_X = Λ, Λ_b = column sums of Λ.
let addRow =
    { new Op("addrow", 2, OpKind.Compute) with
        override _.Shape s =
            if s[1].Rows = 1 && s[1].Cols = s[0].Cols then Ok s[0]
            else Error $"addrow needs a 1x{s[0].Cols} row to add to {s[0]}, got {s[1]}"
        override _.Forward(args, out) =
            let x = args[0]
            let m = x.Rows
            for c in 0 .. x.Cols - 1 do
                let b = args[1].Data[c]
                for r in c * m .. c * m + m - 1 do
                    out.Data[r] <- x.Data[r] + b
        override _.Vjp(_, _, adjoint, slot, dest) =
            if slot = 0 then System.Array.Copy(adjoint.Data, dest.Data, adjoint.Count)
            else
                for c in 0 .. adjoint.Cols - 1 do
                    dest.Data[c] <- Kernels.sum adjoint.Data (c * adjoint.Rows) adjoint.Rows
        override _.VjpReadsArgs = false }

let private luOf (a: Tensor) (what: string) =
    let lu = a.AsMatrix().LU()
    if lu.Determinant = 0.0 || System.Double.IsNaN lu.Determinant then
        raise (OpFailure $"solve: {what} is singular")
    lu

/// X = A⁻¹ B by LU; λ_B = A⁻ᵀ λ_X, λ_A = −λ_B Xᵀ.
let solve =
    { new Op("solve", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0].Rows <> s[0].Cols then Error $"solve needs a square matrix, got {s[0]}"
            elif s[1].Rows <> s[0].Rows then Error $"solve needs {s[0].Rows} rows on the right-hand side, got {s[1]}"
            else Ok s[1]
        override _.Forward(args, out) = (luOf args[0] "the matrix A").Solve(args[1].AsMatrix(), out.AsMatrix())
        override _.Vjp(args, out, adjoint, slot, dest) =
            let a = args[0]
            let at = Tensor(a.Cols, a.Rows)
            Kernels.transpose a.Rows a.Cols a.Data at.Data
            let lu = luOf at "the matrix Aᵀ"
            if slot = 1 then lu.Solve(adjoint.AsMatrix(), dest.AsMatrix())
            else
                let lambdaB = Tensor(adjoint.Rows, adjoint.Cols)
                lu.Solve(adjoint.AsMatrix(), lambdaB.AsMatrix())
                Kernels.gemm false true lambdaB out 0.0 dest
                Kernels.Vec.neg dest.Data dest.Data
        override _.VjpReadsOutput = true }
