/// Shape ops: reshape, flatten, squeeze, unsqueeze, permute, transpose of two axes, broadcast_to, slice, concat, split, pad.
module Adjoint.Ops.Shape

open System
open Adjoint

// Every op here moves elements without arithmetic: z_k = x_{m(k)} for an index map m (pad also writes a
// constant). Its VJP is the transposed map: λ_x[m(k)] += λ_k — a copy back when m is one-to-one (every
// op but broadcast_to), so the VJP holds the exact bits of λ; zeros where no output element came from.

/// Strided copies: element (i_0, …, i_{r−1}) of a block of shape `dims` sits at offset + Σ_d i_d·stride_d
/// of a flat array. Permutations, slices, pads, concatenations and splits are one copy between two such
/// views each, in row-major order of the block.
module internal Strided =
    /// Row-major strides of a shape.
    let contiguous (dims: int[]) =
        let s = Array.zeroCreate dims.Length
        let mutable step = 1
        for d in dims.Length - 1 .. -1 .. 0 do
            s[d] <- step
            step <- step * dims[d]
        s

    /// dst[dOff + Σ i_d·dStrides_d] ← src[sOff + Σ i_d·sStrides_d] for every index i of `dims`.
    let copy (dims: int[]) (src: double[]) (sOff: int) (sStrides: int[]) (dst: double[]) (dOff: int) (dStrides: int[]) =
        let r = dims.Length
        if r = 0 then dst[dOff] <- src[sOff]
        else
            let n = dims[r - 1]
            let si = sStrides[r - 1]
            let di = dStrides[r - 1]
            let mutable outer = 1
            for d in 0 .. r - 2 do
                outer <- outer * dims[d]
            let index = Array.zeroCreate r
            let mutable s = sOff
            let mutable t = dOff
            for _ in 1 .. outer do
                if si = 1 && di = 1 then Array.Copy(src, s, dst, t, n)
                else
                    for j in 0 .. n - 1 do
                        dst[t + j * di] <- src[s + j * si]
                // The odometer over the outer dimensions.
                let mutable d = r - 2
                let mutable carry = true
                while carry && d >= 0 do
                    index[d] <- index[d] + 1
                    s <- s + sStrides[d]
                    t <- t + dStrides[d]
                    if index[d] = dims[d] then
                        s <- s - sStrides[d] * dims[d]
                        t <- t - dStrides[d] * dims[d]
                        index[d] <- 0
                        d <- d - 1
                    else carry <- false

/// An axis counted from the end when negative (NumPy), checked against the rank; None when out of range.
let internal normalise (rank: int) (axis: int) =
    let a = if axis < 0 then axis + rank else axis
    if a >= 0 && a < rank then Some a else None

/// Normalised axes, none repeated, or a message naming the op and the bad axis.
let internal axesOf (op: string) (rank: int) (axes: int[]) : Result<int[], string> =
    let out = Array.zeroCreate axes.Length
    let mutable error = None
    for k in 0 .. axes.Length - 1 do
        if error.IsNone then
            match normalise rank axes[k] with
            | None -> error <- Some $"{op}: axis {axes[k]} is out of range for rank {rank}"
            | Some a when Array.contains a out[.. k - 1] ->
                let shown = if axes[k] = a then string a else $"{axes[k]} (that is {a})"
                error <- Some $"{op}: axis {shown} is given twice"
            | Some a -> out[k] <- a
    match error with
    | Some m -> Error m
    | None -> Ok out

let private dimsText (dims: int[]) = "[" + String.Join(", ", dims) + "]"

/// The element type of the moved argument (float64 when asked without arguments, as a graph's node
/// comparison asks).
let internal kept (t: ElementType[]) = if t.Length = 0 then ElementType.Float64 else t[0]

/// An op that keeps the elements in their row-major order and changes only the shape: z = x with the
/// shape `rule` gives, λ_x = λ (both a copy).
[<Sealed>]
type internal Reshaping(name: string, rule: Shape -> Result<Shape, string>) =
    inherit Op(name, 1, OpKind.Compute)
    override _.Shape s = rule s[0]
    override _.ElementType t = Ok(kept t)
    override _.Forward(args, out) = Array.Copy(args[0].Data, out.Data, out.Count)
    override _.Vjp(_, _, adjoint, _, dest) = Array.Copy(adjoint.Data, dest.Data, dest.Count)
    override _.VjpReadsArgs = false

/// reshape: the same elements in row-major order under the shape `dims` (one entry −1: inferred).
let reshape (dims: int[]) =
    if dims |> Array.exists (fun d -> d = 0 || d < -1) then
        raise (ArgumentException $"reshape needs positive dimensions (or one -1), got {dimsText dims}")
    if (dims |> Array.filter (fun d -> d = -1)).Length > 1 then
        raise (ArgumentException $"reshape may infer one dimension (one -1), got {dimsText dims}")
    Reshaping("reshape", fun s ->
        let known = dims |> Array.fold (fun p d -> if d = -1 then p else p * int64 d) 1L
        match Array.tryFindIndex (fun d -> d = -1) dims with
        | None when known = int64 s.Count -> Ok(Shape.Of dims)
        | Some k when known > 0L && int64 s.Count % known = 0L ->
            let full = Array.copy dims
            full[k] <- int (int64 s.Count / known)
            Ok(Shape.Of full)
        | _ -> Error $"reshape cannot make {dimsText dims} from {s} ({s.Count} elements)")
    :> Op

/// flatten: dimensions start_dim … end_dim merged into one (torch.flatten; a scalar becomes one element).
let flatten (startDim: int) (endDim: int) =
    Reshaping("flatten", fun s ->
        if s.Rank = 0 then Ok(Shape.Of 1)
        else
            match normalise s.Rank startDim, normalise s.Rank endDim with
            | Some a, Some b when a <= b ->
                let dims = s.Dims |> Array.ofSeq
                let merged = dims[a..b] |> Array.fold (*) 1
                Ok(Shape.Of(Array.concat [ dims[.. a - 1]; [| merged |]; dims[b + 1 ..] ]))
            | Some _, Some _ -> Error $"flatten: start_dim {startDim} comes after end_dim {endDim} in a tensor of rank {s.Rank}"
            | _ -> Error $"flatten: start_dim {startDim} or end_dim {endDim} is out of range for rank {s.Rank}")
    :> Op

/// squeeze: the listed dimensions (each must be 1) removed; without a list, every dimension of size 1.
let squeeze (axes: int[] option) =
    Reshaping("squeeze", fun s ->
        let dims = s.Dims |> Array.ofSeq
        let drop =
            match axes with
            | None -> Ok [| for d in 0 .. dims.Length - 1 do if dims[d] = 1 then d |]
            | Some axes ->
                axesOf "squeeze" s.Rank axes
                |> Result.bind (fun normal ->
                    match normal |> Array.tryFind (fun d -> dims[d] <> 1) with
                    | Some d -> Error $"squeeze: dimension {d} of {s} has size {dims[d]}, not 1"
                    | None -> Ok normal)
        drop |> Result.map (fun drop -> Shape.Of [| for d in 0 .. dims.Length - 1 do if not (Array.contains d drop) then dims[d] |]))
    :> Op

/// unsqueeze: dimensions of size 1 inserted at the listed positions of the output (numpy.expand_dims).
let unsqueeze (axes: int[]) =
    Reshaping("unsqueeze", fun s ->
        let rank = s.Rank + axes.Length
        axesOf "unsqueeze" rank axes
        |> Result.map (fun added ->
            let mutable next = 0
            Shape.Of
                [| for d in 0 .. rank - 1 ->
                       if Array.contains d added then 1
                       else
                           next <- next + 1
                           s.Dim(next - 1) |]))
    :> Op

/// z = x with its axes reordered: z[i_0, …, i_{r−1}] = x at index i_p⁻¹, output axis d being input axis
/// perm[d]; λ_x is λ permuted back (the same strided copy in the other direction).
[<Sealed>]
type internal Permutation(name: string, permOf: int -> Result<int[], string>) =
    inherit Op(name, 1, OpKind.Compute)

    /// The input strides of each output axis.
    static member private Strides (input: Shape) (perm: int[]) =
        let strides = Strided.contiguous (input.Dims |> Array.ofSeq)
        perm |> Array.map (fun p -> strides[p])

    member private _.Perm(rank: int) =
        match permOf rank with
        | Ok p -> p
        | Error m -> invalidOp m

    override _.Shape s = permOf s[0].Rank |> Result.map (fun perm -> Shape.Of(perm |> Array.map (fun p -> s[0].Dim p)))
    override _.ElementType t = Ok(kept t)
    override op.Forward(args, out) =
        let x = args[0]
        let perm = op.Perm x.Rank
        if x.Rank = 2 && perm[0] = 1 then Kernels.Vec.transpose x.Rows x.Cols x.Data out.Data
        else
            let dims = out.Shape.Dims |> Array.ofSeq
            Strided.copy dims x.Data 0 (Permutation.Strides x.Shape perm) out.Data 0 (Strided.contiguous dims)
    override op.Vjp(_, _, adjoint, _, dest) =
        let perm = op.Perm dest.Rank
        if dest.Rank = 2 && perm[0] = 1 then Kernels.Vec.transpose adjoint.Rows adjoint.Cols adjoint.Data dest.Data
        else
            let dims = adjoint.Shape.Dims |> Array.ofSeq
            Strided.copy dims adjoint.Data 0 (Strided.contiguous dims) dest.Data 0 (Permutation.Strides dest.Shape perm)
    override _.VjpReadsArgs = false

/// permute: output axis d is input axis axes[d] (torch.permute, numpy.transpose with axes).
let permute (axes: int[]) =
    Permutation("permute", fun rank ->
        if axes.Length <> rank then Error $"permute needs {rank} axes for a tensor of rank {rank}, got {dimsText axes}"
        else axesOf "permute" rank axes)
    :> Op

/// transpose: axes dim0 and dim1 swapped (torch.transpose); by default the last two, so a matrix's Xᵀ.
let transposeOf (dim0: int) (dim1: int) =
    Permutation("transpose", fun rank ->
        match normalise rank dim0, normalise rank dim1 with
        | Some a, Some b ->
            let perm = Array.init rank id
            perm[a] <- b
            perm[b] <- a
            Ok perm
        | _ -> Error $"transpose: axes {dim0} and {dim1} are out of range for rank {rank}")
    :> Op

/// Xᵀ of a matrix, the last two axes swapped in general: transpose with its default attributes.
let transpose = transposeOf -2 -1

/// broadcast_to: x repeated along the dimensions where it has size 1 or is absent (numpy.broadcast_to);
/// λ_x = λ summed over those dimensions, in output order from −0.0 as a broadcasting binary op sums.
[<Sealed>]
type internal BroadcastTo(target: Shape) =
    inherit Op("broadcast_to", 1, OpKind.Compute)
    override _.Shape s =
        match Broadcast.shape s[0] target with
        | ValueSome b when b = target && s[0].Rank <= target.Rank -> Ok target
        | _ -> Error $"broadcast_to cannot broadcast {s[0]} to {target}"
    override _.ElementType t = Ok(kept t)
    override _.Forward(args, out) =
        let x = args[0].Data
        let z = out.Data
        Broadcast.walk out.Shape args[0].Shape args[0].Shape (fun k ia _ -> z[k] <- x[ia])
    override _.Vjp(_, out, adjoint, _, dest) =
        let l = adjoint.Data
        let d = dest.Data
        Array.Fill(d, -0.0)
        Broadcast.walk out.Shape dest.Shape dest.Shape (fun k ia _ -> d[ia] <- d[ia] + l[k])
    override _.VjpReadsArgs = false

/// broadcast_to the shape `dims` (each positive).
let broadcastTo (dims: int[]) =
    if dims |> Array.exists (fun d -> d <= 0) then
        raise (ArgumentException $"broadcast_to needs positive dimensions, got {dimsText dims}")
    BroadcastTo(Shape.Of dims) :> Op

/// The elements a Python slice start:stop:step of a dimension of size n selects: the first index and
/// the count (NumPy's rules: negative start and stop count from the end, then are clamped; with a
/// negative step they are clamped to [−1, n−1], so a stop of −n−1 or less reaches index 0).
let internal sliceRange (n: int) (start: int) (stop: int) (step: int) =
    let clamp lo hi (v: int64) = max lo (min hi v)
    let from (v: int) = if v < 0 then int64 v + int64 n else int64 v
    if step > 0 then
        let a = clamp 0L (int64 n) (from start)
        let b = clamp 0L (int64 n) (from stop)
        struct (int a, int (max 0L ((b - a + int64 step - 1L) / int64 step)))
    else
        let a = clamp -1L (int64 n - 1L) (from start)
        let b = clamp -1L (int64 n - 1L) (from stop)
        struct (int a, int (max 0L ((a - b + int64 -step - 1L) / int64 -step)))

/// slice: x[starts_k : stops_k : steps_k] along axes_k, every other axis whole (Python's slicing);
/// λ_x = λ scattered into zeros at the selected elements.
[<Sealed>]
type internal Slice(starts: int[], stops: int[], axes: int[] option, steps: int[]) =
    inherit Op("slice", 1, OpKind.Compute)

    /// The output dimensions, the input offset of the first element and the input stride of each output axis.
    member private _.Layout(input: Shape) : Result<struct (int[] * int * int[]), string> =
        let axes = defaultArg axes (Array.init starts.Length id)
        axesOf "slice" input.Rank axes
        |> Result.bind (fun axes ->
            let dims = input.Dims |> Array.ofSeq
            let inStrides = Strided.contiguous dims
            let strides = Array.copy inStrides
            let mutable offset = 0
            let mutable error = None
            for k in 0 .. axes.Length - 1 do
                let a = axes[k]
                let struct (first, count) = sliceRange dims[a] starts[k] stops[k] steps[k]
                if count = 0 && error.IsNone then
                    error <- Some $"slice selects no element of axis {a} (size {dims[a]}) with start {starts[k]}, stop {stops[k]}, step {steps[k]}"
                offset <- offset + first * inStrides[a]
                strides[a] <- steps[k] * inStrides[a]
                dims[a] <- count
            match error with
            | Some m -> Error m
            | None -> Ok(struct (dims, offset, strides)))

    member private op.LayoutOrFail(input: Shape) =
        match op.Layout input with
        | Ok l -> l
        | Error m -> invalidOp m

    override op.Shape s = op.Layout s[0] |> Result.map (fun struct (dims, _, _) -> Shape.Of dims)
    override _.ElementType t = Ok(kept t)
    override op.Forward(args, out) =
        let struct (dims, offset, strides) = op.LayoutOrFail args[0].Shape
        Strided.copy dims args[0].Data offset strides out.Data 0 (Strided.contiguous dims)
    override op.Vjp(_, _, adjoint, _, dest) =
        let struct (dims, offset, strides) = op.LayoutOrFail dest.Shape
        Array.Fill(dest.Data, 0.0)
        Strided.copy dims adjoint.Data 0 (Strided.contiguous dims) dest.Data offset strides
    override _.VjpReadsArgs = false

/// slice along `axes` (default 0, 1, …) with `steps` (default 1s); the lists as long as `starts`, no step 0.
let slice (starts: int[]) (stops: int[]) (axes: int[] option) (steps: int[] option) =
    let steps = defaultArg steps (Array.create starts.Length 1)
    if stops.Length <> starts.Length then
        raise (ArgumentException $"slice needs as many stops as starts, got {dimsText starts} and {dimsText stops}")
    match axes with
    | Some a when a.Length <> starts.Length ->
        raise (ArgumentException $"slice needs as many axes as starts, got {dimsText a} for {dimsText starts}")
    | _ -> ()
    if steps.Length <> starts.Length then
        raise (ArgumentException $"slice needs as many steps as starts, got {dimsText steps} for {dimsText starts}")
    if Array.contains 0 steps then raise (ArgumentException $"slice steps must not be 0, got {dimsText steps}")
    Slice(starts, stops, axes, steps) :> Op

/// The size of the block before an axis, along it, and after it, of a shape.
let internal around (s: Shape) (axis: int) =
    let dims = s.Dims |> Array.ofSeq
    struct (Array.fold (*) 1 dims[.. axis - 1], dims[axis], Array.fold (*) 1 dims[axis + 1 ..])

/// The common element type of several arguments: theirs if they agree, float64 if not (integers and
/// booleans are numbers to arithmetic).
let internal common (t: ElementType[]) =
    if t |> Array.forall (fun x -> x = kept t) then kept t else ElementType.Float64

/// concat: the arguments joined along `axis` (all dimensions but that one equal); λ of argument j is
/// its block of λ.
[<Sealed>]
type internal Concat(axis: int) =
    inherit Op("concat", 1, OpKind.Compute)
    override _.AcceptsArity count = count >= 1
    override _.ArityText = "at least 1"
    override _.Shape s =
        let r = s[0].Rank
        match normalise r axis with
        | None -> Error $"concat: axis {axis} is out of range for rank {r} (got {s[0]})"
        | Some a ->
            let fits (t: Shape) = t.Rank = r && Seq.forall (fun d -> d = a || t.Dim d = s[0].Dim d) (seq { 0 .. r - 1 })
            match s |> Array.tryFind (fun t -> not (fits t)) with
            | Some t -> Error $"concat along axis {axis} needs equal dimensions elsewhere, got {s[0]} and {t}"
            | None ->
                let dims = s[0].Dims |> Array.ofSeq
                dims[a] <- s |> Array.sumBy (fun t -> t.Dim a)
                Ok(Shape.Of dims)
    override _.ElementType t = Ok(common t)
    override _.Forward(args, out) =
        let a = (normalise out.Rank axis).Value
        let struct (outer, total, inner) = around out.Shape a
        let mutable at = 0
        for x in args do
            let n = x.Shape.Dim a * inner
            for o in 0 .. outer - 1 do
                Array.Copy(x.Data, o * n, out.Data, o * total * inner + at, n)
            at <- at + n
    override _.Vjp(args, _, adjoint, slot, dest) =
        let a = (normalise adjoint.Rank axis).Value
        let struct (outer, total, inner) = around adjoint.Shape a
        let mutable at = 0
        for j in 0 .. slot - 1 do
            at <- at + args[j].Shape.Dim a * inner
        let n = dest.Shape.Dim a * inner
        for o in 0 .. outer - 1 do
            Array.Copy(adjoint.Data, o * total * inner + at, dest.Data, o * n, n)

/// concat along `axis`.
let concat (axis: int) = Concat axis :> Op

/// split: piece `index` of x cut along `axis` into pieces of the given sizes; λ_x = λ in that piece's
/// block, zeros elsewhere.
[<Sealed>]
type internal Split(axis: int, sizes: int[], index: int) =
    inherit Op("split", 1, OpKind.Compute)
    let start = Array.sum sizes[.. index - 1]
    override _.Shape s =
        match normalise s[0].Rank axis with
        | None -> Error $"split: axis {axis} is out of range for rank {s[0].Rank} (got {s[0]})"
        | Some a when s[0].Dim a <> Array.sum sizes ->
            Error $"split: sizes {dimsText sizes} sum to {Array.sum sizes}, not to dimension {a} of {s[0]}"
        | Some a ->
            let dims = s[0].Dims |> Array.ofSeq
            dims[a] <- sizes[index]
            Ok(Shape.Of dims)
    override _.ElementType t = Ok(kept t)
    override _.Forward(args, out) =
        let a = (normalise out.Rank axis).Value
        let struct (outer, total, inner) = around args[0].Shape a
        let n = sizes[index] * inner
        for o in 0 .. outer - 1 do
            Array.Copy(args[0].Data, (o * total + start) * inner, out.Data, o * n, n)
    override _.Vjp(_, _, adjoint, _, dest) =
        let a = (normalise dest.Rank axis).Value
        let struct (outer, total, inner) = around dest.Shape a
        let n = sizes[index] * inner
        Array.Fill(dest.Data, 0.0)
        for o in 0 .. outer - 1 do
            Array.Copy(adjoint.Data, o * n, dest.Data, (o * total + start) * inner, n)
    override _.VjpReadsArgs = false

/// split: piece `index` of the positive `sizes` along `axis`.
let split (axis: int) (sizes: int[]) (index: int) =
    if sizes.Length = 0 || sizes |> Array.exists (fun s -> s <= 0) then
        raise (ArgumentException $"split needs positive sizes, got {dimsText sizes}")
    if index < 0 || index >= sizes.Length then
        raise (ArgumentException $"split index {index} is out of range for {sizes.Length} pieces")
    Split(axis, sizes, index) :> Op

/// pad: x surrounded by `value`, pads = [before_0, after_0, before_1, after_1, …] elements along every
/// axis from the first (NumPy's pad_width, flattened; constant mode); λ_x = λ's interior block.
[<Sealed>]
type internal Pad(pads: int[], value: double) =
    inherit Op("pad", 1, OpKind.Compute)

    /// The output's dimensions, the offset of x's first element in it, and its strides.
    member private _.Layout(input: Shape) =
        let dims = Array.init input.Rank (fun d -> pads[2 * d] + input.Dim d + pads[2 * d + 1])
        let strides = Strided.contiguous dims
        let offset = Seq.sum (seq { for d in 0 .. dims.Length - 1 -> pads[2 * d] * strides[d] })
        struct (dims, offset, strides)

    override op.Shape s =
        if pads.Length <> 2 * s[0].Rank then
            Error $"pad needs 2 pads (before, after) per axis, {2 * s[0].Rank} for {s[0]}, got {dimsText pads}"
        else
            let struct (dims, _, _) = op.Layout s[0]
            Ok(Shape.Of dims)
    override _.ElementType t =
        match kept t with
        | ElementType.Int64 when Math.Round value <> value ->
            Error $"pad value {value} is not an integer, so it cannot pad an int64 tensor"
        | ElementType.Bool when value <> 0.0 && value <> 1.0 ->
            Error $"pad value {value} is not 0 or 1, so it cannot pad a bool tensor"
        | x -> Ok x
    override op.Forward(args, out) =
        let struct (_, offset, strides) = op.Layout args[0].Shape
        let inDims = args[0].Shape.Dims |> Array.ofSeq
        Array.Fill(out.Data, value)
        Strided.copy inDims args[0].Data 0 (Strided.contiguous inDims) out.Data offset strides
    override op.Vjp(_, _, adjoint, _, dest) =
        let struct (_, offset, strides) = op.Layout dest.Shape
        let inDims = dest.Shape.Dims |> Array.ofSeq
        Strided.copy inDims adjoint.Data offset strides dest.Data 0 (Strided.contiguous inDims)
    override _.VjpReadsArgs = false

/// pad by `pads` (each ≥ 0) with `value`.
let pad (pads: int[]) (value: double) =
    if pads |> Array.exists (fun p -> p < 0) then raise (ArgumentException $"pad needs pads of 0 or more, got {dimsText pads}")
    Pad(pads, value) :> Op

let private shapeAttr = Spec.ints "shape" "the output dimensions"

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "reshape"; Arity = "1"; MinArity = 1
        Attributes = [ Spec.ints "shape" "the output dimensions; one may be -1, inferred from the element count" ]
        Summary = "the same elements in row-major order under another shape"
        ShapeRule = "x: (…) → shape, same element count"
        Make = fun a -> reshape (a.Ints "shape").Value }
      { Name = "flatten"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.intOr "start_dim" 0 "the first dimension merged (negative: from the end)"
            Spec.intOr "end_dim" -1 "the last dimension merged (negative: from the end)" ]
        Summary = "dimensions start_dim … end_dim merged into one (torch.flatten)"
        ShapeRule = "x: (a, b…c, d) → (a, b·…·c, d); a scalar → (1)"
        Make = fun a -> flatten (a.Int "start_dim") (a.Int "end_dim") }
      { Name = "squeeze"; Arity = "1"; MinArity = 1
        Attributes = [ Spec.intsOptional "axes" "the dimensions removed, each of size 1 (default: every dimension of size 1)" ]
        Summary = "dimensions of size 1 removed"
        ShapeRule = "x: (2, 1, 3) → (2, 3)"
        Make = fun a -> squeeze (a.Ints "axes") }
      { Name = "unsqueeze"; Arity = "1"; MinArity = 1
        Attributes = [ Spec.ints "axes" "the positions in the output of the new dimensions of size 1 (numpy.expand_dims)" ]
        Summary = "dimensions of size 1 inserted"
        ShapeRule = "x: (2, 3), axes [0, -1] → (1, 2, 3, 1)"
        Make = fun a -> unsqueeze (a.Ints "axes").Value }
      { Name = "permute"; Arity = "1"; MinArity = 1
        Attributes = [ Spec.ints "axes" "output axis d is input axis axes[d]: a permutation of the axes" ]
        Summary = "the axes reordered (torch.permute)"
        ShapeRule = "x: (d_0, …, d_{r-1}) → (d_axes[0], …, d_axes[r-1])"
        Make = fun a -> permute (a.Ints "axes").Value }
      { Name = "transpose"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.intOr "dim0" -2 "one axis swapped (negative: from the end)"
            Spec.intOr "dim1" -1 "the other axis swapped (negative: from the end)" ]
        Summary = "two axes swapped (torch.transpose); by default the last two, Xᵀ of a matrix"
        ShapeRule = "X: (m, n) → (n, m); x: (…, a, …, b, …) → (…, b, …, a, …)"
        Make =
          fun a ->
              if a.Given.Count = 0 then transpose else transposeOf (a.Int "dim0") (a.Int "dim1") }
      { Name = "broadcast_to"; Arity = "1"; MinArity = 1
        Attributes = [ shapeAttr ]
        Summary = "x repeated along dimensions of size 1 or absent (numpy.broadcast_to)"
        ShapeRule = "x: (3, 1) → shape (2, 3, 4)"
        Make = fun a -> broadcastTo (a.Ints "shape").Value }
      { Name = "slice"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.ints "starts" "the first index along each sliced axis (negative: from the end; clamped)"
            Spec.ints "stops" "the index past the last along each sliced axis (negative: from the end; clamped)"
            Spec.intsOptional "axes" "the sliced axes (default: 0, 1, … as many as starts)"
            Spec.intsOptional "steps" "the step along each sliced axis, not 0; negative walks backwards (default: 1s)" ]
        Summary = "x[start:stop:step] along some axes, Python's slicing"
        ShapeRule = "x: (n, …) → (len(range(start, stop, step)) clamped, …)"
        Make = fun a -> slice (a.Ints "starts").Value (a.Ints "stops").Value (a.Ints "axes") (a.Ints "steps") }
      { Name = "concat"; Arity = "at least 1"; MinArity = 1
        Attributes = [ Spec.intOr "axis" 0 "the axis joined along (negative: from the end)" ]
        Summary = "the arguments joined along an axis (mixed element types give float64)"
        ShapeRule = "x_j: (…, n_j, …) → (…, Σ n_j, …)"
        Make = fun a -> concat (a.Int "axis") }
      { Name = "split"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.intOr "axis" 0 "the axis cut along (negative: from the end)"
            Spec.ints "sizes" "the pieces' sizes along the axis, summing to its dimension"
            Spec.int "index" "which piece this node is, from 0" ]
        Summary = "one piece of x cut along an axis (one node per piece)"
        ShapeRule = "x: (…, Σ sizes, …) → (…, sizes[index], …)"
        Make = fun a -> split (a.Int "axis") (a.Ints "sizes").Value (a.Int "index") }
      { Name = "pad"; Arity = "1"; MinArity = 1
        Attributes =
          [ Spec.ints "pads" "[before_0, after_0, before_1, after_1, …]: elements added on each side of every axis, from the first (2 per axis)"
            Spec.floatOr "value" 0.0 "the value of the added elements" ]
        Summary = "x surrounded by a constant (numpy.pad, constant mode)"
        ShapeRule = "x: (d_0, …) → (b_0 + d_0 + a_0, …)"
        Make = fun a -> pad (a.Ints "pads").Value (a.Float "value") } ]
