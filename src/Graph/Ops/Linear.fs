/// Linear-algebra ops on matrices (rank 2, row-major): matmul (Claim 16.2), row-broadcast add, and
/// solve. (Transpose is a shape op: Ops/Shape.fs.)
module Adjoint.Ops.Linear

open MathNet.Numerics.LinearAlgebra
open Adjoint
open Adjoint.Kernels

/// An error an op raises while evaluating (a singular matrix); the engine adds the node and op.
exception OpFailure of string

let private matrix (name: string) (what: string) (s: Shape) =
    if s.Rank = 2 then Ok() else Error $"{name} needs {what} to be a matrix (rank 2), got {s}"

let private both (a: Result<unit, string>) (b: Result<unit, string>) = Result.bind (fun () -> b) a

/// C = A B; Λ_A = Λ Bᵀ, Λ_B = Aᵀ Λ (Claim 16.2), through GEMM's transpose flags.
let matmul =
    { new Op("matmul", 2, OpKind.Compute) with
        override _.Shape s =
            both (matrix "matmul" "A" s[0]) (matrix "matmul" "B" s[1])
            |> Result.bind (fun () ->
                if s[0].Cols = s[1].Rows then Ok(Shape.Of(s[0].Rows, s[1].Cols))
                else Error $"matmul needs inner dimensions to agree, got {s[0]} and {s[1]}")
        override _.Forward(args, out) = Gemm.gemm false false args[0] args[1] 0.0 out
        override _.Vjp(args, _, adjoint, slot, dest) =
            if slot = 0 then Gemm.gemm false true adjoint args[1] 0.0 dest
            else Gemm.gemm true false args[0] adjoint 0.0 dest }

/// X + 1 bᵀ: adds the row b (1×n) to every row of X (m×n), a layer's bias — `add` with the row
/// broadcast, kept for graphs that name it. Λ_X = Λ, Λ_b = column sums of Λ.
let addRow =
    { new Op("addrow", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0].Rank = 2 && s[1].Rank = 2 && s[1].Rows = 1 && s[1].Cols = s[0].Cols then Ok s[0]
            else Error $"addrow needs a 1x{(if s[0].Rank = 2 then s[0].Cols else 0)} row to add to {s[0]}, got {s[1]}"
        override _.Forward(args, out) = Elementwise.add.Forward(args, out)
        override _.Vjp(args, out, adjoint, slot, dest) = Elementwise.add.Vjp(args, out, adjoint, slot, dest)
        override _.VjpReadsArgs = false }

let private luOf (a: Matrix<double>) (what: string) =
    let lu = a.LU()
    if lu.Determinant = 0.0 || System.Double.IsNaN lu.Determinant then
        raise (OpFailure $"solve: {what} is singular")
    lu

/// X = A⁻¹ B by LU (MathNet, on column-major copies); λ_B = A⁻ᵀ λ_X, λ_A = −λ_B Xᵀ.
let solve =
    { new Op("solve", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0].Rank <> 2 || s[0].Rows <> s[0].Cols then Error $"solve needs a square matrix, got {s[0]}"
            elif s[1].Rank <> 2 || s[1].Rows <> s[0].Rows then Error $"solve needs {s[0].Rows} rows on the right-hand side, got {s[1]}"
            else Ok s[1]
        override _.Forward(args, out) =
            let x = (luOf (args[0].AsMatrix()) "the matrix A").Solve(args[1].AsMatrix())
            System.Array.Copy(x.ToRowMajorArray(), out.Data, out.Count)
        override _.Vjp(args, out, adjoint, slot, dest) =
            let lu = luOf (args[0].AsMatrix().Transpose()) "the matrix Aᵀ"
            let lambdaB = lu.Solve(adjoint.AsMatrix())
            if slot = 1 then System.Array.Copy(lambdaB.ToRowMajorArray(), dest.Data, dest.Count)
            else
                let lb = Tensor.OfMatrix lambdaB
                Gemm.gemm false true lb out 0.0 dest
                Vec.neg dest.Data dest.Data
        override _.VjpReadsOutput = true }

/// The linear-algebra ops' catalogue entries.
let entries =
    [ Spec.fixedOp matmul "A B" "A: (m, n), B: (n, p) → (m, p)"
      Spec.fixedOp addRow "X + 1 bᵀ, a row added to every row" "X: (m, n), b: (1, n) → (m, n)"
      Spec.fixedOp solve "A⁻¹ B by LU (fails on a singular A)" "A: (n, n), B: (n, p) → (n, p)" ]
