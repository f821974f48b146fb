/// Normalisations: layer_norm and batch_norm, and the running statistics a training-mode batch_norm
/// leaves for the next step.
module Adjoint.Ops.Norm

open System
open System.Collections.Generic
open Adjoint
open Adjoint.Kernels

/// The mean and the biased variance of the `count` elements x[at k], k < count, summed in increasing
/// k (two passes, so that the variance does not cancel).
let inline private moments (x: double[]) (count: int) ([<InlineIfLambda>] at: int -> int) =
    let mutable total = 0.0
    for k in 0 .. count - 1 do
        total <- total + x[at k]
    let mu = total / double count
    let mutable squares = 0.0
    for k in 0 .. count - 1 do
        let d = x[at k] - mu
        squares <- squares + d * d
    struct (mu, squares / double count)

/// λ_x of a normalisation over one group of `count` elements, x̂ = (x − μ)·r, r = 1/√(σ² + eps), with
/// g = λ ⊙ w the adjoint of x̂: λ_x = r (g − mean(g) − x̂ mean(g ⊙ x̂)).
let inline private normVjp (x: double[]) (adjoint: double[]) (dest: double[]) (count: int) (mu: double) (r: double)
                           ([<InlineIfLambda>] at: int -> int) ([<InlineIfLambda>] weight: int -> double) =
    let mutable sg = 0.0
    let mutable sgx = 0.0
    for k in 0 .. count - 1 do
        let i = at k
        let g = adjoint[i] * weight k
        sg <- sg + g
        sgx <- sgx + g * (x[i] - mu) * r
    let mg = sg / double count
    let mgx = sgx / double count
    for k in 0 .. count - 1 do
        let i = at k
        dest[i] <- r * (adjoint[i] * weight k - mg - (x[i] - mu) * r * mgx)

/// layer_norm's λ_x over one contiguous group x[start ..< start + g] (w null: no weight): μ and σ² by the
/// vector kernels, Σ λw and Σ λw(x − μ), then the write (bench O3 times it against a plain loop).
let private layerRowVjp (x: double[]) (l: double[]) (w: double[]) (dest: double[]) (start: int) (g: int) (eps: double) =
    let mu = Vec.sum x start g / double g
    let r = 1.0 / Math.Sqrt(Vec.sumSquaredDeviations x start g mu / double g + eps)
    if isNull w then
        let mg = Vec.sum l start g / double g
        // λ_x = r (λ − mean λ − x̂ mean(λ x̂)) with x̂ = (x − μ) r: the x̂ factors folded into one constant.
        let c = r * r * (Vec.dotShifted l x start g mu / double g)
        for k in start .. start + g - 1 do
            dest[k] <- r * (l[k] - mg - (x[k] - mu) * c)
    else
        let mutable sg = 0.0
        let mutable sgd = 0.0
        for k in 0 .. g - 1 do
            let gk = l[start + k] * w[k]
            sg <- sg + gk
            sgd <- sgd + gk * (x[start + k] - mu)
        let mg = sg / double g
        let c = r * r * (sgd / double g)
        for k in 0 .. g - 1 do
            dest[start + k] <- r * (l[start + k] * w[k] - mg - (x[start + k] - mu) * c)

/// layer_norm(x[, w[, b]]) as torch.nn.functional.layer_norm with normalized_shape the last `dims`
/// dimensions of x (w's and b's shape): each group of those trailing elements becomes
/// y = (x − μ)/√(σ² + eps) ⊙ w + b, μ and σ² (biased) its mean and variance. λ_x as `normVjp` with
/// g = λ ⊙ w; λ_w = Σ_groups λ ⊙ x̂, λ_b = Σ_groups λ (groups in increasing order).
let layerNorm (dims: int) (eps: double) =
    let group (s: Shape) =
        let mutable g = 1
        for d in s.Rank - dims .. s.Rank - 1 do
            g <- g * s.Dim d
        g
    // Over a contiguous group, by the vector kernels (their fixed order, not `moments`' one by one).
    let stats (x: double[]) (start: int) (g: int) =
        let mu = Vec.sum x start g / double g
        struct (mu, 1.0 / Math.Sqrt(Vec.sumSquaredDeviations x start g mu / double g + eps))
    { new Op("layer_norm", 1, OpKind.Compute) with
        override _.AcceptsArity count = count >= 1 && count <= 3
        override _.ArityText = "1 to 3"
        override _.Shape s =
            let x = s[0]
            if x.Rank < dims then Error $"layer_norm needs an input of rank ≥ {dims} (dims = {dims}), got {x}"
            else
                let trailing = Shape.Of((Array.ofSeq x.Dims).[x.Rank - dims ..])
                match [ 1 .. s.Length - 1 ] |> List.tryFind (fun k -> s[k] <> trailing) with
                | Some k ->
                    let what = if k = 1 then "weight" else "bias"
                    Error $"layer_norm needs a {what} of shape {trailing} (the last {dims} of {x}), got {s[k]}"
                | None -> Ok x
        override _.Forward(args, out) =
            let x = args[0].Data
            let y = out.Data
            let g = group args[0].Shape
            let w = if args.Length > 1 then args[1].Data else null
            let b = if args.Length > 2 then args[2].Data else null
            let mutable start = 0
            while start < x.Length do
                let struct (mu, r) = stats x start g
                if isNull w then
                    for k in start .. start + g - 1 do
                        y[k] <- (x[k] - mu) * r
                elif isNull b then
                    for k in 0 .. g - 1 do
                        y[start + k] <- (x[start + k] - mu) * r * w[k]
                else
                    for k in 0 .. g - 1 do
                        y[start + k] <- (x[start + k] - mu) * r * w[k] + b[k]
                start <- start + g
        override _.Vjp(args, _, adjoint, slot, dest) =
            let x = args[0].Data
            let l = adjoint.Data
            let g = group args[0].Shape
            if slot > 0 then Array.Clear dest.Data
            for start in 0 .. g .. x.Length - 1 do
                match slot with
                | 0 -> layerRowVjp x l (if args.Length > 1 then args[1].Data else null) dest.Data start g eps
                | 1 ->
                    let struct (mu, r) = stats x start g
                    for k in 0 .. g - 1 do
                        dest.Data[k] <- dest.Data[k] + l[start + k] * (x[start + k] - mu) * r
                | _ ->
                    for k in 0 .. g - 1 do
                        dest.Data[k] <- dest.Data[k] + l[start + k] }

/// batch_norm(x, w, b, running_mean, running_var) as torch.nn.functional.batch_norm, x (N, C, …) and
/// the rest (C). Training: per channel, y = (x − μ)/√(σ² + eps)·w + b with μ and σ² (biased) over N and
/// the trailing dimensions; λ_x as `normVjp` with g = λ w; λ_w = Σ λ x̂, λ_b = Σ λ; the running
/// statistics get 0 (y does not depend on them; `runningStatistics` gives their new values).
/// Inference: y = (x − m)/√(v + eps)·w + b with m, v the running statistics; λ_x = λ w r,
/// λ_m = −Σ λ w r, λ_v = −½ Σ λ w (x − m) r³ (exact, though the statistics are constants).
type BatchNorm(training: bool, momentum: double, eps: double) =
    inherit Op("batch_norm", 5, OpKind.Compute)

    /// (N, C, S): S the product of the trailing dimensions.
    static member private Layout(s: Shape) =
        let mutable spatial = 1
        for d in 2 .. s.Rank - 1 do
            spatial <- spatial * s.Dim d
        struct (s.Dim 0, s.Dim 1, spatial)

    static member private Index (c: int) (channels: int) (spatial: int) (k: int) =
        (k / spatial * channels + c) * spatial + k % spatial

    /// Whether it normalises with the batch's statistics (and so moves the running ones).
    member _.Training = training
    /// m in running = (1 − m)·running + m·batch.
    member _.Momentum = momentum
    member _.Eps = eps

    /// The batch mean and biased variance of channel c of x.
    member private _.BatchMoments(x: Tensor, c: int) =
        let struct (n, channels, spatial) = BatchNorm.Layout x.Shape
        moments x.Data (n * spatial) (BatchNorm.Index c channels spatial)

    /// The new running mean and variance after this batch x: (1 − m)·running + m·batch, with the
    /// batch variance unbiased (× count/(count − 1)) as PyTorch keeps it.
    member bn.UpdatedRunning(x: Tensor, runningMean: Tensor, runningVar: Tensor) =
        let struct (n, channels, spatial) = BatchNorm.Layout x.Shape
        let count = double (n * spatial)
        let mean = Tensor.Zeros runningMean.Shape
        let var = Tensor.Zeros runningVar.Shape
        for c in 0 .. channels - 1 do
            let struct (mu, v) = bn.BatchMoments(x, c)
            mean.Data[c] <- (1.0 - momentum) * runningMean.Data[c] + momentum * mu
            var.Data[c] <- (1.0 - momentum) * runningVar.Data[c] + momentum * (v * count / (count - 1.0))
        struct (mean, var)

    /// Per channel: μ and r = 1/√(σ² + eps), from the batch or from the running statistics.
    member private bn.Stats(args: Tensor[], c: int) =
        if training then
            let struct (mu, v) = bn.BatchMoments(args[0], c)
            struct (mu, 1.0 / Math.Sqrt(v + eps))
        else struct (args[3].Data[c], 1.0 / Math.Sqrt(args[4].Data[c] + eps))

    override _.Shape s =
        let x = s[0]
        if x.Rank < 2 then Error $"batch_norm needs an input of rank ≥ 2 (N, C, …), got {x}"
        else
            let c = Shape.Of(x.Dim 1)
            let names = [| "input"; "weight"; "bias"; "running_mean"; "running_var" |]
            match [ 1..4 ] |> List.tryFind (fun k -> s[k] <> c) with
            | Some k -> Error $"batch_norm needs a {names[k]} of shape {c} for an input {x}, got {s[k]}"
            | None ->
                let struct (n, _, spatial) = BatchNorm.Layout x
                if training && n * spatial = 1 then
                    Error $"batch_norm in training needs more than one value per channel, got an input {x}"
                else Ok x

    override bn.Forward(args, out) =
        let x = args[0]
        let struct (n, channels, spatial) = BatchNorm.Layout x.Shape
        for c in 0 .. channels - 1 do
            let struct (mu, r) = bn.Stats(args, c)
            let w, b = args[1].Data[c], args[2].Data[c]
            for k in 0 .. n * spatial - 1 do
                let i = BatchNorm.Index c channels spatial k
                out.Data[i] <- (x.Data[i] - mu) * r * w + b

    override bn.Vjp(args, _, adjoint, slot, dest) =
        let x = args[0]
        let l = adjoint.Data
        let struct (n, channels, spatial) = BatchNorm.Layout x.Shape
        let count = n * spatial
        for c in 0 .. channels - 1 do
            let struct (mu, r) = bn.Stats(args, c)
            let w = args[1].Data[c]
            let at = BatchNorm.Index c channels spatial
            if slot = 0 then
                if training then normVjp x.Data l dest.Data count mu r at (fun _ -> w)
                else
                    for k in 0 .. count - 1 do
                        dest.Data[at k] <- l[at k] * w * r
            elif slot >= 3 && training then dest.Data[c] <- 0.0
            else
                let mutable total = 0.0
                for k in 0 .. count - 1 do
                    let i = at k
                    total <-
                        total
                        + match slot with
                          | 1 -> l[i] * (x.Data[i] - mu) * r
                          | 2 | 3 -> l[i]
                          | _ -> l[i] * (x.Data[i] - mu)
                dest.Data[c] <-
                    match slot with
                    | 3 -> -total * w * r
                    | 4 -> -0.5 * total * w * r * r * r
                    | _ -> total

/// The new values of the running statistics after a training-mode evaluation: for each batch_norm
/// node in training mode (given as its op and ancestor ids), running_mean and running_var (by the
/// ids of its ancestors 4 and 5, constants in the graph) become (1 − m)·running + m·batch, the batch
/// variance unbiased as PyTorch keeps it. `value` gives a node's value in that evaluation (its input x
/// and the old statistics, so the evaluation must keep x). A training loop binds them as the
/// constants' values for the next step. Fails if two nodes move one statistic.
let runningStatistics (nodes: (Op * string[]) seq) (value: string -> Tensor) : IReadOnlyDictionary<string, Tensor> =
    let result = Dictionary<string, Tensor>()
    for op, ancestors in nodes do
        match op with
        | :? BatchNorm as bn when bn.Training ->
            let struct (mean, var) = bn.UpdatedRunning(value ancestors[0], value ancestors[3], value ancestors[4])
            for id, t in [ ancestors[3], mean; ancestors[4], var ] do
                if not (result.TryAdd(id, t)) then
                    invalidOp $"running statistic '{id}' is moved by two batch_norm nodes"
        | _ -> ()
    result :> IReadOnlyDictionary<_, _>

/// This family's catalogue entries.
let entries: OpEntry list =
    [ { Name = "layer_norm"; Arity = "1 to 3"; MinArity = 1
        Attributes =
          [ Spec.intOr "dims" 1 "how many trailing dimensions are normalised together (torch's normalized_shape)"
            Spec.floatOr "eps" 1e-5 "added to the variance" ]
        Summary = "(x − μ)/√(σ² + eps) ⊙ w + b over the trailing dims (torch.nn.functional.layer_norm)"
        ShapeRule = "x: (…, d₁…d_dims), weight and bias: (d₁…d_dims) → x's shape"
        Make =
          fun a ->
              let dims = a.Int "dims"
              if dims < 1 then raise (ArgumentException $"layer_norm needs dims ≥ 1, got {dims}")
              layerNorm dims (a.Float "eps") }
      { Name = "batch_norm"; Arity = "5"; MinArity = 5
        Attributes =
          [ Spec.boolOr "training" true "normalise with the batch's statistics (false: the running ones)"
            Spec.floatOr "momentum" 0.1 "m in running = (1 − m)·running + m·batch"
            Spec.floatOr "eps" 1e-5 "added to the variance" ]
        Summary = "per channel (x − μ)/√(σ² + eps)·w + b (torch.nn.functional.batch_norm)"
        ShapeRule = "x: (N, C, …), weight, bias, running_mean, running_var: (C) → x's shape"
        Make = fun a -> BatchNorm(a.Bool "training", a.Float "momentum", a.Float "eps") } ]
