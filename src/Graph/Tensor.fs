/// Dense tensors: the values z_i and adjoints λ_i that flow through a graph.
namespace Adjoint

open System
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Double

/// The shape of a node's value: rows × cols. A scalar is 1×1; a vector is a column (n×1).
[<Struct; CustomEquality; NoComparison>]
type Shape =
    { Rows: int
      Cols: int }

    member s.Count = s.Rows * s.Cols
    member s.IsScalar = s.Rows = 1 && s.Cols = 1
    override s.ToString() = $"{s.Rows}x{s.Cols}"
    override s.Equals(o: obj) =
        match o with
        | :? Shape as t -> s.Rows = t.Rows && s.Cols = t.Cols
        | _ -> false
    override s.GetHashCode() = HashCode.Combine(s.Rows, s.Cols)
    interface IEquatable<Shape> with
        member s.Equals(t: Shape) = s.Rows = t.Rows && s.Cols = t.Cols
    static member Of(rows: int, cols: int) = { Rows = rows; Cols = cols }
    static member Scalar = { Rows = 1; Cols = 1 }

/// A dense rows × cols tensor of doubles stored column-major in one contiguous array — MathNet's own
/// layout, so <see cref="AsMatrix"/> wraps the array without a copy.
///
/// The engine writes into a tensor only while it computes the node that owns it; a tensor handed to a
/// caller or put in a message is never written again.
[<Sealed; AllowNullLiteral>]
type Tensor(rows: int, cols: int, data: double[]) =
    do
        if rows < 0 || cols < 0 then
            invalidArg "rows" $"tensor dimensions must be non-negative, got {rows}x{cols}"
        if isNull data || data.Length <> rows * cols then
            invalidArg "data" $"a {rows}x{cols} tensor needs {rows * cols} values, got {(if isNull data then 0 else data.Length)}"

    /// A zero tensor of the given size.
    new(rows: int, cols: int) = Tensor(rows, cols, Array.zeroCreate (rows * cols))

    member _.Rows = rows
    member _.Cols = cols
    member _.Count = data.Length
    member _.Shape = { Rows = rows; Cols = cols }
    member _.IsScalar = rows = 1 && cols = 1

    /// The column-major storage. Element (r, c) is at c·rows + r.
    member _.Data = data

    member _.Item
        with get (r: int, c: int) = data[c * rows + r]

    /// The value of a 1×1 tensor.
    member t.ScalarValue =
        if data.Length <> 1 then
            invalidOp $"tensor of shape {t.Shape} is not a scalar"
        data[0]

    /// This tensor as a MathNet matrix sharing the same storage (no copy).
    member _.AsMatrix() : Matrix<double> = DenseMatrix(rows, cols, data) :> Matrix<double>

    /// The rows, each as an array: the layout graph files use.
    member _.ToRows() : double[][] =
        Array.init rows (fun r -> Array.init cols (fun c -> data[c * rows + r]))

    /// A copy with its own storage.
    member _.Clone() = Tensor(rows, cols, Array.copy data)

    static member Zeros(shape: Shape) = Tensor(shape.Rows, shape.Cols)
    static member Scalar(value: double) = Tensor(1, 1, [| value |])

    /// Builds a tensor from its rows (row-major nesting, as written by hand).
    static member OfRows(rows: double[][]) =
        let r = rows.Length
        let c = if r = 0 then 0 else rows[0].Length
        for i in 1 .. r - 1 do
            if rows[i].Length <> c then
                invalidArg "rows" $"row {i} has {rows[i].Length} values, row 0 has {c}"
        let data = Array.zeroCreate (r * c)
        for i in 0 .. r - 1 do
            for j in 0 .. c - 1 do
                data[j * r + i] <- rows[i][j]
        Tensor(r, c, data)

    /// Copies any MathNet matrix into a tensor.
    static member OfMatrix(m: Matrix<double>) =
        Tensor(m.RowCount, m.ColumnCount, m.ToColumnMajorArray())

    /// Bitwise equality of shape and every element: what "the distributed engine reproduces the local
    /// engine" means.
    static member BitwiseEqual(a: Tensor, b: Tensor) =
        a.Rows = b.Rows
        && a.Cols = b.Cols
        && Seq.forall2 (fun (x: double) (y: double) -> BitConverter.DoubleToInt64Bits x = BitConverter.DoubleToInt64Bits y) a.Data b.Data

    /// A scalar's value; a small tensor (at most 16 elements) as its rows, round-trip; else its shape.
    override t.ToString() =
        if t.IsScalar then data[0].ToString("R", Globalization.CultureInfo.InvariantCulture)
        elif data.Length <= 16 then
            t.ToRows()
            |> Array.map (fun row -> row |> Array.map (fun v -> v.ToString("R", Globalization.CultureInfo.InvariantCulture)) |> String.concat ", ")
            |> Array.map (fun row -> $"[{row}]")
            |> String.concat ", "
            |> sprintf "[%s]"
        else $"Tensor {t.Shape}"
