/// Reductions: sum and mean over a list of axes (all of them unless told), the squared norm, and the
/// walk over a list of axes that every reduction (here and in Ops/Axes.fs) shares.
module Adjoint.Ops.Reduce

open System
open System.Numerics.Tensors
open Adjoint
open Adjoint.Kernels

/// "[0, -1]".
let internal axesText (axes: int[]) = "[" + String.Join(", ", axes) + "]"

/// The axes of a reduction as given (None: all of them), refused where they can never work: an empty
/// list (PyTorch reads it as every axis and NumPy as none, so it is ambiguous; leave the attribute out
/// for all) or an axis listed twice.
let internal checkAxes (axes: int[] option) =
    match axes with
    | Some [||] -> raise (ArgumentException "'axes' must list at least one axis (leave it out to reduce over all of them)")
    | Some xs ->
        match xs |> Array.countBy id |> Array.tryFind (fun (_, n) -> n > 1) with
        | Some(a, _) -> raise (ArgumentException $"axis {a} is given twice in axes {axesText xs}")
        | None -> axes
    | None -> axes

/// Which dimensions of `shape` the axes reduce (negative axes count from the end, as in NumPy), or a
/// message naming the axis that is out of range or, once normalised, given twice.
let internal reducedDims (axes: int[] option) (shape: Shape) : Result<bool[], string> =
    let rank = shape.Rank
    match axes with
    | None -> Ok(Array.create rank true)
    | Some xs ->
        let reduced = Array.create rank false
        let mutable error = None
        for a in xs do
            if error.IsNone then
                let d = if a < 0 then a + rank else a
                if d < 0 || d >= rank then
                    error <-
                        Some(
                            if rank = 0 then $"axis {a} is out of range for a scalar input, which has no axes"
                            else $"axis {a} is out of range for an input of shape {shape} (axes run from {-rank} to {rank - 1})"
                        )
                elif reduced[d] then
                    error <- Some $"axis {a} names dimension {d} of {shape} again in axes {axesText xs}"
                else reduced[d] <- true
        match error with
        | Some m -> Error m
        | None -> Ok reduced

/// The shape of a reduction's result: the kept dimensions, or with keepdims every dimension with the
/// reduced ones as 1.
let internal reducedShape (shape: Shape) (reduced: bool[]) (keepdims: bool) =
    if keepdims then Shape.Of(Array.init shape.Rank (fun d -> if reduced[d] then 1 else shape.Dim d))
    else Shape.Of([| for d in 0 .. shape.Rank - 1 do if not reduced[d] then shape.Dim d |])

/// How a reduction walks its input: the dimensions of length > 1, neighbours of one kind (reduced or
/// kept) merged into one, read front to back in rows of the last merged dimension. Walking the input in
/// row-major order meets the elements of each output in row-major order of the reduced axes; that is the
/// order every reduction combines them in.
[<Sealed>]
type internal AxesWalk(shape: Shape, reduced: bool[]) =
    let lengths, kinds =
        let ls = ResizeArray<int>()
        let ks = ResizeArray<bool>()
        for d in 0 .. shape.Rank - 1 do
            let n = shape.Dim d
            if n > 1 then
                if ks.Count > 0 && ks[ks.Count - 1] = reduced[d] then ls[ls.Count - 1] <- ls[ls.Count - 1] * n
                else
                    ls.Add n
                    ks.Add reduced[d]
        if ls.Count = 0 then [| 1 |], [| true |] else ls.ToArray(), ks.ToArray()
    // The output offset's step per merged dimension: 0 for a reduced one.
    let outStrides =
        let s = Array.zeroCreate lengths.Length
        let mutable stride = 1
        for i in lengths.Length - 1 .. -1 .. 0 do
            if not kinds[i] then
                s[i] <- stride
                stride <- stride * lengths[i]
        s
    let outCount = Array.fold2 (fun n l r -> if r then n else n * l) 1 lengths kinds

    /// The input shape the walk was made for.
    member _.Shape = shape
    member _.Lengths = lengths
    member _.OutStrides = outStrides
    /// The length of a row (the last merged dimension).
    member _.Inner = lengths[lengths.Length - 1]
    /// Whether a row is reduced (all its elements go to one output) or kept (element j to output o + j).
    member _.InnerReduced = kinds[kinds.Length - 1]
    member _.Rows = shape.Count / lengths[lengths.Length - 1]
    /// The number of outputs.
    member _.OutCount = outCount
    /// The number of input elements each output reduces, n.
    member _.Count = shape.Count / outCount

/// Calls `row k o` for every row of the walk in input order: k the offset of its first input element,
/// o that of its (first) output.
let inline internal eachRow (w: AxesWalk) ([<InlineIfLambda>] row: int -> int -> unit) =
    let lengths = w.Lengths
    let strides = w.OutStrides
    let index = Array.zeroCreate lengths.Length
    let inner = w.Inner
    let mutable o = 0
    let mutable k = 0
    for _ in 1 .. w.Rows do
        row k o
        k <- k + inner
        let mutable s = lengths.Length - 2
        while s >= 0 do
            index[s] <- index[s] + 1
            o <- o + strides[s]
            if index[s] < lengths[s] then s <- -1
            else
                o <- o - strides[s] * lengths[s]
                index[s] <- 0
                s <- s - 1

/// Calls `element k o` for every input element k in input order, with o its output.
let inline internal eachElement (w: AxesWalk) ([<InlineIfLambda>] element: int -> int -> unit) =
    if w.InnerReduced then
        eachRow w (fun k o ->
            for j in k .. k + w.Inner - 1 do
                element j o)
    else
        eachRow w (fun k o ->
            for j in 0 .. w.Inner - 1 do
                element (k + j) (o + j))

/// out[o] = Σ of the elements of output o, one after another in row-major order from −0.0 (the identity
/// of +, so a one-element sum has the bits of its element): ((x₁ + x₂) + x₃) + ….
let internal sumInOrder (w: AxesWalk) (x: double[]) (out: double[]) =
    Array.Fill(out, -0.0)
    if w.InnerReduced then
        eachRow w (fun k o ->
            let mutable s = out[o]
            for j in k .. k + w.Inner - 1 do
                s <- s + x[j]
            out[o] <- s)
    else
        // Element by element, exactly the scalar out[o + j] + x[k + j].
        eachRow w (fun k o ->
            TensorPrimitives.Add(ReadOnlySpan<double>(out, o, w.Inner), ReadOnlySpan<double>(x, k, w.Inner), Span<double>(out, o, w.Inner)))

/// dest[k] = value[o] / divisor for every input element k of output o (the adjoint of a sum, divided by
/// n for a mean; a divisor of 1 leaves it as it is).
let internal spread (w: AxesWalk) (value: double[]) (divisor: double) (dest: double[]) =
    if w.InnerReduced then
        eachRow w (fun k o -> Array.Fill(dest, value[o] / divisor, k, w.Inner))
    else
        eachRow w (fun k o ->
            for j in 0 .. w.Inner - 1 do
                dest[k + j] <- value[o + j] / divisor)

/// A reduction over `axes` (None: all) of one argument, keeping each reduced axis as a dimension of
/// length 1 with `keepdims`; it finds the walk for its argument's shape (kept from the last call).
[<AbstractClass>]
type internal AxesReduction(name: string, axes: int[] option, keepdims: bool) =
    inherit Op(name, 1, OpKind.Compute)
    // The walk of the last shape seen; replaced whole, so concurrent evaluations read a consistent one.
    [<VolatileField>]
    let mutable last: AxesWalk = Unchecked.defaultof<_>

    member _.Axes = axes
    member _.KeepDims = keepdims

    override _.Shape s =
        reducedDims axes s[0] |> Result.map (fun reduced -> reducedShape s[0] reduced keepdims)

    /// The walk over an argument of this shape (already checked by Shape).
    member _.Walk(shape: Shape) =
        let w = last
        if not (isNull (box w)) && w.Shape = shape then w
        else
            match reducedDims axes shape with
            | Ok reduced ->
                let w = AxesWalk(shape, reduced)
                last <- w
                w
            | Error m -> invalidOp m

/// z = Σ x over the axes; λ_x = λ spread back over them. A sum to one element (every axis longer than 1
/// reduced, as with no axes) adds in Vec.sum's fixed pattern, the bits version 1 gave; any other adds
/// the elements of each output one after another in row-major order (`sumInOrder`).
[<Sealed>]
type internal SumOp(axes, keepdims) =
    inherit AxesReduction("sum", axes, keepdims)
    override _.VjpReadsArgs = false

    override op.Forward(args, out) =
        let x = args[0]
        if out.Count = 1 then out.Data[0] <- Vec.sum x.Data 0 x.Count
        else sumInOrder (op.Walk x.Shape) x.Data out.Data

    override op.Vjp(_, _, adjoint, _, dest) =
        if adjoint.Count = 1 then Array.Fill(dest.Data, adjoint.Data[0])
        else spread (op.Walk dest.Shape) adjoint.Data 1.0 dest.Data

/// z = (1/n) Σ x over the axes, n the number of elements each output reduces (the sum as `sum` adds it,
/// then divided by n); λ_x = λ/n spread back over them.
[<Sealed>]
type internal MeanOp(axes, keepdims) =
    inherit AxesReduction("mean", axes, keepdims)
    override _.VjpReadsArgs = false

    override op.Forward(args, out) =
        let x = args[0]
        if out.Count = 1 then out.Data[0] <- Vec.sum x.Data 0 x.Count / double x.Count
        else
            let w = op.Walk x.Shape
            sumInOrder w x.Data out.Data
            let n = double w.Count
            let z = out.Data
            for o in 0 .. z.Length - 1 do
                z[o] <- z[o] / n

    override op.Vjp(_, _, adjoint, _, dest) =
        if adjoint.Count = 1 then Array.Fill(dest.Data, adjoint.Data[0] / double dest.Count)
        else
            let w = op.Walk dest.Shape
            spread w adjoint.Data (double w.Count) dest.Data

/// Σ over all axes, rank 0: the op `Sum(x)` and graph files without attributes make.
let sum = SumOp(None, false) :> Op

/// The mean over all axes, rank 0.
let mean = MeanOp(None, false) :> Op

/// z = ‖x‖² = Σ_k x_k²; λ_x = 2λ x.
let sqnorm =
    { new Op("sqnorm", 1, OpKind.Compute) with
        override _.Shape s = Ok Shape.Scalar
        override _.Forward(args, out) = out.Data[0] <- Vec.dot args[0].Data args[0].Data
        override _.Vjp(args, _, adjoint, _, dest) = Vec.scale (2.0 * adjoint.Data[0]) args[0].Data dest.Data }

/// The attributes every reduction over axes takes.
let internal axesSpecs =
    [ Spec.intsOptional "axes" "the axes to reduce (negative ones count from the end); all of them when left out"
      Spec.boolOr "keepdims" false "keep each reduced axis as a dimension of length 1" ]

/// "x: (d₀, …, dₖ) → …", the shape rule every reduction over axes follows.
let internal axesRule = "x: any shape → the dimensions not in axes (with keepdims: those in axes as 1); () with no axes"

/// An entry for a reduction over axes with `extra` attributes; `make` gets the checked axes and keepdims.
let internal axesEntry name summary (extra: AttributeSpec list) (make: int[] option -> bool -> Attributes -> Op) =
    { Name = name; Arity = "1"; MinArity = 1; Attributes = axesSpecs @ extra; Summary = summary; ShapeRule = axesRule
      Make = fun a -> make (checkAxes (a.Ints "axes")) (a.Bool "keepdims") a }

/// The sum, mean and squared norm's catalogue entries.
let entries =
    [ axesEntry "sum" "Σ over axes (all of them by default)" [] (fun axes keepdims a ->
          if a.Given.Count = 0 then sum else SumOp(axes, keepdims) :> Op)
      axesEntry "mean" "the mean over axes (all of them by default)" [] (fun axes keepdims a ->
          if a.Given.Count = 0 then mean else MeanOp(axes, keepdims) :> Op)
      Spec.fixedOp sqnorm "‖x‖², the sum of squares" "x: any shape → ()" ]
