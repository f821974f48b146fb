/// Neural-network ops: softmax and log_softmax along an axis, cross_entropy, mse, dropout.
module Adjoint.Ops.Nn

open System
open Adjoint
open Adjoint.Ops.Linear

/// The axis normalised for a shape (negative counts from the end; a scalar has the one axis of length
/// 1), or a message.
let private axisOf (op: string) (axis: int) (s: Shape) =
    let r = max 1 s.Rank
    if axis < -r || axis >= r then Error $"{op} needs an axis in [{-r}, {r - 1}] for a tensor of shape {s}, got {axis}"
    else Ok(if axis < 0 then axis + r else axis)

/// (outer, k, inner): the tensor as outer × k × inner with the axis in the middle.
let private split (s: Shape) (axis: int) =
    if s.Rank = 0 then struct (1, 1, 1)
    else
        let mutable outer = 1
        let mutable inner = 1
        for d in 0 .. axis - 1 do
            outer <- outer * s.Dim d
        for d in axis + 1 .. s.Rank - 1 do
            inner <- inner * s.Dim d
        struct (outer, s.Dim axis, inner)

let inline private lanes (s: Shape) (axis: int) ([<InlineIfLambda>] body: int -> int -> int -> unit) =
    let struct (outer, k, inner) = split s axis
    for o in 0 .. outer - 1 do
        for i in 0 .. inner - 1 do
            body (o * k * inner + i) inner k

let private axisShape op axis (s: Shape[]) = axisOf op axis s[0] |> Result.map (fun _ -> s[0])

/// y = softmax(x) along the axis: exp(x_c − m)/Σ_c′ exp(x_c′ − m), m the lane's maximum;
/// λ_x = y ⊙ (λ − Σ_c λ_c y_c) per lane.
let softmax (axis: int) =
    { new Op("softmax", 1, OpKind.Compute) with
        override _.Shape s = axisShape "softmax" axis s
        override _.Forward(args, out) =
            let x, y = args[0].Data, out.Data
            let a = Result.defaultValue 0 (axisOf "softmax" axis args[0].Shape)
            lanes args[0].Shape a (fun start stride k ->
                let mutable peak = Double.NegativeInfinity
                for c in 0 .. k - 1 do
                    peak <- (if c = 0 then x[start] else max peak x[start + c * stride])
                let mutable total = 0.0
                for c in 0 .. k - 1 do
                    let e = Math.Exp(x[start + c * stride] - peak)
                    y[start + c * stride] <- e
                    total <- total + e
                for c in 0 .. k - 1 do
                    y[start + c * stride] <- y[start + c * stride] / total)
        override _.Vjp(_, out, adjoint, _, dest) =
            let y, l, d = out.Data, adjoint.Data, dest.Data
            let a = Result.defaultValue 0 (axisOf "softmax" axis out.Shape)
            lanes out.Shape a (fun start stride k ->
                let mutable dot = 0.0
                for c in 0 .. k - 1 do
                    dot <- dot + l[start + c * stride] * y[start + c * stride]
                for c in 0 .. k - 1 do
                    let i = start + c * stride
                    d[i] <- y[i] * (l[i] - dot))
        override _.VjpReadsArgs = false
        override _.VjpReadsOutput = true }

/// y = log softmax(x) along the axis: (x_c − m) − ln Σ_c′ exp(x_c′ − m), m the lane's maximum (as
/// `Loss.logSoftmaxLane`); λ_x = λ − exp(y) Σ_c λ_c per lane.
let logSoftmax (axis: int) =
    { new Op("log_softmax", 1, OpKind.Compute) with
        override _.Shape s = axisShape "log_softmax" axis s
        override _.Forward(args, out) =
            let a = Result.defaultValue 0 (axisOf "log_softmax" axis args[0].Shape)
            lanes args[0].Shape a (fun start stride k -> Loss.logSoftmaxLane args[0].Data out.Data start stride k)
        override _.Vjp(_, out, adjoint, _, dest) =
            let y, l, d = out.Data, adjoint.Data, dest.Data
            let a = Result.defaultValue 0 (axisOf "log_softmax" axis out.Shape)
            lanes out.Shape a (fun start stride k ->
                let mutable total = 0.0
                for c in 0 .. k - 1 do
                    total <- total + l[start + c * stride]
                for c in 0 .. k - 1 do
                    let i = start + c * stride
                    d[i] <- l[i] - Math.Exp y[i] * total)
        override _.VjpReadsArgs = false
        override _.VjpReadsOutput = true }

/// How a loss reduces its per-position terms: "mean", "sum" or "none" (kept per position).
let private reductions = [ "mean"; "sum"; "none" ]

/// The class axis of cross_entropy's input, as PyTorch has it: 1 for (N, C, d1, …), 0 for (C).
let private classAxis (s: Shape) = if s.Rank >= 2 then 1 else 0

/// The input's shape without the class axis: the shape of the labels and of the "none" result.
let private positionsShape (s: Shape) =
    let dims = Array.ofSeq s.Dims
    let c = classAxis s
    Shape.Of(Array.append dims[.. c - 1] dims[c + 1 ..])

/// "[3]", "[1, 2]": a position for a message.
let private positionText (s: Shape) (p: int) = "[" + String.Join(", ", s.Unravel p) + "]"

/// cross_entropy as torch.nn.functional.cross_entropy (no class weights). Logits Z of shape (N, C, d…)
/// or (C), classes on axis 1 (0 for a vector); log P = log softmax(Z) over the class axis, stable as
/// `Loss.logSoftmaxLane`. The target is class labels of the input's shape without the class axis
/// (int64; a label equal to ignoreIndex adds nothing and is not counted) or probabilities of the
/// input's shape. With ε the label smoothing, the term of a position is −Σ_c q_c log P_c with
/// q = (1 − ε)·onehot(label) + ε/C, or (1 − ε)·t + ε/C for probabilities. "mean" divides the sum by the
/// number of positions counted, "sum" sums, "none" keeps them (ignored positions 0).
/// λ_Z = w (P Σ_c q_c − q) with w the position's share of λ; λ_t = −w (1 − ε) log P; labels get 0.
let crossEntropy (reduction: string) (smoothing: double) (ignoreIndex: int) =
    let perPosition = reduction = "none"
    let isLabels (s: Shape[]) = s[1] <> s[0]
    /// The positions (outer, inner layout), the class count, and log P.
    let logProbabilities (z: Tensor) =
        let struct (outer, k, inner) = split z.Shape (classAxis z.Shape)
        let logP = Array.zeroCreate z.Count
        lanes z.Shape (classAxis z.Shape) (fun start stride k -> Loss.logSoftmaxLane z.Data logP start stride k)
        struct (outer, k, inner, logP)
    /// The label of position p, checked.
    let label (t: Tensor) (k: int) (p: int) =
        let y = t.Data[p]
        if y = double ignoreIndex then -1
        elif y >= 0.0 && y < double k && Math.Round y = y then int y
        else raise (OpFailure $"cross_entropy: label {y} at {positionText t.Shape p} is out of range for {k} classes")
    /// The weight w_p of each position for λ (or the divisor for the forward: 1/count for "mean").
    let divisor (t: Tensor) (labels: bool) (k: int) (positions: int) =
        if reduction <> "mean" then 1.0
        elif not labels then double positions
        else
            let mutable counted = 0
            for p in 0 .. positions - 1 do
                if label t k p >= 0 then counted <- counted + 1
            double counted
    { new Op("cross_entropy", 2, OpKind.Compute) with
        override _.Shape s =
            let z, t = s[0], s[1]
            if z.Rank = 0 then Error $"cross_entropy needs logits of rank ≥ 1 (N, C, …) or (C), got {z}"
            elif t <> z && t <> positionsShape z then
                Error $"cross_entropy needs a target of shape {positionsShape z} (class labels) or {z} (probabilities) for logits {z}, got {t}"
            elif perPosition then Ok(positionsShape z)
            else Ok Shape.Scalar
        override _.ElementType t =
            if t[1] = ElementType.Bool then Error "cross_entropy needs int64 class labels or float64 probabilities as its target, got bool"
            else Ok ElementType.Float64
        override _.Forward(args, out) =
            let z, t = args[0], args[1]
            let labels = isLabels [| z.Shape; t.Shape |]
            let struct (outer, k, inner, logP) = logProbabilities z
            let positions = outer * inner
            let share = smoothing / double k
            let mutable total = 0.0
            for o in 0 .. outer - 1 do
                for i in 0 .. inner - 1 do
                    let p = o * inner + i
                    let start = o * k * inner + i
                    let mutable term = 0.0
                    if labels then
                        let y = label t k p
                        if y >= 0 then
                            let mutable all = 0.0
                            if smoothing <> 0.0 then
                                for c in 0 .. k - 1 do
                                    all <- all + logP[start + c * inner]
                            term <- -(1.0 - smoothing) * logP[start + y * inner] - share * all
                    else
                        for c in 0 .. k - 1 do
                            let q = (1.0 - smoothing) * t.Data[start + c * inner] + share
                            term <- term - q * logP[start + c * inner]
                    if perPosition then out.Data[p] <- term else total <- total + term
            if not perPosition then out.Data[0] <- total / divisor t labels k positions
        override _.Vjp(args, _, adjoint, slot, dest) =
            let z, t = args[0], args[1]
            let labels = isLabels [| z.Shape; t.Shape |]
            if slot = 1 && labels then Array.Clear dest.Data
            else
                let struct (outer, k, inner, logP) = logProbabilities z
                let positions = outer * inner
                let share = smoothing / double k
                let scale = if perPosition then 0.0 else adjoint.Data[0] / divisor t labels k positions
                for o in 0 .. outer - 1 do
                    for i in 0 .. inner - 1 do
                        let p = o * inner + i
                        let start = o * k * inner + i
                        let w = if perPosition then adjoint.Data[p] else scale
                        if slot = 1 then
                            for c in 0 .. k - 1 do
                                dest.Data[start + c * inner] <- -w * (1.0 - smoothing) * logP[start + c * inner]
                        elif labels then
                            let y = label t k p
                            for c in 0 .. k - 1 do
                                let i = start + c * inner
                                dest.Data[i] <-
                                    if y < 0 then 0.0
                                    else w * (Math.Exp logP[i] - (if c = y then 1.0 - smoothing else 0.0) - share)
                        else
                            let mutable mass = 0.0
                            for c in 0 .. k - 1 do
                                mass <- mass + (1.0 - smoothing) * t.Data[start + c * inner] + share
                            for c in 0 .. k - 1 do
                                let i = start + c * inner
                                let q = (1.0 - smoothing) * t.Data[i] + share
                                dest.Data[i] <- w * (Math.Exp logP[i] * mass - q) }

/// mse as torch.nn.functional.mse_loss, a and b of one shape: (a − b)² element-wise, its mean ("mean"),
/// sum ("sum") or itself ("none"). λ_a = 2 w (a − b), λ_b = −λ_a, w = λ/n, λ or λ element-wise.
let mse (reduction: string) =
    { new Op("mse", 2, OpKind.Compute) with
        override _.Shape s =
            if s[0] <> s[1] then Error $"mse needs a and b of one shape, got {s[0]} and {s[1]}"
            elif reduction = "none" then Ok s[0]
            else Ok Shape.Scalar
        override _.Forward(args, out) =
            let a, b = args[0].Data, args[1].Data
            if reduction = "none" then
                for k in 0 .. a.Length - 1 do
                    let d = a[k] - b[k]
                    out.Data[k] <- d * d
            else
                let mutable total = 0.0
                for k in 0 .. a.Length - 1 do
                    let d = a[k] - b[k]
                    total <- total + d * d
                out.Data[0] <- if reduction = "mean" then total / double a.Length else total
        override _.Vjp(args, _, adjoint, slot, dest) =
            let a, b = args[0].Data, args[1].Data
            let sign = if slot = 0 then 2.0 else -2.0
            let w = if reduction = "mean" then adjoint.Data[0] / double a.Length else adjoint.Data[0]
            for k in 0 .. a.Length - 1 do
                let l = if reduction = "none" then adjoint.Data[k] else w
                dest.Data[k] <- sign * l * (a[k] - b[k]) }

// SplitMix64 (Steele, Lea and Flood 2014): its increment γ and its output function.
[<Literal>]
let private Gamma = 0x9E3779B97F4A7C15UL

let private mix (z: uint64) =
    let z = (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    let z = (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    z ^^^ (z >>> 31)

/// Whether dropout keeps element k: u_k ≥ p with u_k = ⌊h_k / 2¹¹⌋ · 2⁻⁵³ ∈ [0, 1),
/// h_k = mix(s + (k + 1)γ), s = mix(mix(seed + γ) xor key): SplitMix64's k-th output from a state made of
/// the seed and the key, so each element is computed on its own and the mask is the same wherever
/// and in whatever order it is made.
let internal dropoutKeeps (p: double) (seed: int) (key: int64) (count: int) =
    let s = mix (mix (uint64 (int64 seed) + Gamma) ^^^ uint64 key)
    Array.init count (fun k -> double (mix (s + (uint64 k + 1UL) * Gamma) >>> 11) * (1.0 / 9007199254740992.0) >= p)

/// dropout(x[, key]) as in training: element k is kept iff `dropoutKeeps` says so, kept elements scaled
/// by 1/(1 − p), the others 0 (all 0 when p = 1); the identity when not training. The key (an int64
/// scalar, 0 when absent) lets a training loop draw a new mask each step. λ_x = mask ⊙ λ/(1 − p);
/// the key gets 0.
let dropout (p: double) (training: bool) (seed: int) =
    let scale = if p < 1.0 then 1.0 / (1.0 - p) else 0.0
    let keyOf (args: Tensor[]) = if args.Length > 1 then int64 args[1].Data[0] else 0L
    let apply (args: Tensor[]) (source: double[]) (dest: double[]) =
        if not training then Array.blit source 0 dest 0 source.Length
        else
            let keeps = dropoutKeeps p seed (keyOf args) source.Length
            for k in 0 .. source.Length - 1 do
                dest[k] <- if keeps[k] then source[k] * scale else 0.0
    { new Op("dropout", 1, OpKind.Compute) with
        override _.AcceptsArity count = count = 1 || count = 2
        override _.ArityText = "1 or 2"
        override _.Shape s =
            if s.Length = 2 && s[1].Count <> 1 then Error $"dropout needs a scalar key, got {s[1]}"
            else Ok s[0]
        override _.ElementType t =
            if t.Length = 2 && t[1] <> ElementType.Int64 then Error $"dropout needs an int64 key, got {ElementType.name t[1]}"
            else Ok ElementType.Float64
        override _.Forward(args, out) = apply args args[0].Data out.Data
        override _.Vjp(args, _, adjoint, slot, dest) =
            if slot = 1 then Array.Clear dest.Data else apply args adjoint.Data dest.Data }

let private axisSpec = Spec.intOr "axis" -1 "the axis the distributions lie along (negative counts from the end)"

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "softmax"; Arity = "1"; MinArity = 1; Attributes = [ axisSpec ]
        Summary = "exp(x − max)/Σ exp(x − max) along an axis"; ShapeRule = "x: any shape → same shape"
        Make = fun a -> softmax (a.Int "axis") }
      { Name = "log_softmax"; Arity = "1"; MinArity = 1; Attributes = [ axisSpec ]
        Summary = "(x − max) − ln Σ exp(x − max) along an axis"; ShapeRule = "x: any shape → same shape"
        Make = fun a -> logSoftmax (a.Int "axis") }
      { Name = "cross_entropy"; Arity = "2"; MinArity = 2
        Attributes =
          [ Spec.choiceOr "reduction" reductions "mean" "how the per-position losses are reduced"
            Spec.floatOr "label_smoothing" 0.0 "ε: the target becomes (1 − ε)·target + ε/C"
            Spec.intOr "ignore_index" -100 "a label that adds nothing and is not counted by the mean" ]
        Summary = "torch.nn.functional.cross_entropy: −Σ_c q_c log softmax(z)_c, classes on axis 1 (0 for a vector)"
        ShapeRule = "logits: (N, C, …) or (C), target: labels (N, …) / () int64 or probabilities of the logits' shape → () (or the labels' shape for \"none\")"
        Make =
          fun a ->
              let e = a.Float "label_smoothing"
              if not (e >= 0.0 && e <= 1.0) then raise (ArgumentException $"label_smoothing must be in [0, 1], got {e}")
              crossEntropy (a.Text "reduction") e (a.Int "ignore_index") }
      { Name = "mse"; Arity = "2"; MinArity = 2
        Attributes = [ Spec.choiceOr "reduction" reductions "mean" "how the squared errors are reduced" ]
        Summary = "torch.nn.functional.mse_loss: (a − b)², mean, sum or none"
        ShapeRule = "a, b: one shape → () (or that shape for \"none\")"
        Make = fun a -> mse (a.Text "reduction") }
      { Name = "dropout"; Arity = "1 or 2"; MinArity = 1
        Attributes =
          [ Spec.floatOr "p" 0.5 "the probability of zeroing an element"
            Spec.boolOr "training" true "false: the identity"
            Spec.intOr "seed" 0 "the mask's seed (with the key)" ]
        Summary = "zeroes elements with probability p by a counter-based hash of (seed, key, k), scales the rest by 1/(1 − p)"
        ShapeRule = "x: any shape, key: () int64 → x's shape"
        Make =
          fun a ->
              let p = a.Float "p"
              if not (p >= 0.0 && p <= 1.0) then raise (ArgumentException $"dropout needs p in [0, 1], got {p}")
              dropout p (a.Bool "training") (a.Int "seed") } ]
