/// Element-wise ops. Each states its forward and its derivative once, as array kernels over
/// System.Numerics.Tensors.TensorPrimitives; the VJP of a unary op is λ ⊙ f′.
module Adjoint.Ops.Elementwise

open System.Collections.Generic
open Adjoint
open Adjoint.Kernels

/// y = f(x) element-wise; `vjp x y λ dest` writes λ ⊙ f′(x) (reading x or y, whichever is cheaper).
[<Sealed>]
type UnaryOp
    (
        name: string,
        forward: double[] -> double[] -> unit,
        vjp: double[] -> double[] -> double[] -> double[] -> unit,
        readsArgs: bool,
        readsOutput: bool,
        ?attributes: IReadOnlyDictionary<string, double>
    ) =
    inherit Op(name, 1, OpKind.Compute)
    override _.Shape shapes = Ok shapes[0]
    override _.Forward(args, out) = forward args[0].Data out.Data
    override _.Vjp(args, out, adjoint, _, dest) = vjp args[0].Data out.Data adjoint.Data dest.Data
    override _.VjpReadsArgs = readsArgs
    override _.VjpReadsOutput = readsOutput
    override this.Attributes = defaultArg attributes base.Attributes

/// z = f(a, b) element-wise on equal shapes; `vjp slot a b z λ dest` writes λ ∂f/∂(a or b).
[<Sealed>]
type BinaryOp
    (
        name: string,
        forward: double[] -> double[] -> double[] -> unit,
        vjp: int -> double[] -> double[] -> double[] -> double[] -> double[] -> unit,
        readsArgs: bool,
        readsOutput: bool
    ) =
    inherit Op(name, 2, OpKind.Compute)
    override _.Shape shapes = OpHelpers.sameShape name shapes
    override _.Forward(args, out) = forward args[0].Data args[1].Data out.Data
    override _.Vjp(args, out, adjoint, slot, dest) =
        vjp slot args[0].Data args[1].Data out.Data adjoint.Data dest.Data
    override _.VjpReadsArgs = readsArgs
    override _.VjpReadsOutput = readsOutput

/// a + b; λ_a = λ, λ_b = λ.
let add =
    BinaryOp("add", (fun a b z -> Vec.add a b z), (fun _ _ _ _ l d -> Vec.copy l d), false, false) :> Op

/// a − b; λ_a = λ, λ_b = −λ.
let sub =
    BinaryOp(
        "sub",
        (fun a b z -> Vec.sub a b z),
        (fun slot _ _ _ l d -> if slot = 0 then Vec.copy l d else Vec.neg l d),
        false,
        false
    )
    :> Op

/// a ⊙ b; λ_a = λ ⊙ b, λ_b = λ ⊙ a.
let mul =
    BinaryOp(
        "mul",
        (fun a b z -> Vec.mul a b z),
        (fun slot a b _ l d -> Vec.mul l (if slot = 0 then b else a) d),
        true,
        false
    )
    :> Op

/// a ⊘ b; λ_a = λ ⊘ b, λ_b = −λ ⊙ z ⊘ b (z = a ⊘ b).
let div =
    BinaryOp(
        "div",
        (fun a b z -> Vec.div a b z),
        (fun slot _ b z l d ->
            Vec.div l b d
            if slot = 1 then
                Vec.mul d z d
                Vec.neg d d),
        true,
        true
    )
    :> Op

/// −x; λ_x = −λ.
let neg =
    UnaryOp("neg", (fun x y -> Vec.neg x y), (fun _ _ l d -> Vec.neg l d), false, false)
    :> Op

/// c·x; λ_x = c·λ.
let scale (factor: double) =
    let attributes = Dictionary<string, double>(dict [ "factor", factor ]) :> IReadOnlyDictionary<_, _>
    UnaryOp(
        "scale",
        (fun x y -> Vec.scale factor x y),
        (fun _ _ l d -> Vec.scale factor l d),
        false,
        false,
        attributes
    )
    :> Op

/// x²; λ_x = 2x ⊙ λ.
let square =
    UnaryOp(
        "square",
        (fun x y -> Vec.mul x x y),
        (fun x _ l d ->
            Vec.mul x l d
            Vec.scale 2.0 d d),
        true,
        false
    )
    :> Op

/// σ(x) = 1/(1+e⁻ˣ); λ_x = λ ⊙ y ⊙ (1 − y), from the stored output.
let sigmoid =
    UnaryOp(
        "sigmoid",
        (fun x y -> Vec.sigmoid x y),
        (fun _ y l d ->
            Vec.subFrom 1.0 y d
            Vec.mul d y d
            Vec.mul d l d),
        false,
        true
    )
    :> Op

/// tanh x; λ_x = λ ⊙ (1 − y²), from the stored output.
let tanh =
    UnaryOp(
        "tanh",
        (fun x y -> Vec.tanh x y),
        (fun _ y l d ->
            Vec.mul y y d
            Vec.subFrom 1.0 d d
            Vec.mul d l d),
        false,
        true
    )
    :> Op

/// max(x, 0); λ_x = λ where x > 0, else 0.
let relu =
    UnaryOp(
        "relu",
        (fun x y -> Vec.maxWith 0.0 x y),
        (fun x _ l d ->
            for k in 0 .. x.Length - 1 do
                d[k] <- if x[k] > 0.0 then l[k] else 0.0),
        true,
        false
    )
    :> Op

/// eˣ; λ_x = λ ⊙ y.
let exp =
    UnaryOp("exp", (fun x y -> Vec.exp x y), (fun _ y l d -> Vec.mul l y d), false, true)
    :> Op

/// ln x; λ_x = λ ⊘ x.
let log =
    UnaryOp("log", (fun x y -> Vec.log x y), (fun x _ l d -> Vec.div l x d), true, false)
    :> Op

/// sin x; λ_x = λ ⊙ cos x.
let sin =
    UnaryOp(
        "sin",
        (fun x y -> Vec.sin x y),
        (fun x _ l d ->
            Vec.cos x d
            Vec.mul d l d),
        true,
        false
    )
    :> Op

/// cos x; λ_x = −λ ⊙ sin x.
let cos =
    UnaryOp(
        "cos",
        (fun x y -> Vec.cos x y),
        (fun x _ l d ->
            Vec.sin x d
            Vec.mul d l d
            Vec.neg d d),
        true,
        false
    )
    :> Op
