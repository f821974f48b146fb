/// Indexing ops: gather along an axis (its VJP a scatter-add) and where(mask, a, b).
module Adjoint.Ops.Index

open System
open Adjoint

module ShapeOps = Adjoint.Ops.Shape

/// The index `v` (a whole number, negative: from the end once) as a position in 0 … n−1, or an
/// evaluation error naming it.
let private positionIn (op: string) (axis: int) (n: int) (j: int) (v: double) =
    let p = if v < 0.0 then v + double n else v
    if p >= 0.0 && p < double n then int p
    else raise (Linear.OpFailure $"{op}: index {v} at flat position {j} of the indices is out of range for axis {axis} of size {n}")

let private position = positionIn "gather"

/// gather: z[o…, j…, i…] = x[o…, idx[j…], i…] along `axis` (torch.index_select, numpy.take with an
/// axis, indices of any shape); λ_x[o, idx_j, i] += λ[o, j, i] in row-major order of the output, from
/// zeros; the indices get a zero term.
[<Sealed>]
type internal Gather(axis: int) =
    inherit Op("gather", 2, OpKind.Compute)

    /// The size of the block before the axis, along it, and after it, of the data.
    static member private Blocks(data: Shape, axis: int) =
        ShapeOps.around data (ShapeOps.normalise data.Rank axis).Value

    override _.Shape s =
        match ShapeOps.normalise s[0].Rank axis with
        | None -> Error $"gather: axis {axis} is out of range for data of rank {s[0].Rank} (got {s[0]})"
        | Some a ->
            let dims = s[0].Dims |> Array.ofSeq
            Ok(Shape.Of(Array.concat [ dims[.. a - 1]; s[1].Dims |> Array.ofSeq; dims[a + 1 ..] ]))
    override _.ElementType t =
        if t.Length < 2 then Ok ElementType.Float64
        elif t[1] <> ElementType.Int64 then Error $"gather needs int64 indices, got {ElementType.name t[1]}"
        else Ok t[0]
    override _.Forward(args, out) =
        let struct (outer, n, inner) = Gather.Blocks(args[0].Shape, axis)
        let x = args[0].Data
        let idx = args[1].Data
        let m = idx.Length
        for j in 0 .. m - 1 do
            let p = position axis n j idx[j]
            for o in 0 .. outer - 1 do
                Array.Copy(x, (o * n + p) * inner, out.Data, (o * m + j) * inner, inner)
    override _.Vjp(args, _, adjoint, slot, dest) =
        let d = dest.Data
        Array.Fill(d, 0.0)
        if slot = 0 then
            let struct (outer, n, inner) = Gather.Blocks(args[0].Shape, axis)
            let idx = args[1].Data
            let l = adjoint.Data
            let m = idx.Length
            for o in 0 .. outer - 1 do
                for j in 0 .. m - 1 do
                    let at = (o * n + position axis n j idx[j]) * inner
                    let from = (o * m + j) * inner
                    for i in 0 .. inner - 1 do
                        d[at + i] <- d[at + i] + l[from + i]

/// gather along `axis`.
let gather (axis: int) = Gather axis :> Op

/// scatter_add(src, indices): z = zeros with `size` elements along `axis` (of z), z[o, idx_j, i] +=
/// src[o, j, i] in row-major order of src, negative indices from the end; gather's VJP as an op, so
/// that the adjoint graph can hold it. Linear in src: λ_src = gather(λ, indices) along the axis; the
/// indices get a zero term.
[<Sealed>]
type internal ScatterAdd(axis: int, size: int) =
    inherit Op("scatter_add", 2, OpKind.Compute)

    /// The axis of z, and the blocks before it and after the indices' dimensions of src.
    member private _.Layout(src: Shape, idx: Shape) : Result<struct (int * int * int * Shape), string> =
        let rank = src.Rank - idx.Rank + 1
        match (if rank >= 1 then ShapeOps.normalise rank axis else None) with
        | None -> Error $"scatter_add: axis {axis} is out of range for src {src} and indices {idx} (z of rank {rank})"
        | Some a ->
            let dims = src.Dims |> Array.ofSeq
            let middle = dims[a .. a + idx.Rank - 1]
            if middle <> (idx.Dims |> Array.ofSeq) then
                Error $"scatter_add needs src's dimensions {a}…{a + idx.Rank - 1} to be the indices' shape {idx}, got src {src}"
            else
                let outer = Array.fold (*) 1 dims[.. a - 1]
                let inner = Array.fold (*) 1 dims[a + idx.Rank ..]
                Ok(struct (a, outer, inner, Shape.Of(Array.concat [ dims[.. a - 1]; [| size |]; dims[a + idx.Rank ..] ])))

    member private op.LayoutOrFail(src, idx) =
        match op.Layout(src, idx) with
        | Ok l -> l
        | Error m -> invalidOp m

    override op.Shape s = op.Layout(s[0], s[1]) |> Result.map (fun struct (_, _, _, z) -> z)
    override _.ElementType t =
        if t.Length < 2 then Ok ElementType.Float64
        elif t[1] <> ElementType.Int64 then Error $"scatter_add needs int64 indices, got {ElementType.name t[1]}"
        else Ok ElementType.Float64
    override op.Forward(args, out) =
        let struct (a, outer, inner, _) = op.LayoutOrFail(args[0].Shape, args[1].Shape)
        let d, src, idx = out.Data, args[0].Data, args[1].Data
        let m = idx.Length
        Array.Fill(d, 0.0)
        for o in 0 .. outer - 1 do
            for j in 0 .. m - 1 do
                let at = (o * size + positionIn "scatter_add" a size j idx[j]) * inner
                let from = (o * m + j) * inner
                for i in 0 .. inner - 1 do
                    d[at + i] <- d[at + i] + src[from + i]
    override op.Vjp(args, _, adjoint, slot, dest) =
        if slot = 1 then Array.Fill(dest.Data, 0.0)
        else
            let struct (a, outer, inner, _) = op.LayoutOrFail(args[0].Shape, args[1].Shape)
            let idx = args[1].Data
            let m = idx.Length
            for j in 0 .. m - 1 do
                let p = positionIn "scatter_add" a size j idx[j]
                for o in 0 .. outer - 1 do
                    Array.Copy(adjoint.Data, (o * size + p) * inner, dest.Data, (o * m + j) * inner, inner)

/// one_hot(labels): 1 at each label's class along a new axis of `classes` elements at `axis` (of z), 0
/// elsewhere; a label equal to `ignoreIndex` gives all zeros, any other outside [0, classes) fails.
/// Labelled cross_entropy's VJP is written with it. Not differentiable: the labels get 0.
[<Sealed>]
type internal OneHot(classes: int, axis: int, ignoreIndex: int) =
    inherit Op("one_hot", 1, OpKind.Compute)
    override _.VjpReadsArgs = false
    member private _.Axis(labels: Shape) = ShapeOps.normalise (labels.Rank + 1) axis
    override op.Shape s =
        match op.Axis s[0] with
        | None -> Error $"one_hot: axis {axis} is out of range for labels {s[0]} (z of rank {s[0].Rank + 1})"
        | Some a ->
            let dims = s[0].Dims |> Array.ofSeq
            Ok(Shape.Of(Array.concat [ dims[.. a - 1]; [| classes |]; dims[a ..] ]))
    override _.ElementType t =
        if t.Length >= 1 && t[0] <> ElementType.Int64 then Error $"one_hot needs int64 labels, got {ElementType.name t[0]}"
        else Ok ElementType.Float64
    override op.Forward(args, out) =
        let labels = args[0]
        let a = (op.Axis labels.Shape).Value
        let dims = labels.Shape.Dims |> Array.ofSeq
        let inner = Array.fold (*) 1 dims[a ..]
        Array.Fill(out.Data, 0.0)
        for p in 0 .. labels.Count - 1 do
            let y = labels.Data[p]
            if y <> double ignoreIndex then
                if not (y >= 0.0 && y < double classes && Math.Round y = y) then
                    raise (Linear.OpFailure $"one_hot: label {y} at flat position {p} is out of range for {classes} classes")
                let o, i = p / inner, p % inner
                out.Data[(o * classes + int y) * inner + i] <- 1.0
    override _.Vjp(_, _, _, _, dest) = Array.Fill(dest.Data, 0.0)

/// Calls body k im ia ib for every output element k in row-major order, with its offsets in the
/// mask, a and b broadcast to `out`.
let inline internal walk3 (out: Shape) (sm: Shape) (sa: Shape) (sb: Shape) ([<InlineIfLambda>] body: int -> int -> int -> int -> unit) =
    let dims = out.Dims |> Array.ofSeq
    let r = dims.Length
    if r = 0 then body 0 0 0 0
    else
        let tm = Broadcast.strides out sm
        let ta = Broadcast.strides out sa
        let tb = Broadcast.strides out sb
        let n = dims[r - 1]
        let index = Array.zeroCreate r
        let mutable im = 0
        let mutable ia = 0
        let mutable ib = 0
        let mutable k = 0
        while k < out.Count do
            for j in 0 .. n - 1 do
                body (k + j) (im + j * tm[r - 1]) (ia + j * ta[r - 1]) (ib + j * tb[r - 1])
            k <- k + n
            // The odometer over the outer dimensions.
            let mutable d = r - 2
            let mutable carry = true
            while carry && d >= 0 do
                index[d] <- index[d] + 1
                im <- im + tm[d]
                ia <- ia + ta[d]
                ib <- ib + tb[d]
                if index[d] = dims[d] then
                    im <- im - tm[d] * dims[d]
                    ia <- ia - ta[d] * dims[d]
                    ib <- ib - tb[d] * dims[d]
                    index[d] <- 0
                    d <- d - 1
                else carry <- false

/// where: z = a where the mask is true, b where it is false, all three broadcast (NumPy); λ_a = λ·mask
/// and λ_b = λ·(1 − mask), each summed over the dimensions its argument was broadcast along (in output
/// order, from −0.0, as a broadcasting binary op sums); the mask gets a zero term.
[<Sealed>]
type internal Where() =
    inherit Op("where", 3, OpKind.Compute)

    override _.Shape s =
        match Broadcast.shape s[0] s[1] |> ValueOption.bind (fun ab -> Broadcast.shape ab s[2]) with
        | ValueSome shape -> Ok shape
        | ValueNone -> Error $"where cannot broadcast the mask {s[0]} with {s[1]} and {s[2]}"
    override _.ElementType t =
        if t.Length < 3 then Ok ElementType.Float64
        elif t[0] <> ElementType.Bool then Error $"where needs a bool mask, got {ElementType.name t[0]}"
        elif t[1] = t[2] then Ok t[1]
        else Ok ElementType.Float64
    override _.Forward(args, out) =
        let m = args[0].Data
        let a = args[1].Data
        let b = args[2].Data
        let z = out.Data
        walk3 out.Shape args[0].Shape args[1].Shape args[2].Shape (fun k im ia ib ->
            z[k] <- if m[im] <> 0.0 then a[ia] else b[ib])
    override _.Vjp(args, out, adjoint, slot, dest) =
        let m = args[0].Data
        let l = adjoint.Data
        let d = dest.Data
        if slot = 0 then Array.Fill(d, 0.0)
        else
            Array.Fill(d, -0.0)
            if slot = 1 then
                walk3 out.Shape args[0].Shape args[1].Shape args[2].Shape (fun k im ia _ ->
                    d[ia] <- d[ia] + l[k] * m[im])
            else
                walk3 out.Shape args[0].Shape args[1].Shape args[2].Shape (fun k im _ ib ->
                    d[ib] <- d[ib] + l[k] * (1.0 - m[im]))

/// where(mask, a, b).
let where = Where() :> Op

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "gather"; Arity = "2"; MinArity = 2
        Attributes = [ Spec.intOr "axis" 0 "the axis indexed (negative: from the end)" ]
        Summary = "x's slices at int64 indices along an axis (torch.index_select, numpy.take); an index out of range fails"
        ShapeRule = "x: (a…, n, c…), indices: (j…) → (a…, j…, c…)"
        Make = fun a -> gather (a.Int "axis") }
      { Name = "scatter_add"; Arity = "2"; MinArity = 2
        Attributes =
          [ Spec.intOr "axis" 0 "the axis of z indexed (negative: from the end)"
            Spec.int "size" "z's length along the axis" ]
        Summary = "zeros with src's slices added at int64 indices along an axis (gather's VJP); an index out of range fails"
        ShapeRule = "src: (a…, j…, c…), indices: (j…) → (a…, size, c…)"
        Make =
          fun a ->
              let size = a.Int "size"
              if size < 1 then raise (ArgumentException $"size must be at least 1, got {size}")
              ScatterAdd(a.Int "axis", size) }
      { Name = "one_hot"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.int "classes" "the number of classes C"
            Spec.intOr "axis" -1 "where the class axis goes in z (negative: from the end)"
            Spec.intOr "ignore_index" -100 "a label that gives all zeros" ]
        Summary = "1 at each int64 label's class along a new axis, 0 elsewhere (torch.nn.functional.one_hot)"
        ShapeRule = "labels: (d…) → (d…) with C inserted at axis"
        Make =
          fun a ->
              let classes = a.Int "classes"
              if classes < 1 then raise (ArgumentException $"classes must be at least 1, got {classes}")
              OneHot(classes, a.Int "axis", a.Int "ignore_index") }
      Spec.fixedOp where "a where the bool mask is true, b where false (all three broadcast)" "mask, a, b: broadcast → their broadcast shape" ]
