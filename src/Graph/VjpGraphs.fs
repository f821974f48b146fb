/// Each op's VJP written as a small graph of catalogue ops: for a node z_i = f_i(z_α(i)) and an argument
/// slot j, nodes computing λ_i ∂f_i/∂z_j from z_α(i), z_i and λ_i — the backward pass as a graph
/// (the stationarity conditions ∇_z L = 0 of the seed's Lagrangian, each one elementary functions).
/// Keyed by op name, like the catalogue; an op without an entry is refused by name.
module Adjoint.VjpGraphs

open System
open System.Collections.Generic
open Adjoint

/// What a VJP graph is built from: the builder that receives its nodes, the node's op (with its
/// attributes, defaults filled in), its arguments, its value z_i and its adjoint λ_i, all as nodes.
/// Every node it adds gets an id with the adjoint graph's prefix, so none can collide with the graph's.
[<Sealed>]
type VjpNodes internal (builder: GraphBuilder, fresh: unit -> string, constants: Dictionary<int64, NodeRef>,
                        op: Op, args: NodeRef[], out: NodeRef, adjoint: NodeRef) =
    let attributes =
        match Catalogue.tryFind op.Name with
        | Some e -> Attributes(e.Attributes, op.Attributes)
        | None -> Attributes([], op.Attributes)

    member _.Op = op
    member _.Args = args
    /// z_i.
    member _.Out = out
    /// λ_i.
    member _.Adjoint = adjoint
    /// The op's attributes, defaults included.
    member _.Attributes = attributes

    /// A rank-0 constant, one node per value in the whole adjoint graph.
    member _.Const(v: double) =
        let key = BitConverter.DoubleToInt64Bits v
        match constants.TryGetValue key with
        | true, c -> c
        | _ ->
            let c = builder.Constant(v, fresh ())
            constants[key] <- c
            c

    /// A catalogue op by name with attributes.
    member _.Apply(name: string, xs: NodeRef[], attributes: (string * OpAttribute) list) =
        builder.Apply(name, xs, Dictionary(dict attributes), fresh ())
    /// A catalogue op by name with the node's own attributes as given (those at defaults left out),
    /// less the names in `drop`, plus `extra`: a VJP op made with its forward op's window or stride.
    member _.ApplyLike(name: string, xs: NodeRef[], drop: string list, extra: (string * OpAttribute) list) =
        let d = Dictionary<string, OpAttribute>()
        for KeyValue(k, v) in op.Attributes do
            if not (List.contains k drop) then d[k] <- v
        for k, v in extra do
            d[k] <- v
        builder.Apply(name, xs, d, fresh ())
    /// An op already made (the node's own op, reused: dropout's mask, transpose's axes).
    member _.ApplyOp(o: Op, xs: NodeRef[]) = builder.AddNode(fresh (), o, xs, None)

    member c.Add(a, b) = c.Apply("add", [| a; b |], [])
    member c.Sub(a, b) = c.Apply("sub", [| a; b |], [])
    member c.Mul(a, b) = c.Apply("mul", [| a; b |], [])
    member c.Div(a, b) = c.Apply("div", [| a; b |], [])
    member c.Neg a = c.Apply("neg", [| a |], [])
    member c.Scale(a, f: double) = c.Apply("scale", [| a |], [ "factor", OpAttribute.Float f ])
    member c.Unary(name: string, a) = c.Apply(name, [| a |], [])
    member c.MatMul(a, b) = c.Apply("matmul", [| a; b |], [])
    /// The last two axes swapped.
    member c.T a = c.Apply("transpose", [| a |], [])

    /// x under another shape of the same count (x itself when it has it already).
    member c.Reshape(x: NodeRef, target: Shape) =
        if x.Shape = target && x.Shape.Rank = target.Rank then x
        else c.Apply("reshape", [| x |], [ "shape", OpAttribute.Ints(Array.ofSeq target.Dims) ])

    /// Σ over axes, keeping them as dimensions of length 1.
    member c.SumKeep(x: NodeRef, axes: int[]) =
        // A rank-0 value is its own sum (softmax of a scalar is one lane of one element).
        if x.Shape.Rank = 0 then x
        else c.Apply("sum", [| x |], [ "axes", OpAttribute.Ints axes; "keepdims", OpAttribute.Bool true ])

    /// x repeated to a shape it broadcasts to.
    member c.BroadcastTo(x: NodeRef, target: Shape) =
        if x.Shape = target && x.Shape.Rank = target.Rank then x
        else c.Apply("broadcast_to", [| x |], [ "shape", OpAttribute.Ints(Array.ofSeq target.Dims) ])

    /// The adjoint of a broadcast: t (of a shape `target` broadcasts to) summed over the dimensions
    /// `target` was repeated along, in row-major order, then given `target`'s shape.
    member c.Unbroadcast(t: NodeRef, target: Shape) =
        if t.Shape = target && t.Shape.Rank = target.Rank then t
        else
            let r, rt = t.Shape.Rank, target.Rank
            let axes =
                [| for d in 0 .. r - 1 do
                       if d < r - rt then yield d
                       elif target.Dim(d - (r - rt)) = 1 && t.Shape.Dim d > 1 then yield d |]
            let summed = if axes.Length = 0 then t else c.SumKeep(t, axes)
            c.Reshape(summed, target)

/// A VJP graph: given the nodes and which slots are wanted, the term λ_i ∂f_i/∂z_j of each wanted slot
/// j as a node of z_j's shape, or None where the term is zero (an index, a mask, a piecewise-constant op).
type VjpGraph = VjpNodes -> bool[] -> NodeRef option[]

/// A VJP graph stated slot by slot.
let private perSlot (term: VjpNodes -> int -> NodeRef option) : VjpGraph =
    fun c wanted -> Array.init wanted.Length (fun j -> if wanted[j] then term c j else None)

/// An element-wise unary op from f′ as nodes (given x and y = f(x)): λ_x = λ ⊙ f′. None: f′ = 0.
let private unary (derivative: VjpNodes -> NodeRef -> NodeRef -> NodeRef option) : VjpGraph =
    perSlot (fun c _ -> derivative c c.Args[0] c.Out |> Option.map (fun d -> c.Mul(c.Adjoint, d)))

/// A unary op whose VJP is a node of λ alone (neg, scale).
let private unaryLinear (term: VjpNodes -> NodeRef) : VjpGraph = perSlot (fun c _ -> Some(term c))

/// An element-wise binary op from its partials as nodes (given a, b and z): λ_a = Σ_broadcast λ ⊙ ∂f/∂a.
let private binary (partial: VjpNodes -> int -> NodeRef -> NodeRef -> NodeRef -> NodeRef option) : VjpGraph =
    perSlot (fun c j ->
        partial c j c.Args[0] c.Args[1] c.Out
        |> Option.map (fun d -> c.Unbroadcast(c.Mul(c.Adjoint, d), c.Args[j].Shape)))

/// A binary op whose terms are ±λ (add, sub), summed over broadcast dimensions.
let private binarySigned (negateSecond: bool) : VjpGraph =
    perSlot (fun c j ->
        let t = if j = 1 && negateSecond then c.Neg c.Adjoint else c.Adjoint
        Some(c.Unbroadcast(t, c.Args[j].Shape)))

/// 1 where x > 0, else 0: sign(relu(x)) (sign's derivative is 0, so this is a constant to second order).
let private step (c: VjpNodes) (x: NodeRef) = c.Unary("sign", c.Unary("relu", x))

/// max(a, b)'s partials as torch.maximum: ∂/∂a = ½(1 + sign(a − b)), ∂/∂b = ½(1 − sign(a − b)) —
/// 1, ½ at a tie, 0, exactly (the sign of a − b is exact in floating point).
let private extremum (isMax: bool) : VjpGraph =
    binary (fun c j a b _ ->
        let s = c.Unary("sign", c.Sub(a, b))
        let toA = if isMax then j = 0 else j = 1
        Some(c.Scale((if toA then c.Add(c.Const 1.0, s) else c.Sub(c.Const 1.0, s)), 0.5)))

/// Which dimensions of x a reduction over `axes` (None: all) reduces.
let private reducedOf (c: VjpNodes) (shape: Shape) =
    match Ops.Reduce.reducedDims (c.Attributes.Ints "axes") shape with
    | Ok r -> r
    | Error m -> invalidOp m

/// A reduction's result with its reduced axes as dimensions of length 1 (keepdims), from either form.
let private keptShape (c: VjpNodes) (x: Shape) =
    Ops.Reduce.reducedShape x (reducedOf c x) true

/// λ (or any node of the reduction's output shape) reshaped to keepdims form, to broadcast against x.
let private kept (c: VjpNodes) (t: NodeRef) = c.Reshape(t, keptShape c c.Args[0].Shape)

/// The axes of x a reduction reduces, as indices.
let private reducedAxes (c: VjpNodes) =
    reducedOf c c.Args[0].Shape |> Array.indexed |> Array.filter snd |> Array.map fst

/// Matmul by NumPy's rules: vector operands promoted to matrices, Λ_A = Λ Bᵀ and Λ_B = Aᵀ Λ (Claim
/// 16.2) per batch matrix, summed over the batch dimensions an operand was broadcast along.
let private matmulVjp: VjpGraph =
    fun c wanted ->
        let a, b = c.Args[0], c.Args[1]
        let a2 = if a.Shape.Rank = 1 then c.Reshape(a, Shape.Of(1, a.Shape.Dim 0)) else a
        let b2 = if b.Shape.Rank = 1 then c.Reshape(b, Shape.Of(b.Shape.Dim 0, 1)) else b
        let full =
            match Ops.Linear.matmul.Shape [| a2.Shape; b2.Shape |] with
            | Ok s -> s
            | Error m -> invalidOp m
        let l = c.Reshape(c.Adjoint, full)
        [| (if wanted[0] then Some(c.Reshape(c.Unbroadcast(c.MatMul(l, c.T b2), a2.Shape), a.Shape)) else None)
           (if wanted[1] then Some(c.Reshape(c.Unbroadcast(c.MatMul(c.T a2, l), b2.Shape), b.Shape)) else None) |]

/// y = x Wᵀ + b: with x's leading dimensions as rows X, Λ_X = Λ W, Λ_W = Λᵀ X, Λ_b = Σ_rows Λ.
let private linearVjp: VjpGraph =
    perSlot (fun c j ->
        let x, w, l = c.Args[0], c.Args[1], c.Adjoint
        let outs, ins = w.Shape.Dim 0, w.Shape.Dim 1
        match j with
        | 0 -> Some(c.Reshape(c.MatMul(c.Reshape(l, Shape.Of(l.Shape.Count / outs, outs)), w), x.Shape))
        | 1 ->
            let rows = x.Shape.Count / ins
            Some(c.MatMul(c.T(c.Reshape(l, Shape.Of(rows, outs))), c.Reshape(x, Shape.Of(rows, ins))))
        | _ -> Some(c.Reshape(c.Unbroadcast(c.Reshape(l, Shape.Of(l.Shape.Count / outs, outs)), Shape.Of(1, outs)), Shape.Of outs)))

/// X = A⁻¹ B: λ_B = A⁻ᵀ λ_X (a solve with Aᵀ), λ_A = −λ_B Xᵀ.
let private solveVjp: VjpGraph =
    fun c wanted ->
        let lb = lazy (c.Apply("solve", [| c.T c.Args[0]; c.Adjoint |], []))
        [| (if wanted[0] then Some(c.Neg(c.MatMul(lb.Value, c.T c.Out))) else None)
           (if wanted[1] then Some lb.Value else None) |]

/// softmax along an axis: λ_x = y ⊙ (λ − Σ_axis λ ⊙ y).
let private softmaxVjp: VjpGraph =
    perSlot (fun c _ ->
        let y, l = c.Out, c.Adjoint
        let axis = c.Attributes.Int "axis"
        Some(c.Mul(y, c.Sub(l, c.SumKeep(c.Mul(l, y), [| axis |])))))

/// log softmax along an axis: λ_x = λ − exp(y) ⊙ Σ_axis λ.
let private logSoftmaxVjp: VjpGraph =
    perSlot (fun c _ ->
        let y, l = c.Out, c.Adjoint
        Some(c.Sub(l, c.Mul(c.Unary("exp", y), c.SumKeep(l, [| c.Attributes.Int "axis" |])))))

/// The class axis of cross_entropy's logits: 1, or 0 for a vector.
let private classAxis (s: Shape) = if s.Rank >= 2 then 1 else 0

/// cross_entropy: log P = log softmax over the class axis. With probability targets t, q = (1 − ε)t +
/// ε/C, λ_Z = w (P Σ_c q_c − q), λ_t = −w (1 − ε) log P, w = λ/positions ("mean"), λ ("sum") or λ
/// per position ("none"). With class labels, h = one_hot(labels) (all zeros at an ignored label) and
/// v = Σ_c h (1 where counted): q = (1 − ε)h + (ε/C)v, λ_Z = w (P v − q), w = λ/Σ h for "mean"; the
/// labels get 0.
let private crossEntropyVjp: VjpGraph =
    perSlot (fun c j ->
        let z, t = c.Args[0], c.Args[1]
        if t.Shape <> z.Shape || t.Shape.Rank <> z.Shape.Rank then
            if j = 1 then None
            else
                let axis = classAxis z.Shape
                let eps = c.Attributes.Float "label_smoothing"
                let k = z.Shape.Dim axis
                let h = c.Apply("one_hot", [| t |], [ "classes", OpAttribute.Int k; "axis", OpAttribute.Int axis
                                                      "ignore_index", OpAttribute.Int(c.Attributes.Int "ignore_index") ])
                let v = c.SumKeep(h, [| axis |])
                let l = c.Adjoint
                let w =
                    match c.Attributes.Text "reduction" with
                    | "mean" -> c.Div(l, c.Unary("sum", h))
                    | "sum" -> l
                    | _ -> c.Reshape(l, v.Shape)
                let q = if eps = 0.0 then h else c.Add(c.Scale(h, 1.0 - eps), c.Scale(v, eps / double k))
                let logP = c.Apply("log_softmax", [| z |], [ "axis", OpAttribute.Int axis ])
                Some(c.Mul(w, c.Sub(c.Mul(c.Unary("exp", logP), v), q)))
        else
            let axis = classAxis z.Shape
            let eps = c.Attributes.Float "label_smoothing"
            let k = z.Shape.Dim axis
            let positions = z.Shape.Count / k
            let l = c.Adjoint
            let w =
                match c.Attributes.Text "reduction" with
                | "mean" -> c.Div(l, c.Const(double positions))
                | "sum" -> l
                | _ -> c.Reshape(l, Shape.Of(z.Shape.Dims |> Seq.mapi (fun d n -> if d = axis then 1 else n) |> Array.ofSeq))
            let logP = c.Apply("log_softmax", [| z |], [ "axis", OpAttribute.Int axis ])
            if j = 1 then Some(c.Neg(c.Mul(w, c.Scale(logP, 1.0 - eps))))
            else
                let q = if eps = 0.0 then t else c.Add(c.Scale(t, 1.0 - eps), c.Const(eps / double k))
                let mass = c.SumKeep(q, [| axis |])
                Some(c.Mul(w, c.Sub(c.Mul(c.Unary("exp", logP), mass), q))))

/// mse: λ_a = 2w(a − b), λ_b = −2w(a − b), w = λ/n ("mean"), λ ("sum") or λ element-wise ("none").
let private mseVjp: VjpGraph =
    perSlot (fun c j ->
        let a, b, l = c.Args[0], c.Args[1], c.Adjoint
        let w = if c.Attributes.Text "reduction" = "mean" then c.Div(l, c.Const(double a.Shape.Count)) else l
        Some(c.Mul(c.Scale(w, (if j = 0 then 2.0 else -2.0)), c.Sub(a, b))))

/// softmax_cross_entropy over the last axis, m rows: λ_Z = (λ/m)(P Σ_c Y_c − Y), λ_Y = −(λ/m) log P.
let private softmaxCrossEntropyVjp: VjpGraph =
    perSlot (fun c j ->
        let z, y = c.Args[0], c.Args[1]
        let k = if z.Shape.Rank = 0 then 1 else z.Shape.Dim(z.Shape.Rank - 1)
        let w = c.Div(c.Adjoint, c.Const(double (z.Shape.Count / k)))
        let logP = c.Apply("log_softmax", [| z |], [ "axis", OpAttribute.Int -1 ])
        if j = 1 then Some(c.Neg(c.Mul(w, logP)))
        else Some(c.Mul(w, c.Sub(c.Mul(c.Unary("exp", logP), c.SumKeep(y, [| -1 |])), y))))

/// A reduction over axes: sum spreads λ back, mean spreads λ/n.
let private spreadVjp (divide: bool) : VjpGraph =
    perSlot (fun c _ ->
        let x = c.Args[0]
        let l =
            if divide then
                let n = x.Shape.Count / c.Out.Shape.Count
                c.Div(c.Adjoint, c.Const(double n))
            else c.Adjoint
        Some(c.BroadcastTo(kept c l, x.Shape)))

/// logsumexp over axes: λ_x = λ ⊙ exp(x − z), λ and z broadcast back over the reduced axes.
let private logSumExpVjp: VjpGraph =
    perSlot (fun c _ -> Some(c.Mul(kept c c.Adjoint, c.Unary("exp", c.Sub(c.Args[0], kept c c.Out)))))

/// var over axes: λ_x = (2λ/max(0, n − correction)) ⊙ (x − x̄).
let private varVjp: VjpGraph =
    perSlot (fun c _ ->
        let x = c.Args[0]
        let n = x.Shape.Count / c.Out.Shape.Count
        let divisor = double (max 0 (n - c.Attributes.Int "correction"))
        let axes = reducedAxes c
        let over = if axes.Length = 0 then [] else [ "axes", OpAttribute.Ints axes ]
        let mean = c.Apply("mean", [| x |], over @ [ "keepdims", OpAttribute.Bool true ])
        Some(c.Mul(kept c (c.Div(c.Scale(c.Adjoint, 2.0), c.Const divisor)), c.Sub(x, mean))))

/// Ops that only rearrange elements: λ_x is λ rearranged back.
let private reshapeVjp: VjpGraph = perSlot (fun c _ -> Some(c.Reshape(c.Adjoint, c.Args[0].Shape)))

let private permuteVjp: VjpGraph =
    perSlot (fun c _ ->
        let axes = (c.Attributes.Ints "axes").Value |> Array.map (fun a -> if a < 0 then a + c.Args[0].Shape.Rank else a)
        let inverse = Array.zeroCreate axes.Length
        axes |> Array.iteri (fun d a -> inverse[a] <- d)
        Some(c.Apply("permute", [| c.Adjoint |], [ "axes", OpAttribute.Ints inverse ])))

/// λ of a slice with steps put back into zeros of x's shape, one sliced axis at a time, in catalogue
/// ops: a negative step's elements reversed (a slice with step −1) to ascend; a step t > 1 spread by a
/// new axis of length t padded with t − 1 zeros and merged, then cut to (count − 1)t + 1; then padded
/// to the axis's length. Every stage copies elements, so λ_x is exact.
let private stridedScatter (c: VjpNodes) (shape: Shape) (starts: int[]) (stops: int[]) (axes: int[]) (steps: int[]) =
    let mutable t = c.Adjoint
    for k in 0 .. axes.Length - 1 do
        let a = axes[k]
        let n = shape.Dim a
        let struct (first, count) = Ops.Shape.sliceRange n starts[k] stops[k] steps[k]
        let along (name: string) (attributes: (string * OpAttribute) list) = c.Apply(name, [| t |], attributes)
        let ints (xs: int[]) = OpAttribute.Ints xs
        let stride = abs steps[k]
        let lowest = if steps[k] > 0 then first else first + (count - 1) * steps[k]
        if steps[k] < 0 && count > 1 then
            t <- along "slice" [ "starts", ints [| count - 1 |]; "stops", ints [| -count - 1 |]; "axes", ints [| a |]; "steps", ints [| -1 |] ]
        if stride > 1 && count > 1 then
            let dims = t.Shape.Dims |> Array.ofSeq
            let split = Array.concat [ dims[.. a]; [| 1 |]; dims[a + 1 ..] ]
            let pads = Array.zeroCreate (2 * split.Length)
            pads[2 * (a + 1) + 1] <- stride - 1
            t <- c.Apply("pad", [| c.Reshape(t, Shape.Of split) |], [ "pads", ints pads ])
            let merged = Array.copy dims
            merged[a] <- count * stride
            t <- c.Reshape(t, Shape.Of merged)
            t <- along "slice" [ "starts", ints [| 0 |]; "stops", ints [| (count - 1) * stride + 1 |]; "axes", ints [| a |] ]
        let span = t.Shape.Dim a
        let pads = Array.zeroCreate (2 * t.Shape.Rank)
        pads[2 * a] <- lowest
        pads[2 * a + 1] <- n - lowest - span
        if lowest <> 0 || n - lowest - span <> 0 then t <- along "pad" [ "pads", ints pads ]
    t

/// slice with unit steps: λ_x = λ padded with zeros back to x's shape.
let private sliceVjp: VjpGraph =
    perSlot (fun c _ ->
        let shape = c.Args[0].Shape
        let a = c.Attributes
        let starts, stops = (a.Ints "starts").Value, (a.Ints "stops").Value
        let axes = defaultArg (a.Ints "axes") (Array.init starts.Length id) |> Array.map (fun x -> if x < 0 then x + shape.Rank else x)
        let steps = defaultArg (a.Ints "steps") (Array.create starts.Length 1)
        if steps |> Array.exists (fun s -> s <> 1) then Some(stridedScatter c shape starts stops axes steps)
        else
            let pads = Array.zeroCreate (2 * shape.Rank)
            for k in 0 .. axes.Length - 1 do
                let n = shape.Dim axes[k]
                let struct (first, count) = Ops.Shape.sliceRange n starts[k] stops[k] 1
                pads[2 * axes[k]] <- first
                pads[2 * axes[k] + 1] <- n - first - count
            Some(c.Apply("pad", [| c.Adjoint |], [ "pads", OpAttribute.Ints pads ])))

/// pad: λ_x = the middle of λ, a slice.
let private padVjp: VjpGraph =
    perSlot (fun c _ ->
        let shape = c.Args[0].Shape
        let pads = (c.Attributes.Ints "pads").Value
        let starts = Array.init shape.Rank (fun d -> pads[2 * d])
        let stops = Array.init shape.Rank (fun d -> pads[2 * d] + shape.Dim d)
        Some(c.Apply("slice", [| c.Adjoint |], [ "starts", OpAttribute.Ints starts; "stops", OpAttribute.Ints stops ])))

/// concat along an axis: λ_j = the slice of λ that argument j filled.
let private concatVjp: VjpGraph =
    fun c wanted ->
        let rank = c.Out.Shape.Rank
        let axis = let a = c.Attributes.Int "axis" in if a < 0 then a + rank else a
        let mutable offset = 0
        [| for j in 0 .. c.Args.Length - 1 do
               let n = c.Args[j].Shape.Dim axis
               let start = offset
               offset <- offset + n
               if wanted[j] then
                   Some(c.Apply("slice", [| c.Adjoint |],
                                [ "starts", OpAttribute.Ints [| start |]; "stops", OpAttribute.Ints [| start + n |]
                                  "axes", OpAttribute.Ints [| axis |] ]))
               else None |]

/// split's piece `index`: λ_x = λ padded with zeros where the other pieces were.
let private splitVjp: VjpGraph =
    perSlot (fun c _ ->
        let shape = c.Args[0].Shape
        let axis = let a = c.Attributes.Int "axis" in if a < 0 then a + shape.Rank else a
        let sizes = (c.Attributes.Ints "sizes").Value
        let index = c.Attributes.Int "index"
        let before = Array.sum sizes[.. index - 1]
        let pads = Array.zeroCreate (2 * shape.Rank)
        pads[2 * axis] <- before
        pads[2 * axis + 1] <- shape.Dim axis - before - sizes[index]
        Some(c.Apply("pad", [| c.Adjoint |], [ "pads", OpAttribute.Ints pads ])))

/// where(mask, a, b): λ_a = where(mask, λ, 0), λ_b = where(mask, 0, λ), each summed over broadcasting.
let private whereVjp: VjpGraph =
    perSlot (fun c j ->
        match j with
        | 0 -> None
        | _ ->
            let zero = c.Const 0.0
            let args = if j = 1 then [| c.Args[0]; c.Adjoint; zero |] else [| c.Args[0]; zero; c.Adjoint |]
            Some(c.Unbroadcast(c.Apply("where", args, []), c.Args[j].Shape)))

/// dropout is linear in x with a mask fixed by the seed and key: λ_x = dropout(λ) with the same op and key.
let private dropoutVjp: VjpGraph =
    perSlot (fun c j ->
        if j = 1 then None
        else Some(c.ApplyOp(c.Op, (if c.Args.Length = 2 then [| c.Adjoint; c.Args[1] |] else [| c.Adjoint |]))))

/// gelu's derivative as nodes: Φ(x) + x φ(x) with Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π);
/// for the tanh form s + x s(1 − s)·2β(1 + 3κx²), s = σ(2u), u = β(x + κx³), as Ops/Elementwise.fs.
let private geluDerivative (c: VjpNodes) (x: NodeRef) =
    if c.Attributes.Text "approximate" = "tanh" then
        let beta, kappa = 1.41421356237309504880 * 1.12837916709551257390 * 0.5, 0.044715
        let x2 = c.Unary("square", x)
        let u = c.Scale(c.Add(x, c.Scale(c.Mul(x2, x), kappa)), beta)
        let s = c.Unary("sigmoid", c.Scale(u, 2.0))
        let slope = c.Scale(c.Add(c.Const 1.0, c.Scale(x2, 3.0 * kappa)), 2.0 * beta)
        c.Add(s, c.Mul(c.Mul(x, c.Mul(s, c.Sub(c.Const 1.0, s))), slope))
    else
        let cdf = c.Scale(c.Add(c.Const 1.0, c.Unary("erf", c.Scale(x, 0.70710678118654752440))), 0.5)
        let pdf = c.Scale(c.Unary("exp", c.Scale(c.Unary("square", x), -0.5)), 1.12837916709551257390 * 0.70710678118654752440 * 0.5)
        c.Add(cdf, c.Mul(x, pdf))

/// max (min) over axes: λ_x = max_mask(x) ⊙ λ spread back, λ to each group's first extremum.
let private extremumVjp (mask: string) : VjpGraph =
    perSlot (fun c _ ->
        let x = c.Args[0]
        let axes = match c.Attributes.Ints "axes" with
                   | Some a -> [ "axes", OpAttribute.Ints a ]
                   | None -> []
        Some(c.Mul(c.Apply(mask, [| x |], axes), c.BroadcastTo(kept c c.Adjoint, x.Shape))))

/// gather along axis a: λ_x = scatter_add(λ, indices) into x's length along a.
let private gatherVjp: VjpGraph =
    perSlot (fun c j ->
        if j = 1 then None
        else
            let x = c.Args[0]
            let a = let v = c.Attributes.Int "axis" in if v < 0 then v + x.Shape.Rank else v
            Some(c.Apply("scatter_add", [| c.Adjoint; c.Args[1] |], [ "axis", OpAttribute.Int a; "size", OpAttribute.Int(x.Shape.Dim a) ])))

/// scatter_add along axis a: λ_src = gather(λ, indices) along a.
let private scatterAddVjp: VjpGraph =
    perSlot (fun c j ->
        if j = 1 then None
        else
            let a = let v = c.Attributes.Int "axis" in if v < 0 then v + c.Out.Shape.Rank else v
            Some(c.Apply("gather", [| c.Adjoint; c.Args[1] |], [ "axis", OpAttribute.Int a ])))

/// A normalisation's λ_x from g = λ ⊙ w (the adjoint of x̂), over the axes of each group:
/// λ_x = r (g − mean(g) − x̂ mean(g ⊙ x̂)).
let private normalised (c: VjpNodes) (g: NodeRef) (xhat: NodeRef) (r: NodeRef) (axes: int[]) =
    let meanKeep (t: NodeRef) = c.Apply("mean", [| t |], [ "axes", OpAttribute.Ints axes; "keepdims", OpAttribute.Bool true ])
    c.Mul(r, c.Sub(c.Sub(g, meanKeep g), c.Mul(xhat, meanKeep (c.Mul(g, xhat)))))

/// x̂ = (x − μ) r and r = 1/√(σ² + eps), μ and σ² (biased, two passes) over the axes, kept.
let private standardise (c: VjpNodes) (x: NodeRef) (axes: int[]) (eps: double) =
    let meanKeep (t: NodeRef) = c.Apply("mean", [| t |], [ "axes", OpAttribute.Ints axes; "keepdims", OpAttribute.Bool true ])
    let centred = c.Sub(x, meanKeep x)
    let r = c.Unary("rsqrt", c.Add(meanKeep (c.Unary("square", centred)), c.Const eps))
    c.Mul(centred, r), r

/// layer_norm over the trailing `dims` axes: with x̂ and r of each group, g = λ ⊙ w, λ_x as
/// `normalised`, λ_w = Σ_rows λ ⊙ x̂, λ_b = Σ_rows λ.
let private layerNormVjp: VjpGraph =
    fun c wanted ->
        let x = c.Args[0]
        let rank = x.Shape.Rank
        let axes = Array.init (c.Attributes.Int "dims") (fun k -> rank - 1 - k) |> Array.rev
        let parts = lazy (standardise c x axes (c.Attributes.Float "eps"))
        let l = c.Adjoint
        [| for j in 0 .. wanted.Length - 1 do
               if not wanted[j] then None
               else
                   let xhat, r = parts.Value
                   match j with
                   | 0 -> Some(normalised c (if c.Args.Length > 1 then c.Mul(l, c.Args[1]) else l) xhat r axes)
                   | 1 -> Some(c.Unbroadcast(c.Mul(l, xhat), c.Args[1].Shape))
                   | _ -> Some(c.Unbroadcast(l, c.Args[2].Shape)) |]

/// batch_norm per channel (axis 1) of (N, C, …), w and b of shape (C). Training: x̂ and r of each
/// channel over the other axes, λ_x as `normalised` with g = λ ⊙ w; the running statistics get 0.
/// Inference: x̂ = (x − m) r with the running m and r = 1/√(v + eps): λ_x = λ w r,
/// λ_m = −Σ λ w r, λ_v = −½ Σ λ w x̂ r². Both: λ_w = Σ λ ⊙ x̂, λ_b = Σ λ.
let private batchNormVjp: VjpGraph =
    fun c wanted ->
        let x = c.Args[0]
        let rank = x.Shape.Rank
        let channels = x.Shape.Dim 1
        let others = [| for d in 0 .. rank - 1 do if d <> 1 then d |]
        let perChannel (t: NodeRef) = c.Reshape(t, Shape.Of(Array.init rank (fun d -> if d = 1 then channels else 1)))
        let total (t: NodeRef) = c.Apply("sum", [| t |], [ "axes", OpAttribute.Ints others ])
        let training = c.Attributes.Bool "training"
        let eps = c.Attributes.Float "eps"
        let parts =
            lazy (
                if training then standardise c x others eps
                else
                    let r = perChannel (c.Unary("rsqrt", c.Add(c.Args[4], c.Const eps)))
                    c.Mul(c.Sub(x, perChannel c.Args[3]), r), r)
        let l = c.Adjoint
        let lw = lazy (c.Mul(l, perChannel c.Args[1]))
        [| for j in 0 .. wanted.Length - 1 do
               if not wanted[j] then None
               else
                   let xhat, r = parts.Value
                   match j with
                   | 0 when training -> Some(normalised c lw.Value xhat r others)
                   | 0 -> Some(c.Mul(lw.Value, r))
                   | 1 -> Some(total (c.Mul(l, xhat)))
                   | 2 -> Some(total l)
                   | _ when training -> None
                   | 3 -> Some(c.Neg(total (c.Mul(lw.Value, r))))
                   | _ -> Some(c.Scale(total (c.Mul(c.Mul(lw.Value, xhat), c.Mul(r, r))), -0.5)) |]

let private two (s: Shape) (a: int) = OpAttribute.Ints [| s.Dim a; s.Dim(a + 1) |]

/// conv2d(x, w[, b]): λ_x = conv2d_input_grad(w, λ), λ_w = conv2d_weight_grad(x, λ), λ_b = Σ_{n,h,w} λ.
let private conv2dVjp: VjpGraph =
    perSlot (fun c j ->
        let x, w, l = c.Args[0], c.Args[1], c.Adjoint
        match j with
        | 0 -> Some(c.ApplyLike("conv2d_input_grad", [| w; l |], [], [ "size", two x.Shape 2 ]))
        | 1 -> Some(c.ApplyLike("conv2d_weight_grad", [| x; l |], [], [ "kernel", two w.Shape 2 ]))
        | _ -> Some(c.Apply("sum", [| l |], [ "axes", OpAttribute.Ints [| 0; 2; 3 |] ])))

/// conv1d as conv2d of height 1: x, w and λ given a unit axis 2, the attributes (1, v) and (0, p).
let private conv1dVjp: VjpGraph =
    perSlot (fun c j ->
        let x, w, l = c.Args[0], c.Args[1], c.Adjoint
        let a = c.Attributes
        let pairOf (name: string) (first: int) = name, OpAttribute.Ints [| first; (a.Ints name).Value[0] |]
        let attributes = [ pairOf "stride" 1; pairOf "padding" 0; pairOf "dilation" 1; "groups", OpAttribute.Int(a.Int "groups") ]
        let tall (t: NodeRef) = let d = t.Shape.Dims |> Array.ofSeq in c.Reshape(t, Shape.Of(d[0], d[1], 1, d[2]))
        match j with
        | 0 ->
            let size = OpAttribute.Ints [| 1; x.Shape.Dim 2 |]
            Some(c.Reshape(c.Apply("conv2d_input_grad", [| tall w; tall l |], attributes @ [ "size", size ]), x.Shape))
        | 1 ->
            let kernel = OpAttribute.Ints [| 1; w.Shape.Dim 2 |]
            Some(c.Reshape(c.Apply("conv2d_weight_grad", [| tall x; tall l |], attributes @ [ "kernel", kernel ]), w.Shape))
        | _ -> Some(c.Apply("sum", [| l |], [ "axes", OpAttribute.Ints [| 0; 2 |] ])))

/// conv2d_input_grad(w, λ), bilinear: w gets conv2d_weight_grad(μ, λ), λ gets conv2d(μ, w).
let private convInputGradVjp: VjpGraph =
    perSlot (fun c j ->
        let w, l, mu = c.Args[0], c.Args[1], c.Adjoint
        if j = 0 then Some(c.ApplyLike("conv2d_weight_grad", [| mu; l |], [ "size" ], [ "kernel", two w.Shape 2 ]))
        else Some(c.ApplyLike("conv2d", [| mu; w |], [ "size" ], [])))

/// conv2d_weight_grad(x, λ), bilinear: x gets conv2d_input_grad(ν, λ), λ gets conv2d(x, ν).
let private convWeightGradVjp: VjpGraph =
    perSlot (fun c j ->
        let x, l, nu = c.Args[0], c.Args[1], c.Adjoint
        if j = 0 then Some(c.ApplyLike("conv2d_input_grad", [| nu; l |], [ "kernel" ], [ "size", two x.Shape 2 ]))
        else Some(c.ApplyLike("conv2d", [| x; nu |], [ "kernel" ], [])))

/// An op of (x, t) linear in t and piecewise constant in x (max-pool's routing): x gets 0, t gets
/// `transpose`(x, λ) with the same attributes.
let private routingVjp (transpose: string) : VjpGraph =
    perSlot (fun c j -> if j = 0 then None else Some(c.ApplyLike(transpose, [| c.Args[0]; c.Adjoint |], [], [])))

let private table: IReadOnlyDictionary<string, VjpGraph> =
    let one (c: VjpNodes) = c.Const 1.0
    readOnlyDict [
        "add", binarySigned false
        "sub", binarySigned true
        "mul", binary (fun _ j a b _ -> Some(if j = 0 then b else a))
        "div", binary (fun c j _ b z -> Some(if j = 0 then c.Div(one c, b) else c.Neg(c.Div(z, b))))
        "pow", binary (fun c j a b z ->
            Some(if j = 0 then c.Mul(b, c.Apply("pow", [| a; c.Sub(b, one c) |], [])) else c.Mul(z, c.Unary("log", a))))
        "maximum", extremum true
        "minimum", extremum false
        "neg", unaryLinear (fun c -> c.Neg c.Adjoint)
        "scale", unaryLinear (fun c -> c.Scale(c.Adjoint, c.Attributes.Float "factor"))
        "square", unary (fun c x _ -> Some(c.Scale(x, 2.0)))
        "sigmoid", unary (fun c _ y -> Some(c.Mul(c.Sub(one c, y), y)))
        "tanh", unary (fun c _ y -> Some(c.Sub(one c, c.Unary("square", y))))
        "relu", unary (fun c _ y -> Some(c.Unary("sign", y)))
        "exp", unary (fun _ _ y -> Some y)
        "log", unary (fun c x _ -> Some(c.Div(one c, x)))
        "sin", unary (fun c x _ -> Some(c.Unary("cos", x)))
        "cos", unary (fun c x _ -> Some(c.Neg(c.Unary("sin", x))))
        "softplus", unary (fun c x _ -> Some(c.Unary("sigmoid", x)))
        "abs", unary (fun c x _ -> Some(c.Unary("sign", x)))
        "sqrt", unary (fun c _ y -> Some(c.Div(c.Const 0.5, y)))
        "rsqrt", unary (fun c _ y -> Some(c.Scale(c.Mul(c.Mul(y, y), y), -0.5)))
        "clamp", unary (fun c x _ ->
            // 1 − [x < lo] − [x > hi], each indicator a step of an exact difference.
            let a = c.Attributes
            let mutable d = one c
            if a.Has "min" then d <- c.Sub(d, step c (c.Sub(c.Const(a.Float "min"), x)))
            if a.Has "max" then d <- c.Sub(d, step c (c.Sub(x, c.Const(a.Float "max"))))
            Some d)
        "leaky_relu", unary (fun c x _ ->
            let s = step c x
            Some(c.Add(s, c.Scale(c.Sub(one c, s), c.Attributes.Float "alpha"))))
        "elu", unary (fun c x _ ->
            // s + (1 − s)·α e^min(x, 0): exp of a non-positive number cannot overflow where s = 1.
            let s = step c x
            let e = c.Scale(c.Unary("exp", c.Apply("minimum", [| x; c.Const 0.0 |], [])), c.Attributes.Float "alpha")
            Some(c.Add(s, c.Mul(c.Sub(one c, s), e))))
        "softsign", unary (fun c x _ -> Some(c.Div(one c, c.Unary("square", c.Add(one c, c.Unary("abs", x))))))
        "sign", unary (fun _ _ _ -> None)
        "gelu", unary (fun c x _ -> Some(geluDerivative c x))
        "erf", unary (fun c x _ -> Some(c.Scale(c.Unary("exp", c.Neg(c.Unary("square", x))), 1.12837916709551257390)))
        "matmul", matmulVjp
        "linear", linearVjp
        "addrow", binarySigned false
        "solve", solveVjp
        "sum", spreadVjp false
        "mean", spreadVjp true
        "sqnorm", perSlot (fun c _ -> Some(c.Mul(c.Args[0], c.Scale(c.Adjoint, 2.0))))
        "logsumexp", logSumExpVjp
        "var", varVjp
        "argmax", perSlot (fun _ _ -> None)
        "max", extremumVjp "max_mask"
        "min", extremumVjp "min_mask"
        "max_mask", perSlot (fun _ _ -> None)
        "min_mask", perSlot (fun _ _ -> None)
        "gather", gatherVjp
        "scatter_add", scatterAddVjp
        "one_hot", perSlot (fun _ _ -> None)
        "layer_norm", layerNormVjp
        "batch_norm", batchNormVjp
        "conv2d", conv2dVjp
        "conv1d", conv1dVjp
        "conv2d_input_grad", convInputGradVjp
        "conv2d_weight_grad", convWeightGradVjp
        "max_pool2d", perSlot (fun c _ -> Some(c.ApplyLike("max_pool2d_grad", [| c.Args[0]; c.Adjoint |], [], [])))
        "max_pool2d_grad", routingVjp "max_pool2d_pick"
        "max_pool2d_pick", routingVjp "max_pool2d_grad"
        "avg_pool2d", perSlot (fun c _ -> Some(c.ApplyLike("avg_pool2d_grad", [| c.Adjoint |], [], [ "size", two c.Args[0].Shape 2 ])))
        "avg_pool2d_grad", perSlot (fun c _ -> Some(c.ApplyLike("avg_pool2d", [| c.Adjoint |], [ "size" ], [])))
        "global_avg_pool", perSlot (fun c _ ->
            let x = c.Args[0]
            Some(c.BroadcastTo(c.Div(c.Adjoint, c.Const(double (x.Shape.Count / max 1 c.Out.Shape.Count))), x.Shape)))
        "softmax", softmaxVjp
        "log_softmax", logSoftmaxVjp
        "cross_entropy", crossEntropyVjp
        "mse", mseVjp
        "softmax_cross_entropy", softmaxCrossEntropyVjp
        "dropout", dropoutVjp
        "reshape", reshapeVjp
        "flatten", reshapeVjp
        "squeeze", reshapeVjp
        "unsqueeze", reshapeVjp
        "permute", permuteVjp
        // Swapping two axes is its own inverse: the node's own op.
        "transpose", perSlot (fun c _ -> Some(c.ApplyOp(c.Op, [| c.Adjoint |])))
        "broadcast_to", perSlot (fun c _ -> Some(c.Unbroadcast(c.Adjoint, c.Args[0].Shape)))
        "slice", sliceVjp
        "pad", padVjp
        "concat", concatVjp
        "split", splitVjp
        "where", whereVjp
    ]

/// The compute ops that have a VJP graph.
let covered = Catalogue.entries |> List.map _.Name |> List.filter table.ContainsKey

/// The compute ops that do not: none today (a new op without an entry is listed here, and refused by
/// name when an adjoint graph meets it).
let uncovered = Catalogue.entries |> List.map _.Name |> List.filter (table.ContainsKey >> not)

/// The VJP graph of an op, or an error naming the op and the node.
let find (op: Op) (node: string) : VjpGraph =
    match table.TryGetValue op.Name with
    | true, v -> v
    | _ ->
        raise (
            ArgumentException(
                $"node '{node}': op '{op.Name}' has no VJP graph yet, so the adjoint graph (HVP, JVP) cannot be built; "
                + $"""ops without one: {String.Join(", ", uncovered)}"""
            )
        )
