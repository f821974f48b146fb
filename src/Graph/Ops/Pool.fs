/// Pooling (NCHW): max_pool2d, avg_pool2d and global_avg_pool.
module Adjoint.Ops.Pool

open System
open Adjoint
open Adjoint.Kernels
open Adjoint.Kernels.Im2col

let private checkInput (name: string) (s: Shape) =
    if s.Rank = 4 then Ok() else Error $"{name} needs an input of rank 4 (N, C, H, W), got {s}"

/// The window over an input of shape (N, C, H, W); the output size is checked by the op's Shape.
let private windowOf (x: Shape) (k: int[]) (s: int[]) (p: int[]) (d: int[]) =
    let h, w = x.Dim 2, x.Dim 3
    { N = x.Dim 0; C = x.Dim 1; H = h; W = w; KH = k[0]; KW = k[1]; SH = s[0]; SW = s[1]; PH = p[0]; PW = p[1]
      DH = d[0]; DW = d[1]; OH = outLength h k[0] s[0] p[0] d[0]; OW = outLength w k[1] s[1] p[1] d[1] }

let private pooledShape (name: string) (x: Shape) (win: Window) =
    if win.OH <= 0 || win.OW <= 0 then
        Error $"{name}: the window ({win.KH}x{win.KW}, dilation {win.DH}x{win.DW}) is larger than the padded input ({win.H + 2 * win.PH}x{win.W + 2 * win.PW}), input {x}"
    else Ok(Shape.Of(win.N, win.C, win.OH, win.OW))

/// The flat index of the first maximal element of window (n·C + c, oh, ow) in row-major window order,
/// padded cells (−∞) never chosen; a NaN is maximal (the first NaN wins), as torch propagates NaN. −1
/// when the window lies wholly in the padding (then z = −∞ and no λ flows).
let inline private argmaxOf (win: Window) (x: double[]) (plane: int) (oh: int) (ow: int) =
    let mutable best = Double.NegativeInfinity
    let mutable at = -1
    for i in 0 .. win.KH - 1 do
        let ih = oh * win.SH - win.PH + i * win.DH
        if ih >= 0 && ih < win.H then
            for j in 0 .. win.KW - 1 do
                let iw = ow * win.SW - win.PW + j * win.DW
                if iw >= 0 && iw < win.W then
                    let k = plane + ih * win.W + iw
                    let v = x[k]
                    if at < 0 || v > best || (Double.IsNaN v && not (Double.IsNaN best)) then
                        best <- v
                        at <- k
    at

/// Calls f q at for each window q of the pooled output in row-major order, with at = argmaxOf of that
/// window: the walk that max_pool2d's forward, its routing of λ and that routing's transpose share.
let inline private eachMaximum (win: Window) (x: double[]) ([<InlineIfLambda>] f: int -> int -> unit) =
    let mutable q = 0
    for plane in 0 .. win.N * win.C - 1 do
        let origin = plane * win.H * win.W
        for oh in 0 .. win.OH - 1 do
            for ow in 0 .. win.OW - 1 do
                f q (argmaxOf win x origin oh ow)
                q <- q + 1

/// z[n, c, oh, ow] = max over the window of x (padded cells −∞), as torch.nn.functional.max_pool2d
/// (ceil_mode false). λ_x[k] = Σ of λ over the windows whose first maximal element (row-major in the
/// window) is k: ties go to the first, so the VJP is one subgradient, summed in window order.
type internal MaxPool(kernel: int[], stride: int[], padding: int[], dilation: int[]) =
    inherit Op("max_pool2d", 1, OpKind.Compute)

    override _.Shape s =
        checkInput "max_pool2d" s[0] |> Result.bind (fun () -> pooledShape "max_pool2d" s[0] (windowOf s[0] kernel stride padding dilation))

    override _.Forward(args, out) =
        let x = args[0].Data
        let win = windowOf args[0].Shape kernel stride padding dilation
        eachMaximum win x (fun q at -> out.Data[q] <- if at < 0 then Double.NegativeInfinity else x[at])

    override op.Vjp(args, _, adjoint, _, dest) = op.Route(args[0], adjoint, dest)

    /// dest (x's shape) = λ (the pooled shape) sent to each window's first maximal element of x, summed
    /// in window order: the VJP, and max_pool2d_grad's forward.
    member _.Route(x: Tensor, adjoint: Tensor, dest: Tensor) =
        let win = windowOf x.Shape kernel stride padding dilation
        Array.Clear dest.Data
        eachMaximum win x.Data (fun q at -> if at >= 0 then dest.Data[at] <- dest.Data[at] + adjoint.Data[q])

    /// dest (the pooled shape) = μ (x's shape) at each window's first maximal element of x (0 for a
    /// window wholly in the padding): Route's transpose, max_pool2d_pick's forward.
    member _.Pick(x: Tensor, mu: Tensor, dest: Tensor) =
        let win = windowOf x.Shape kernel stride padding dilation
        eachMaximum win x.Data (fun q at -> dest.Data[q] <- if at < 0 then 0.0 else mu.Data[at])

/// z[n, c, oh, ow] = (1/m) Σ over the window of x, as torch.nn.functional.avg_pool2d (ceil_mode false):
/// m = kH·kW when padded cells count (count_include_pad, they are zeros), else the number of cells inside
/// the input. λ_x[k] = Σ of λ/m over the windows that hold k, in window order.
type internal AvgPool(kernel: int[], stride: int[], padding: int[], includePad: bool) =
    inherit Op("avg_pool2d", 1, OpKind.Compute)
    let one = [| 1; 1 |]

    /// The window's rows [h0, h1) and columns [w0, w1) inside the input, and its divisor m.
    let span (win: Window) oh ow =
        let top, left = oh * win.SH - win.PH, ow * win.SW - win.PW
        let h0, h1 = max 0 top, min win.H (top + win.KH)
        let w0, w1 = max 0 left, min win.W (left + win.KW)
        let m = if includePad then win.KH * win.KW else (h1 - h0) * (w1 - w0)
        struct (h0, h1, w0, w1, double m)

    override _.Shape s =
        checkInput "avg_pool2d" s[0] |> Result.bind (fun () -> pooledShape "avg_pool2d" s[0] (windowOf s[0] kernel stride padding one))

    override _.Forward(args, out) =
        let x = args[0].Data
        let win = windowOf args[0].Shape kernel stride padding one
        let mutable q = 0
        for plane in 0 .. win.N * win.C - 1 do
            let origin = plane * win.H * win.W
            for oh in 0 .. win.OH - 1 do
                for ow in 0 .. win.OW - 1 do
                    let struct (h0, h1, w0, w1, m) = span win oh ow
                    let mutable total = 0.0
                    for ih in h0 .. h1 - 1 do
                        for iw in w0 .. w1 - 1 do
                            total <- total + x[origin + ih * win.W + iw]
                    out.Data[q] <- total / m
                    q <- q + 1

    override op.Vjp(_, _, adjoint, _, dest) = op.Spread(adjoint, dest)

    /// dest (x's shape) = λ/m spread over each window, in window order: the VJP, and avg_pool2d_grad's
    /// forward (which is given x's shape by its `size` attribute).
    member _.Spread(adjoint: Tensor, dest: Tensor) =
        let win = windowOf dest.Shape kernel stride padding one
        Array.Clear dest.Data
        let mutable q = 0
        for plane in 0 .. win.N * win.C - 1 do
            let origin = plane * win.H * win.W
            for oh in 0 .. win.OH - 1 do
                for ow in 0 .. win.OW - 1 do
                    let struct (h0, h1, w0, w1, m) = span win oh ow
                    let share = adjoint.Data[q] / m
                    for ih in h0 .. h1 - 1 do
                        for iw in w0 .. w1 - 1 do
                            let k = origin + ih * win.W + iw
                            dest.Data[k] <- dest.Data[k] + share
                    q <- q + 1

/// z[n, c, 1, …, 1] = (1/m) Σ of the m spatial elements of x[n, c] (rank ≥ 3), as ONNX
/// GlobalAveragePool; λ_x[n, c, …] = λ[n, c]/m.
let globalAvgPool =
    { new Op("global_avg_pool", 1, OpKind.Compute) with
        override _.Shape s =
            let x = s[0]
            if x.Rank < 3 then Error $"global_avg_pool needs an input of rank 3 or more (N, C, spatial…), got {x}"
            else Ok(Shape.Of(Array.init x.Rank (fun k -> if k < 2 then x.Dim k else 1)))
        override _.Forward(args, out) =
            let m = args[0].Count / max 1 out.Count
            for plane in 0 .. out.Count - 1 do
                out.Data[plane] <- Vec.sum args[0].Data (plane * m) m / double m
        override _.Vjp(_, _, adjoint, _, dest) =
            let m = dest.Count / max 1 adjoint.Count
            for plane in 0 .. adjoint.Count - 1 do
                Array.Fill(dest.Data, adjoint.Data[plane] / double m, plane * m, m)
        override _.VjpReadsArgs = false }

/// max_pool2d_grad(x, λ): max_pool2d's VJP as an op of its own, λ sent to each window's first maximal
/// element of x (linear in λ, piecewise constant in x), so that the adjoint graph can hold it. Its VJP:
/// x gets 0, λ gets max_pool2d_pick(x, μ), the transpose.
[<Sealed>]
type internal MaxPoolGrad(pool: MaxPool) =
    inherit Op("max_pool2d_grad", 2, OpKind.Compute)
    override _.Shape s =
        pool.Shape [| s[0] |] |> Result.bind (fun pooled ->
            if s[1] = pooled then Ok s[0]
            else Error $"max_pool2d_grad needs λ of the pooled shape {pooled} for x {s[0]}, got {s[1]}")
    override _.Forward(args, out) = pool.Route(args[0], args[1], out)
    override _.Vjp(args, _, adjoint, slot, dest) =
        if slot = 0 then Array.Clear dest.Data else pool.Pick(args[0], adjoint, dest)

/// max_pool2d_pick(x, μ): μ (x's shape) at each window's first maximal element of x, of the pooled
/// shape; max_pool2d_grad's transpose. Its VJP: x gets 0, μ gets max_pool2d_grad(x, λ).
[<Sealed>]
type internal MaxPoolPick(pool: MaxPool) =
    inherit Op("max_pool2d_pick", 2, OpKind.Compute)
    override _.Shape s =
        if s[1] <> s[0] then Error $"max_pool2d_pick needs μ of x's shape {s[0]}, got {s[1]}"
        else pool.Shape [| s[0] |]
    override _.Forward(args, out) = pool.Pick(args[0], args[1], out)
    override _.Vjp(args, _, adjoint, slot, dest) =
        if slot = 0 then Array.Clear dest.Data else pool.Route(args[0], adjoint, dest)

/// avg_pool2d_grad(λ): avg_pool2d's VJP as an op, λ/m spread over each window into an input of spatial
/// size `size` (H, W); linear, its VJP is avg_pool2d itself.
[<Sealed>]
type internal AvgPoolGrad(pool: AvgPool, size: int[]) =
    inherit Op("avg_pool2d_grad", 1, OpKind.Compute)
    override _.VjpReadsArgs = false
    override _.Shape s =
        let l = s[0]
        if l.Rank <> 4 then Error $"avg_pool2d_grad needs λ of rank 4 (N, C, OH, OW), got {l}"
        else
            let x = Shape.Of(l.Dim 0, l.Dim 1, size[0], size[1])
            pool.Shape [| x |] |> Result.bind (fun pooled ->
                if pooled = l then Ok x
                else Error $"avg_pool2d_grad: an input of size {size[0]}x{size[1]} pools to {pooled}, not λ's {l}")
    override _.Forward(args, out) = pool.Spread(args[0], out)
    override _.Vjp(_, _, adjoint, _, dest) = pool.Forward([| adjoint |], dest)

/// One or two positive values (an int for both axes, or (h, w)) as (h, w).
let private pair (attribute: string) (least: int) (values: int[]) =
    if values.Length < 1 || values.Length > 2 then
        raise (ArgumentException $"{attribute} takes one or two values, got {values.Length}")
    match values |> Array.tryFind (fun v -> v < least) with
    | Some v -> raise (ArgumentException $"{attribute} must be at least {least}, got {v}")
    | None -> if values.Length = 1 then [| values[0]; values[0] |] else Array.copy values

/// Kernel, stride (default: the kernel) and padding, checked as torch does: padding at most half the
/// (dilated) window, so that no window lies mostly in the padding.
let private windowAttributes (a: Attributes) (dilation: int[]) =
    let kernel = pair "kernel" 1 (a.Ints "kernel").Value
    let stride = match a.Ints "stride" with
                 | Some s -> pair "stride" 1 s
                 | None -> kernel
    let padding = pair "padding" 0 (a.Ints "padding").Value
    for k in 0 .. 1 do
        let extent = dilation[k] * (kernel[k] - 1) + 1
        if padding[k] > extent / 2 then
            raise (ArgumentException $"padding must be at most half the window ({extent}), got {padding[k]}")
    kernel, stride, padding

let private windowSpecs =
    [ Spec.ints "kernel" "the window size, one value for both axes or (h, w)"
      Spec.intsOptional "stride" "the step between windows, one value or (h, w); the kernel size when left out"
      Spec.intsOr "padding" [| 0 |] "cells added on both sides, one value or (h, w); at most half the window" ]

let private maxPoolSpecs = windowSpecs @ [ Spec.intsOr "dilation" [| 1 |] "the spacing of window elements, one value or (h, w)" ]
let private avgPoolSpecs =
    windowSpecs @ [ Spec.boolOr "count_include_pad" true "whether padded zeros count in the divisor (kH·kW), else only cells inside the input" ]

let private makeMaxPool (a: Attributes) =
    let dilation = pair "dilation" 1 (a.Ints "dilation").Value
    let kernel, stride, padding = windowAttributes a dilation
    MaxPool(kernel, stride, padding, dilation)

let private makeAvgPool (a: Attributes) =
    let kernel, stride, padding = windowAttributes a [| 1; 1 |]
    AvgPool(kernel, stride, padding, a.Bool "count_include_pad")

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "max_pool2d"; Arity = "1"; MinArity = 1
        Attributes = maxPoolSpecs
        Summary = "maximum over each window (padding −∞), as torch.nn.functional.max_pool2d; λ to the first maximal element"
        ShapeRule = "x: (N, C, H, W) → (N, C, OH, OW), OH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1"
        Make = fun a -> makeMaxPool a :> Op }
      { Name = "avg_pool2d"; Arity = "1"; MinArity = 1
        Attributes = avgPoolSpecs
        Summary = "mean over each window, as torch.nn.functional.avg_pool2d"
        ShapeRule = "x: (N, C, H, W) → (N, C, OH, OW), OH = ⌊(H + 2p − k)/s⌋ + 1"
        Make = fun a -> makeAvgPool a :> Op }
      { Name = "max_pool2d_grad"; Arity = "2"; MinArity = 2; Attributes = maxPoolSpecs
        Summary = "max_pool2d's VJP: λ to each window's first maximal element of x (max_pool2d's attributes)"
        ShapeRule = "x: (N, C, H, W), λ: max_pool2d's shape of x → x's shape"
        Make = fun a -> MaxPoolGrad(makeMaxPool a) }
      { Name = "max_pool2d_pick"; Arity = "2"; MinArity = 2; Attributes = maxPoolSpecs
        Summary = "max_pool2d_grad's transpose: μ at each window's first maximal element of x"
        ShapeRule = "x, μ: (N, C, H, W) → max_pool2d's shape of x"
        Make = fun a -> MaxPoolPick(makeMaxPool a) }
      { Name = "avg_pool2d_grad"; Arity = "1"; MinArity = 1
        Attributes = avgPoolSpecs @ [ Spec.ints "size" "the input's spatial size (H, W)" ]
        Summary = "avg_pool2d's VJP: λ/m spread over each window of an input of spatial size `size`"
        ShapeRule = "λ: (N, C, OH, OW) → (N, C, H, W), (H, W) = size"
        Make =
          fun a ->
              let size = (a.Ints "size").Value
              if size.Length <> 2 || Array.exists (fun v -> v < 1) size then
                  raise (ArgumentException $"size takes two positive values (H, W), got {OpAttribute.Ints size}")
              AvgPoolGrad(makeAvgPool a, Array.copy size) }
      Spec.fixedOp globalAvgPool "mean over all spatial positions of each channel, as ONNX GlobalAveragePool"
          "x: (N, C, …) → (N, C, 1, …, 1)" ]
