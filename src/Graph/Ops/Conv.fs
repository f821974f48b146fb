/// Convolutions (NCHW): conv1d and conv2d with stride, padding, dilation and groups, by im2col and GEMM.
module Adjoint.Ops.Conv

open System
open Adjoint
open Adjoint.Kernels
open Adjoint.Kernels.Im2col

// Scratch purposes (Im2col.scratch): one matrix per role, so that those of one call never alias.
[<Literal>]
let private Cols = 0
[<Literal>]
let private Product = 1
[<Literal>]
let private GroupWeight = 2

/// A convolution over `spatial` (1 or 2) trailing axes, as torch.nn.functional.conv1d/conv2d:
/// z[n, f, oh, ow] = b[f] + Σ_{c, i, j} w[f, c, i, j] · x[n, g·C/G + c, oh·s_h − p_h + i·d_h, ow·s_w − p_w + j·d_w]
/// with g = ⌊f/(F/G)⌋ the filter's group, c over the group's C/G channels and x zero outside the input.
/// Per group it is one GEMM over the whole batch, Z_g = W_g · cols_g, where cols_g = im2col(x) is
/// (C/G·kH·kW) × (N·OH·OW). VJPs: Λ_cols = W_gᵀ Λ_g scattered back by col2im (added in one fixed
/// order); Λ_W_g = Λ_g cols_gᵀ (the batch summed inside the GEMM's inner dimension); λ_b[f] = Σ_{n, p} λ[n, f, p].
type internal Convolution(name: string, spatial: int, stride: int[], padding: int[], dilation: int[], groups: int) =
    inherit Op(name, 2, OpKind.Compute)

    // Per axis (h, w); a 1-d convolution is a 2-d one of height 1.
    let axis (values: int[]) k = if spatial = 1 then (if k = 0 then 1 else values[0]) else values[min k (values.Length - 1)]
    let sh, sw = axis stride 0, axis stride 1
    let ph, pw = (if spatial = 1 then 0 else axis padding 0), axis padding 1
    let dh, dw = axis dilation 0, axis dilation 1
    let layout = if spatial = 2 then "(N, C, H, W)" else "(N, C, L)"
    let weightLayout = if spatial = 2 then "(F, C/groups, kH, kW)" else "(F, C/groups, k)"

    let window (x: Shape) (w: Shape) =
        let h, kh = (if spatial = 2 then x.Dim 2, w.Dim 2 else 1, 1)
        let wd, kw = x.Dim(spatial + 1), w.Dim(spatial + 1)
        { N = x.Dim 0; C = x.Dim 1; H = h; W = wd; KH = kh; KW = kw; SH = sh; SW = sw; PH = ph; PW = pw
          DH = dh; DW = dw; OH = outLength h kh sh ph dh; OW = outLength wd kw sw pw dw }

    let filters (w: Shape) = w.Dim 0

    /// The group's filters W_g as an (F/G) × (C/G·kH·kW) matrix: the weight itself when G = 1.
    let groupWeight (w: Tensor) (g: int) (fg: int) (k: int) =
        if groups = 1 then Tensor(fg, k, w.Data)
        else
            let t = scratch GroupWeight fg k
            Array.Copy(w.Data, g * fg * k, t.Data, 0, fg * k)
            t

    /// The group's adjoint Λ_g as an (F/G) × (N·OH·OW) matrix, gathered from λ (N, F, OH, OW).
    let gatherAdjoint (win: Window) (adjoint: Tensor) (g: int) (fg: int) =
        let p = win.OH * win.OW
        let f = fg * groups
        if win.N = 1 && groups = 1 then Tensor(fg, p, adjoint.Data)
        else
            let t = scratch Product fg (win.N * p)
            for n in 0 .. win.N - 1 do
                for r in 0 .. fg - 1 do
                    Array.Copy(adjoint.Data, (n * f + g * fg + r) * p, t.Data, r * win.N * p + n * p, p)
            t

    member _.Spatial = spatial
    member _.Groups = groups

    override _.AcceptsArity count = count = 2 || count = 3
    override _.ArityText = "2 or 3"

    override _.Shape s =
        let x, w = s[0], s[1]
        let rank = spatial + 2
        if x.Rank <> rank then Error $"{name} needs an input of rank {rank} {layout}, got {x}"
        elif w.Rank <> rank then Error $"{name} needs a weight of rank {rank} {weightLayout}, got {w}"
        elif x.Dim 1 % groups <> 0 then Error $"{name} needs the input's channels C = {x.Dim 1} divisible by groups = {groups}"
        elif w.Dim 0 % groups <> 0 then Error $"{name} needs the filters F = {w.Dim 0} divisible by groups = {groups}"
        elif w.Dim 1 <> x.Dim 1 / groups then
            Error $"{name} needs the weight's second dimension to be C/groups = {x.Dim 1 / groups} (input {x}, groups {groups}), got weight {w}"
        elif s.Length = 3 && (s[2].Rank <> 1 || s[2].Dim 0 <> w.Dim 0) then
            Error $"{name} needs a bias of shape ({w.Dim 0}) for {w.Dim 0} filters, got {s[2]}"
        elif (Array.contains 0 (Array.ofSeq w.Dims)) then Error $"{name} needs a kernel of at least one element, got weight {w}"
        else
            let win = window x w
            let tooLarge (axisName: string) size k p d =
                Error $"{name}: the kernel along {axisName} (dilated extent {d * (k - 1) + 1}) is larger than the padded input ({size} + 2·{p} = {size + 2 * p}), input {x}, weight {w}"
            if win.OH <= 0 then tooLarge "H" win.H win.KH ph dh
            elif win.OW <= 0 then tooLarge (if spatial = 2 then "W" else "L") win.W win.KW pw dw
            elif spatial = 2 then Ok(Shape.Of(win.N, w.Dim 0, win.OH, win.OW))
            else Ok(Shape.Of(win.N, w.Dim 0, win.OW))

    override _.Forward(args, out) =
        let x, w = args[0], args[1]
        let win = window x.Shape w.Shape
        let f = filters w.Shape
        let fg, cg = f / groups, win.C / groups
        let k = cg * win.KH * win.KW
        let p = win.OH * win.OW
        let width = win.N * p
        let cols = scratch Cols k width
        for g in 0 .. groups - 1 do
            im2col win x.Data (g * cg) cg cols.Data
            let wg = groupWeight w g fg k
            if win.N = 1 && groups = 1 then Gemm.gemm false false wg cols 0.0 (Tensor(f, p, out.Data))
            else
                let z = scratch Product fg width
                Gemm.gemm false false wg cols 0.0 z
                for n in 0 .. win.N - 1 do
                    for r in 0 .. fg - 1 do
                        Array.Copy(z.Data, r * width + n * p, out.Data, (n * f + g * fg + r) * p, p)
        if args.Length = 3 then
            let b = args[2].Data
            for n in 0 .. win.N - 1 do
                for r in 0 .. f - 1 do
                    let start = (n * f + r) * p
                    for q in start .. start + p - 1 do
                        out.Data[q] <- out.Data[q] + b[r]

    /// dest (x's shape) = Λ_x = col2im(W_gᵀ Λ_g) per group: the VJP for x, conv2d_input_grad's forward.
    member _.InputGrad(w: Tensor, adjoint: Tensor, dest: Tensor) =
        let win = window dest.Shape w.Shape
        let f = filters w.Shape
        let fg, cg = f / groups, win.C / groups
        let k = cg * win.KH * win.KW
        let width = win.N * win.OH * win.OW
        Array.Clear dest.Data
        let cols = scratch Cols k width
        for g in 0 .. groups - 1 do
            let lambda = gatherAdjoint win adjoint g fg
            Gemm.gemm true false (groupWeight w g fg k) lambda 0.0 cols
            col2im win cols.Data (g * cg) cg dest.Data

    /// dest (w's shape) = Λ_W_g = Λ_g im2col(x)ᵀ per group: the VJP for w, conv2d_weight_grad's forward.
    member _.WeightGrad(x: Tensor, adjoint: Tensor, dest: Tensor) =
        let win = window x.Shape dest.Shape
        let f = filters dest.Shape
        let fg, cg = f / groups, win.C / groups
        let k = cg * win.KH * win.KW
        let width = win.N * win.OH * win.OW
        let cols = scratch Cols k width
        for g in 0 .. groups - 1 do
            im2col win x.Data (g * cg) cg cols.Data
            let lambda = gatherAdjoint win adjoint g fg
            if groups = 1 then Gemm.gemm false true lambda cols 0.0 (Tensor(f, k, dest.Data))
            else
                let dwg = scratch GroupWeight fg k
                Gemm.gemm false true lambda cols 0.0 dwg
                Array.Copy(dwg.Data, 0, dest.Data, g * fg * k, fg * k)

    override op.Vjp(args, _, adjoint, slot, dest) =
        let x, w = args[0], args[1]
        let win = window x.Shape w.Shape
        let f = filters w.Shape
        let p = win.OH * win.OW
        match slot with
        | 0 -> op.InputGrad(w, adjoint, dest)
        | 1 -> op.WeightGrad(x, adjoint, dest)
        | _ ->
            for r in 0 .. f - 1 do
                let mutable total = 0.0
                for n in 0 .. win.N - 1 do
                    let start = (n * f + r) * p
                    for q in start .. start + p - 1 do
                        total <- total + adjoint.Data[q]
                dest.Data[r] <- total

/// conv2d_input_grad(w, λ): conv2d's VJP for x as an op of its own (a transposed convolution into an
/// input of spatial size `size`), bilinear in w and λ. Its VJP: w gets conv2d_weight_grad(μ, λ), λ
/// gets conv2d(μ, w), since ⟨μ, IG(w, λ)⟩ = ⟨λ, conv(μ, w)⟩.
[<Sealed>]
type internal ConvInputGrad(conv: Convolution, size: int[]) =
    inherit Op("conv2d_input_grad", 2, OpKind.Compute)
    let inputOf (w: Shape) (l: Shape) = Shape.Of(l.Dim 0, w.Dim 1 * conv.Groups, size[0], size[1])
    override _.Shape s =
        let w, l = s[0], s[1]
        if w.Rank <> 4 || l.Rank <> 4 then Error $"conv2d_input_grad needs a weight and λ of rank 4, got {w} and {l}"
        else
            let x = inputOf w l
            conv.Shape [| x; w |] |> Result.bind (fun y ->
                if y = l then Ok x else Error $"conv2d_input_grad: an input {x} convolved with weight {w} gives {y}, not λ's {l}")
    override _.Forward(args, out) = conv.InputGrad(args[0], args[1], out)
    override _.Vjp(args, _, adjoint, slot, dest) =
        if slot = 0 then conv.WeightGrad(adjoint, args[1], dest) else conv.Forward([| adjoint; args[0] |], dest)

/// conv2d_weight_grad(x, λ): conv2d's VJP for w as an op (a weight of kernel size `kernel`), bilinear
/// in x and λ. Its VJP: x gets conv2d_input_grad(ν, λ), λ gets conv2d(x, ν).
[<Sealed>]
type internal ConvWeightGrad(conv: Convolution, kernel: int[]) =
    inherit Op("conv2d_weight_grad", 2, OpKind.Compute)
    let weightOf (x: Shape) (l: Shape) = Shape.Of(l.Dim 1, x.Dim 1 / conv.Groups, kernel[0], kernel[1])
    override _.Shape s =
        let x, l = s[0], s[1]
        if x.Rank <> 4 || l.Rank <> 4 then Error $"conv2d_weight_grad needs an input and λ of rank 4, got {x} and {l}"
        else
            let w = weightOf x l
            conv.Shape [| x; w |] |> Result.bind (fun y ->
                if y = l then Ok w else Error $"conv2d_weight_grad: input {x} convolved with a weight {w} gives {y}, not λ's {l}")
    override _.Forward(args, out) = conv.WeightGrad(args[0], args[1], out)
    override _.Vjp(args, _, adjoint, slot, dest) =
        if slot = 0 then conv.InputGrad(adjoint, args[1], dest) else conv.Forward([| args[0]; adjoint |], dest)

let private spatialInts (attribute: string) (most: int) (least: int) (a: Attributes) =
    let values = (a.Ints attribute).Value
    if values.Length < 1 || values.Length > most then
        let counts = if most = 1 then "one value" else "one or two values"
        raise (ArgumentException $"{attribute} takes {counts}, got {values.Length}")
    match values |> Array.tryFind (fun v -> v < least) with
    | Some v -> raise (ArgumentException $"{attribute} must be at least {least}, got {v}")
    | None -> values

let private makeConv (name: string) (spatial: int) (a: Attributes) =
    let groups = a.Int "groups"
    if groups < 1 then raise (ArgumentException $"groups must be at least 1, got {groups}")
    Convolution(name, spatial, spatialInts "stride" spatial 1 a, spatialInts "padding" spatial 0 a,
                spatialInts "dilation" spatial 1 a, groups)

let private make (name: string) (spatial: int) (a: Attributes) : Op = makeConv name spatial a :> Op

/// Two positive values (h, w) of a grad op's size attribute.
let private sizeOf (attribute: string) (a: Attributes) =
    let v = (a.Ints attribute).Value
    if v.Length <> 2 || Array.exists (fun x -> x < 1) v then
        raise (ArgumentException $"{attribute} takes two positive values (h, w), got {OpAttribute.Ints v}")
    Array.copy v

let private attributes (perAxis: string) =
    [ Spec.intsOr "stride" [| 1 |] $"the step between windows, {perAxis}"
      Spec.intsOr "padding" [| 0 |] $"zeros added on both sides, {perAxis}"
      Spec.intsOr "dilation" [| 1 |] $"the spacing of kernel elements, {perAxis}"
      Spec.intOr "groups" 1 "channel groups: input channels and filters split into this many, each group convolved on its own" ]

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "conv2d"; Arity = "2 or 3"; MinArity = 2; Attributes = attributes "one value for both axes or (h, w)"
        Summary = "2-d convolution (cross-correlation) with optional bias, as torch.nn.functional.conv2d"
        ShapeRule = "x: (N, C, H, W), w: (F, C/groups, kH, kW)[, b: (F)] → (N, F, OH, OW), OH = ⌊(H + 2p − d(kH − 1) − 1)/s⌋ + 1"
        Make = make "conv2d" 2 }
      { Name = "conv2d_input_grad"; Arity = "2"; MinArity = 2
        Attributes = attributes "one value for both axes or (h, w)" @ [ Spec.ints "size" "the input's spatial size (H, W)" ]
        Summary = "conv2d's VJP for x (a transposed convolution), with conv2d's attributes"
        ShapeRule = "w: (F, C/groups, kH, kW), λ: (N, F, OH, OW) → (N, C, H, W), (H, W) = size"
        Make = fun a -> ConvInputGrad(makeConv "conv2d" 2 a, sizeOf "size" a) }
      { Name = "conv2d_weight_grad"; Arity = "2"; MinArity = 2
        Attributes = attributes "one value for both axes or (h, w)" @ [ Spec.ints "kernel" "the weight's kernel size (kH, kW)" ]
        Summary = "conv2d's VJP for w, with conv2d's attributes"
        ShapeRule = "x: (N, C, H, W), λ: (N, F, OH, OW) → (F, C/groups, kH, kW), (kH, kW) = kernel"
        Make = fun a -> ConvWeightGrad(makeConv "conv2d" 2 a, sizeOf "kernel" a) }
      { Name = "conv1d"; Arity = "2 or 3"; MinArity = 2; Attributes = attributes "one value"
        Summary = "1-d convolution (cross-correlation) with optional bias, as torch.nn.functional.conv1d"
        ShapeRule = "x: (N, C, L), w: (F, C/groups, k)[, b: (F)] → (N, F, OL), OL = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1"
        Make = make "conv1d" 1 } ]
