/// Dense tensors: the values z_i and adjoints λ_i that flow through a graph.
namespace Adjoint

open System
open System.Collections.Generic
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Double

/// The shape of a node's value: its dimensions, outermost first, as NumPy, PyTorch and ONNX give them.
/// Rank 0 (no dimensions) is a scalar; a matrix is rows × cols.
[<Struct; CustomEquality; NoComparison>]
type Shape =
    // Never written once made; null only in a default-constructed Shape, which reads as rank 0.
    val private dims: int[]
    val private count: int

    private new(dims: int[], count: int) = { dims = dims; count = count }

    /// The dimensions as an array this shape owns; callers must not write it.
    member internal s.Raw = if isNull s.dims then Array.Empty<int>() else s.dims
    /// The dimensions, outermost first.
    member s.Dims: IReadOnlyList<int> = s.Raw
    /// The number of dimensions.
    member s.Rank = s.Raw.Length
    /// Dimension k (0 = outermost).
    member s.Dim(k: int) = s.Raw[k]
    /// The number of elements: the product of the dimensions (1 for rank 0).
    member s.Count = if isNull s.dims then 1 else s.count
    /// Whether the shape holds exactly one element (rank 0, 1×1, 1×1×1, …): what a node computed on
    /// unboxed values, and a gradient's output, must be.
    member s.IsScalar = s.Count = 1
    /// Rows of a matrix (rank 2).
    member s.Rows = if s.Rank = 2 then s.Raw[0] else invalidOp $"a tensor of shape {s} is not a matrix"
    /// Columns of a matrix (rank 2).
    member s.Cols = if s.Rank = 2 then s.Raw[1] else invalidOp $"a tensor of shape {s} is not a matrix"

    /// "3x4", "2x3x4", "5" for a vector, "scalar" for rank 0.
    override s.ToString() =
        if s.Rank = 0 then "scalar" else String.Join("x", s.Raw)

    member s.Equals(t: Shape) =
        let a = s.Raw
        let b = t.Raw
        if obj.ReferenceEquals(a, b) then true
        elif a.Length <> b.Length then false
        else
            let mutable k = 0
            while k < a.Length && a[k] = b[k] do
                k <- k + 1
            k = a.Length

    override s.Equals(o: obj) =
        match o with
        | :? Shape as t -> s.Equals t
        | _ -> false

    override s.GetHashCode() =
        let mutable h = HashCode()
        for d in s.Raw do h.Add d
        h.ToHashCode()

    interface IEquatable<Shape> with
        member s.Equals(t: Shape) = s.Equals t

    /// A shape of the given dimensions (none: a scalar). Dimensions may be zero or negative here; graphs
    /// refuse them with an error naming the node.
    static member Of([<ParamArray>] dims: int[]) =
        let dims = Array.copy dims
        let mutable count = 1L
        for d in dims do count <- count * int64 (max d 0)
        Shape(dims, (if count > int64 Int32.MaxValue then -1 else int count))

    /// The number of elements in 64 bits (the product may not fit an int; then Count is −1).
    member s.LongCount =
        if s.Count >= 0 then int64 s.Count
        else
            let mutable count = 1L
            for d in s.Raw do count <- count * int64 d
            count

    /// Whether some dimension is zero or negative (graphs refuse such shapes).
    static member HasEmptyDimension(s: Shape) =
        let dims = s.Raw
        let mutable k = 0
        while k < dims.Length && dims[k] > 0 do
            k <- k + 1
        k < dims.Length

    /// The index in every dimension of the element at row-major offset k.
    member s.Unravel(k: int) : int[] =
        let dims = s.Raw
        let index = Array.zeroCreate dims.Length
        let mutable rest = k
        for d in dims.Length - 1 .. -1 .. 0 do
            index[d] <- rest % dims[d]
            rest <- rest / dims[d]
        index

    /// Rank 0: one value.
    static member val Scalar = Shape(Array.Empty<int>(), 1)

    static member op_Equality(a: Shape, b: Shape) = a.Equals b
    static member op_Inequality(a: Shape, b: Shape) = not (a.Equals b)

/// A dense tensor of doubles in one contiguous array in row-major (C) order — the last index varies
/// fastest — as NumPy, PyTorch and ONNX store tensors, so that imported values map without transposes.
///
/// The engine writes into a tensor only while it computes the node that owns it; a tensor handed to a
/// caller or put in a message is never written again.
[<Sealed; AllowNullLiteral>]
type Tensor(shape: Shape, data: double[]) =
    do
        if shape.Raw |> Array.exists (fun d -> d < 0) then
            invalidArg "shape" $"tensor dimensions must be non-negative, got {shape}"
        if shape.Count < 0 then invalidArg "shape" $"a tensor of shape {shape} has more than {Int32.MaxValue} elements"
        if isNull data || data.Length <> shape.Count then
            invalidArg "data" $"a tensor of shape {shape} needs {shape.Count} values, got {(if isNull data then 0 else data.Length)}"

    /// A zero tensor of the given shape.
    new(shape: Shape) = Tensor(shape, Array.zeroCreate (max 0 shape.Count))

    /// A rows × cols matrix over `data` in row-major order: element (r, c) at r·cols + c.
    new(rows: int, cols: int, data: double[]) = Tensor(Shape.Of(rows, cols), data)

    /// A zero rows × cols matrix.
    new(rows: int, cols: int) = Tensor(Shape.Of(rows, cols))

    member _.Shape = shape
    member _.Rank = shape.Rank
    member _.Count = data.Length
    /// Whether the tensor holds one element (see Shape.IsScalar).
    member _.IsScalar = shape.IsScalar
    /// Rows of a matrix.
    member _.Rows = shape.Rows
    /// Columns of a matrix.
    member _.Cols = shape.Cols

    /// The row-major storage.
    member _.Data = data

    /// Element (r, c) of a matrix.
    member _.Item
        with get (r: int, c: int) = data[r * shape.Cols + c]

    /// The element at an index of every dimension.
    member _.At([<ParamArray>] index: int[]) =
        if index.Length <> shape.Rank then invalidArg "index" $"a tensor of shape {shape} takes {shape.Rank} indices, got {index.Length}"
        let mutable k = 0
        for d in 0 .. index.Length - 1 do
            if index[d] < 0 || index[d] >= shape.Dim d then
                raise (IndexOutOfRangeException $"index {index[d]} is out of range for dimension {d} of shape {shape}")
            k <- k * shape.Dim d + index[d]
        data[k]

    /// The value of a one-element tensor.
    member t.ScalarValue =
        if data.Length <> 1 then
            invalidOp $"tensor of shape {t.Shape} is not a scalar"
        data[0]

    /// The same storage under another shape of as many elements (no copy).
    member _.Reshape(next: Shape) =
        if next.Count <> data.Length then invalidArg "next" $"cannot reshape {shape} ({data.Length} values) to {next}"
        Tensor(next, data)

    /// This matrix as a MathNet matrix: a copy, since MathNet stores column-major (one pass over the
    /// elements; 0.5 ms for 512×512). A vector is a column; rank 0 is 1×1.
    member _.AsMatrix() : Matrix<double> =
        match shape.Rank with
        | 0 -> DenseMatrix.Create(1, 1, data[0]) :> Matrix<double>
        | 1 -> DenseMatrix(data.Length, 1, Array.copy data) :> Matrix<double>
        | 2 -> DenseMatrix.Create(shape.Dim 0, shape.Dim 1, fun r c -> data[r * shape.Dim 1 + c]) :> Matrix<double>
        | _ -> invalidOp $"a tensor of shape {shape} is not a matrix"

    /// The rows of a matrix (a vector: one row; rank 0: one row of one), each as an array.
    member _.ToRows() : double[][] =
        match shape.Rank with
        | 0 -> [| [| data[0] |] |]
        | 1 -> [| Array.copy data |]
        | 2 -> Array.init (shape.Dim 0) (fun r -> Array.sub data (r * shape.Dim 1) (shape.Dim 1))
        | _ -> invalidOp $"a tensor of shape {shape} is not a matrix"

    /// A copy with its own storage.
    member _.Clone() = Tensor(shape, Array.copy data)

    static member Zeros(shape: Shape) = Tensor(shape)
    /// A rank-0 tensor.
    static member Scalar(value: double) = Tensor(Shape.Scalar, [| value |])

    /// A tensor of the given shape over the row-major values (no copy).
    static member Of(shape: Shape, data: double[]) = Tensor(shape, data)

    /// Builds a matrix from its rows (as written by hand).
    static member OfRows(rows: double[][]) =
        let r = rows.Length
        let c = if r = 0 then 0 else rows[0].Length
        for i in 1 .. r - 1 do
            if rows[i].Length <> c then
                invalidArg "rows" $"row {i} has {rows[i].Length} values, row 0 has {c}"
        Tensor(r, c, Array.concat rows)

    /// Copies any MathNet matrix into a tensor.
    static member OfMatrix(m: Matrix<double>) =
        Tensor(m.RowCount, m.ColumnCount, m.ToRowMajorArray())

    /// Bitwise equality of shape and every element: what "the distributed engine reproduces the local
    /// engine" means.
    static member BitwiseEqual(a: Tensor, b: Tensor) =
        a.Shape = b.Shape
        && Seq.forall2 (fun (x: double) (y: double) -> BitConverter.DoubleToInt64Bits x = BitConverter.DoubleToInt64Bits y) a.Data b.Data

    /// A scalar's value; a small tensor (at most 16 elements) as nested lists, round-trip; else its shape.
    override t.ToString() =
        let show (v: double) = v.ToString("R", Globalization.CultureInfo.InvariantCulture)
        if shape.Rank = 0 then show data[0]
        elif data.Length <= 16 && data.Length > 0 then
            // Nested by dimension, innermost contiguous: [[1, 2], [3, 4]].
            let rec nest (d: int) (offset: int) (stride: int) =
                let n = shape.Dim d
                let inner = stride / max 1 n
                if d = shape.Rank - 1 then
                    String.Join(", ", [| for k in 0 .. n - 1 -> show data[offset + k] |]) |> sprintf "[%s]"
                else
                    String.Join(", ", [| for k in 0 .. n - 1 -> nest (d + 1) (offset + k * inner) inner |]) |> sprintf "[%s]"
            nest 0 0 data.Length
        else $"Tensor {t.Shape}"
