/// Element-wise ops. Each states its forward and derivative side by side in two forms: on one element
/// (the scalar kernel, and the only path 1×1 values take) and on whole arrays (TensorPrimitives, or a
/// fused kernel where one pass replaces several). The VJP of a unary op is λ ⊙ f′.
///
/// Each op is a sealed type, so that the engine, knowing a node's op type from its plan, calls the
/// scalar kernels directly (inlined) rather than through a virtual call.
module Adjoint.Ops.Elementwise

open System
open System.Collections.Generic
open Adjoint
open Adjoint.Kernels

/// z = f(a) or z = f(a, b) element-wise on equal shapes.
[<AbstractClass>]
type ElementwiseOp(name: string, arity: int, readsArgs: bool, readsOutput: bool) =
    inherit Op(name, arity, OpKind.Compute)

    /// z = f(a, b) over whole arrays (`b` is null for a unary op); `z` may be `a` or `b`.
    abstract ForwardArray: a: double[] * b: double[] * z: double[] -> unit

    /// dest = λ ∂f/∂(argument `slot`) over whole arrays.
    abstract VjpArray: slot: int * a: double[] * b: double[] * z: double[] * adjoint: double[] * dest: double[] -> unit

    override _.Shape shapes = if arity = 1 then Ok shapes[0] else OpHelpers.sameShape name shapes

    /// Whether the VJP on 1×1 values is `Partial(a, b, z, slot) * λ` and nothing else: then an engine may
    /// compute the partial in the forward pass and, in the backward pass, only multiply, and get the
    /// same bits as `VjpScalar` (which such an op leaves as defined here, through `Partial`).
    abstract HasPartial: bool
    default _.HasPartial = false

    /// ∂f/∂(argument `slot`) on 1×1 arguments `a`, `b` and value `z`, for an op with `HasPartial`.
    abstract Partial: a: double * b: double * z: double * slot: int -> double
    default _.Partial(_, _, _, _) = invalidOp $"op '{name}' has no partial"

    /// `Partial(a, b, z, slot) * λ`, for an op with `HasPartial` (the others override it).
    override this.VjpScalar(a, b, z, l, slot) = this.Partial(a, b, z, slot) * l

    override _.HasScalarKernel = true
    override _.VjpReadsArgs = readsArgs
    override _.VjpReadsOutput = readsOutput

    override this.Forward(args, out) =
        let a = args[0].Data
        let b = if arity = 2 then args[1].Data else null
        if out.Count = 1 then out.Data[0] <- this.ForwardScalar(a[0], (if arity = 2 then b[0] else 0.0))
        else this.ForwardArray(a, b, out.Data)

    override this.Vjp(args, out, adjoint, slot, dest) =
        let a = args[0].Data
        let b = if arity = 2 then args[1].Data else null
        if dest.Count = 1 then
            dest.Data[0] <- this.VjpScalar(a[0], (if arity = 2 then b[0] else 0.0), out.Data[0], adjoint.Data[0], slot)
        else this.VjpArray(slot, a, b, out.Data, adjoint.Data, dest.Data)

/// a + b; λ_a = λ, λ_b = λ.
[<Sealed>]
type Add() =
    inherit ElementwiseOp("add", 2, false, false)
    override _.ForwardScalar(a, b) = a + b
    override _.HasPartial = true
    override _.Partial(_, _, _, _) = 1.0
    // 1 · λ is λ, bit for bit (NaN included).
    override _.VjpScalar(_, _, _, l, _) = l
    override _.ForwardArray(a, b, z) = Vec.add a b z
    override _.VjpArray(_, _, _, _, l, d) = Vec.copy l d

let add = Add() :> Op

/// a − b; λ_a = λ, λ_b = −λ.
[<Sealed>]
type Sub() =
    inherit ElementwiseOp("sub", 2, false, false)
    override _.ForwardScalar(a, b) = a - b
    override _.VjpScalar(_, _, _, l, slot) = if slot = 0 then l else -l
    override _.ForwardArray(a, b, z) = Vec.sub a b z
    override _.VjpArray(slot, _, _, _, l, d) = if slot = 0 then Vec.copy l d else Vec.neg l d

let sub = Sub() :> Op

/// a ⊙ b; λ_a = λ ⊙ b, λ_b = λ ⊙ a.
[<Sealed>]
type Mul() =
    inherit ElementwiseOp("mul", 2, true, false)
    override _.ForwardScalar(a, b) = a * b
    override _.HasPartial = true
    override _.Partial(a, b, _, slot) = if slot = 0 then b else a
    override _.ForwardArray(a, b, z) = Vec.mul a b z
    override _.VjpArray(slot, a, b, _, l, d) = Vec.mul l (if slot = 0 then b else a) d

let mul = Mul() :> Op

/// a ⊘ b; λ_a = λ ⊘ b, λ_b = −(λ ⊘ b) ⊙ z (z = a ⊘ b).
[<Sealed>]
type Div() =
    inherit ElementwiseOp("div", 2, true, true)
    override _.ForwardScalar(a, b) = a / b
    override _.VjpScalar(_, b, z, l, slot) = if slot = 0 then l / b else -(l / b * z)
    override _.ForwardArray(a, b, z) = Vec.div a b z
    override _.VjpArray(slot, _, b, z, l, d) = if slot = 0 then Vec.div l b d else Vec.divVjpDenominator l b z d

let div = Div() :> Op

/// −x; λ_x = −λ.
[<Sealed>]
type Neg() =
    inherit ElementwiseOp("neg", 1, false, false)
    override _.ForwardScalar(x, _) = -x
    override _.VjpScalar(_, _, _, l, _) = -l
    override _.ForwardArray(x, _, y) = Vec.neg x y
    override _.VjpArray(_, _, _, _, l, d) = Vec.neg l d

let neg = Neg() :> Op

/// c·x; λ_x = c·λ.
[<Sealed>]
type Scale(factor: double) =
    inherit ElementwiseOp("scale", 1, false, false)
    let attributes = Dictionary<string, double>(dict [ "factor", factor ]) :> IReadOnlyDictionary<_, _>
    override _.Attributes = attributes
    override _.ForwardScalar(x, _) = x * factor
    override _.HasPartial = true
    override _.Partial(_, _, _, _) = factor
    override _.ForwardArray(x, _, y) = Vec.scale factor x y
    override _.VjpArray(_, _, _, _, l, d) = Vec.scale factor l d

let scale (factor: double) = Scale factor :> Op

/// x²; λ_x = 2x ⊙ λ.
[<Sealed>]
type Square() =
    inherit ElementwiseOp("square", 1, true, false)
    override _.ForwardScalar(x, _) = x * x
    override _.VjpScalar(x, _, _, l, _) = x * l * 2.0
    override _.ForwardArray(x, _, y) = Vec.mul x x y
    override _.VjpArray(_, x, _, _, l, d) = Vec.mulScale 2.0 x l d

let square = Square() :> Op

/// σ(x) = 1/(1+e⁻ˣ); λ_x = λ ⊙ y ⊙ (1 − y), from the stored output in one fused pass.
[<Sealed>]
type Sigmoid() =
    inherit ElementwiseOp("sigmoid", 1, false, true)
    override _.ForwardScalar(x, _) = 1.0 / (1.0 + Math.Exp(-x))
    override _.HasPartial = true
    override _.Partial(_, _, y, _) = (1.0 - y) * y
    override _.ForwardArray(x, _, y) = Vec.sigmoid x y
    override _.VjpArray(_, _, _, y, l, d) = Vec.sigmoidVjp y l d

let sigmoid = Sigmoid() :> Op

/// tanh x; λ_x = λ ⊙ (1 − y²), from the stored output in one fused pass.
[<Sealed>]
type Tanh() =
    inherit ElementwiseOp("tanh", 1, false, true)
    override _.ForwardScalar(x, _) = Math.Tanh x
    override _.HasPartial = true
    override _.Partial(_, _, y, _) = 1.0 - y * y
    override _.ForwardArray(x, _, y) = Vec.tanh x y
    override _.VjpArray(_, _, _, y, l, d) = Vec.tanhVjp y l d

let tanh = Tanh() :> Op

/// max(x, 0); λ_x = λ where x > 0, else 0.
[<Sealed>]
type Relu() =
    inherit ElementwiseOp("relu", 1, true, false)
    override _.ForwardScalar(x, _) = Math.Max(x, 0.0)
    override _.VjpScalar(x, _, _, l, _) = if x > 0.0 then l else 0.0
    override _.ForwardArray(x, _, y) = Vec.maxWith 0.0 x y
    override _.VjpArray(_, x, _, _, l, d) = Vec.reluVjp x l d

let relu = Relu() :> Op

/// eˣ; λ_x = λ ⊙ y.
[<Sealed>]
type Exp() =
    inherit ElementwiseOp("exp", 1, false, true)
    override _.ForwardScalar(x, _) = Math.Exp x
    override _.HasPartial = true
    override _.Partial(_, _, y, _) = y
    override _.ForwardArray(x, _, y) = Vec.exp x y
    override _.VjpArray(_, _, _, y, l, d) = Vec.mul l y d

let exp = Exp() :> Op

/// ln x; λ_x = λ ⊘ x.
[<Sealed>]
type Log() =
    inherit ElementwiseOp("log", 1, true, false)
    override _.ForwardScalar(x, _) = Math.Log x
    override _.VjpScalar(x, _, _, l, _) = l / x
    override _.ForwardArray(x, _, y) = Vec.log x y
    override _.VjpArray(_, x, _, _, l, d) = Vec.div l x d

let log = Log() :> Op

/// sin x; λ_x = λ ⊙ cos x.
[<Sealed>]
type Sin() =
    inherit ElementwiseOp("sin", 1, true, false)
    override _.ForwardScalar(x, _) = Math.Sin x
    override _.HasPartial = true
    override _.Partial(x, _, _, _) = Math.Cos x
    override _.ForwardArray(x, _, y) = Vec.sin x y
    override _.VjpArray(_, x, _, _, l, d) =
        Vec.cos x d
        Vec.mul d l d

let sin = Sin() :> Op

/// cos x; λ_x = −λ ⊙ sin x.
[<Sealed>]
type Cos() =
    inherit ElementwiseOp("cos", 1, true, false)
    override _.ForwardScalar(x, _) = Math.Cos x
    override _.HasPartial = true
    override _.Partial(x, _, _, _) = -(Math.Sin x)
    override _.ForwardArray(x, _, y) = Vec.cos x y
    override _.VjpArray(_, x, _, _, l, d) =
        Vec.sin x d
        Vec.mulNeg d l d

let cos = Cos() :> Op
