/// Linear-algebra ops (row-major): matmul (Claim 16.2, N-d by NumPy's rules), linear,
/// row-broadcast add, and solve. (Transpose is a shape op: Ops/Shape.fs.)
module Adjoint.Ops.Linear

open MathNet.Numerics.LinearAlgebra
open Adjoint
open Adjoint.Kernels

/// An error an op raises while evaluating (a singular matrix); the engine adds the node and op.
exception OpFailure of string

let private matrix (name: string) (what: string) (s: Shape) =
    if s.Rank = 2 then Ok() else Error $"{name} needs {what} to be a matrix (rank 2), got {s}"

let private both (a: Result<unit, string>) (b: Result<unit, string>) = Result.bind (fun () -> b) a

/// The plan of an N-d matmul (NumPy's rules): each operand a stack of matrices; a vector operand is
/// a 1 × k row (A) or a k × 1 column (B) whose added dimension the result drops; the stack (batch)
/// dimensions broadcast. `BatchA`/`BatchB` give, for each batch element t of the result in row-major
/// order, which matrix of A and of B it multiplies.
type private MatmulPlan =
    { M: int
      K: int
      N: int
      BatchA: int[]
      BatchB: int[]
      CountA: int
      CountB: int }

let private matmulPlan (a: Shape) (b: Shape) : Result<Shape * MatmulPlan, string> =
    if a.Rank = 0 || b.Rank = 0 then Error $"matmul needs operands of rank ≥ 1, got {a} and {b}"
    else
        let da = Array.ofSeq a.Dims
        let db = Array.ofSeq b.Dims
        let m, ka = if da.Length = 1 then 1, da[0] else da[da.Length - 2], da[da.Length - 1]
        let kb, n = if db.Length = 1 then db[0], 1 else db[db.Length - 2], db[db.Length - 1]
        if ka <> kb then Error $"matmul needs inner dimensions to agree, got {a} and {b}"
        else
            let stackA = Shape.Of(if da.Length <= 2 then [||] else da[.. da.Length - 3])
            let stackB = Shape.Of(if db.Length <= 2 then [||] else db[.. db.Length - 3])
            match Broadcast.shape stackA stackB with
            | ValueNone -> Error $"matmul needs batch dimensions that broadcast, got {a} and {b}"
            | ValueSome batch ->
                let dims =
                    Array.concat [ Array.ofSeq batch.Dims; (if da.Length > 1 then [| m |] else [||])
                                   (if db.Length > 1 then [| n |] else [||]) ]
                let batchA = Array.zeroCreate batch.Count
                let batchB = Array.zeroCreate batch.Count
                Broadcast.walk batch stackA stackB (fun t ia ib -> batchA[t] <- ia; batchB[t] <- ib)
                Ok(Shape.Of dims, { M = m; K = ka; N = n; BatchA = batchA; BatchB = batchB
                                    CountA = stackA.Count; CountB = stackB.Count })

/// dest[matrix j] = Σ over the batch elements t with index[t] = j, in increasing t, of op(X_t) op(Y_t)
/// (m × n each): the first term overwrites, the rest add, so a broadcast operand's VJP is summed in a
/// fixed order; a matrix no batch element reaches is zero.
let private batchedGemm transX transY m n k (x: double[]) (offX: int -> int) (y: double[]) (offY: int -> int)
                        (index: int[]) (count: int) (dest: double[]) =
    let written = Array.zeroCreate count
    for t in 0 .. index.Length - 1 do
        let j = index[t]
        Gemm.gemmAt transX transY m n k x (offX t) y (offY t) (if written[j] then 1.0 else 0.0) dest (j * m * n)
        written[j] <- true
    for j in 0 .. count - 1 do
        if not written[j] then System.Array.Clear(dest, j * m * n, m * n)

/// C = A B with NumPy's matmul rules (vectors promoted and their added dimension dropped, batch
/// dimensions broadcast), by GEMM per batch matrix; Λ_A = Λ Bᵀ and Λ_B = Aᵀ Λ per batch matrix
/// (Claim 16.2), summed over the batch elements a broadcast operand serves in increasing order. Two
/// matrices take one GEMM on the whole arrays.
let matmul =
    { new Op("matmul", 2, OpKind.Compute) with
        override _.Shape s = matmulPlan s[0] s[1] |> Result.map fst
        override _.Forward(args, out) =
            if args[0].Rank = 2 && args[1].Rank = 2 then Gemm.gemm false false args[0] args[1] 0.0 out
            else
                match matmulPlan args[0].Shape args[1].Shape with
                | Error m -> invalidArg "args" m
                | Ok(_, p) ->
                    for t in 0 .. p.BatchA.Length - 1 do
                        Gemm.gemmAt false false p.M p.N p.K args[0].Data (p.BatchA[t] * p.M * p.K)
                            args[1].Data (p.BatchB[t] * p.K * p.N) 0.0 out.Data (t * p.M * p.N)
        override _.Vjp(args, _, adjoint, slot, dest) =
            if args[0].Rank = 2 && args[1].Rank = 2 then
                if slot = 0 then Gemm.gemm false true adjoint args[1] 0.0 dest
                else Gemm.gemm true false args[0] adjoint 0.0 dest
            else
                match matmulPlan args[0].Shape args[1].Shape with
                | Error m -> invalidArg "args" m
                | Ok(_, p) ->
                    let mn = p.M * p.N
                    if slot = 0 then
                        batchedGemm false true p.M p.K p.N adjoint.Data (fun t -> t * mn) args[1].Data
                            (fun t -> p.BatchB[t] * p.K * p.N) p.BatchA p.CountA dest.Data
                    else
                        batchedGemm true false p.K p.N p.M args[0].Data (fun t -> p.BatchA[t] * p.M * p.K)
                            adjoint.Data (fun t -> t * mn) p.BatchB p.CountB dest.Data }

/// The number of rows of x (…, in): the product of all dimensions but the last.
let private leadingCount (s: Shape) =
    let mutable c = 1
    for d in 0 .. s.Rank - 2 do
        c <- c * s.Dim d
    c

/// y = x Wᵀ + b (torch.nn.functional.linear): x (…, in), W (out, in), b (out) optional. With the
/// leading dimensions of x flattened into rows X (r × in): Λ_X = Λ W, Λ_W = Λᵀ X, Λ_b = Σ_rows Λ
/// (rows in increasing order).
let linear =
    { new Op("linear", 2, OpKind.Compute) with
        override _.AcceptsArity count = count = 2 || count = 3
        override _.ArityText = "2 or 3"
        override _.Shape s =
            let x, w = s[0], s[1]
            if x.Rank = 0 then Error $"linear needs an input of rank ≥ 1 (…, in), got {x}"
            elif w.Rank <> 2 then Error $"linear needs a weight of rank 2 (out, in), got {w}"
            elif w.Dim 1 <> x.Dim(x.Rank - 1) then
                Error $"linear needs the weight's second dimension to be the input's last, got {x} and {w}"
            elif s.Length = 3 && not (s[2].Rank = 1 && s[2].Dim 0 = w.Dim 0) then
                Error $"linear needs a bias of shape ({w.Dim 0}), got {s[2]}"
            else Ok(Shape.Of(Array.append (Array.ofSeq x.Dims).[.. x.Rank - 2] [| w.Dim 0 |]))
        override _.Forward(args, out) =
            let x, w = args[0], args[1]
            let outs, ins = w.Shape.Dim 0, w.Shape.Dim 1
            let rows = leadingCount x.Shape
            Gemm.gemmAt false true rows outs ins x.Data 0 w.Data 0 0.0 out.Data 0
            if args.Length = 3 then
                let b = args[2].Data
                for r in 0 .. rows - 1 do
                    for o in 0 .. outs - 1 do
                        out.Data[r * outs + o] <- out.Data[r * outs + o] + b[o]
        override _.Vjp(args, _, adjoint, slot, dest) =
            let x, w = args[0], args[1]
            let outs, ins = w.Shape.Dim 0, w.Shape.Dim 1
            let rows = leadingCount x.Shape
            match slot with
            | 0 -> Gemm.gemmAt false false rows ins outs adjoint.Data 0 w.Data 0 0.0 dest.Data 0
            | 1 -> Gemm.gemmAt true false outs ins rows adjoint.Data 0 x.Data 0 0.0 dest.Data 0
            | _ ->
                System.Array.Clear dest.Data
                for r in 0 .. rows - 1 do
                    for o in 0 .. outs - 1 do
                        dest.Data[o] <- dest.Data[o] + adjoint.Data[r * outs + o] }

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
    [ Spec.fixedOp matmul "A B by NumPy's matmul rules (vectors promoted, batch dimensions broadcast)"
          "A: (…, m, n), B: (…, n, p) → (…, m, p); a vector A (n) or B (n) loses its added dimension"
      Spec.fixedOp linear "x Wᵀ + b (torch.nn.functional.linear)" "x: (…, in), W: (out, in), b: (out) → (…, out)"
      Spec.fixedOp addRow "X + 1 bᵀ, a row added to every row" "X: (m, n), b: (1, n) → (m, n)"
      Spec.fixedOp solve "A⁻¹ B by LU (fails on a singular A)" "A: (n, n), B: (n, p) → (n, p)" ]
