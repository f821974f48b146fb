/// The element-wise ops, each stated once: f and its derivative on single elements, in a struct rule
/// from which Ops/Pointwise.fs derives every path. Binary ops broadcast by NumPy's rules.
module Adjoint.Ops.Elementwise

open System
open System.Collections.Generic
open Adjoint
open Adjoint.Kernels
open Adjoint.Ops.Pointwise

/// a + b; ∂/∂a = 1, ∂/∂b = 1.
[<Struct>]
type AddRule =
    interface IBinaryRule with
        member _.F(a, b) = a + b
        member _.Da(_, _, _) = 1.0
        member _.Db(_, _, _) = 1.0

let add = Binary("add", AddRule(), Reads.Nothing, Action<_, _, _>(Vec.add)) :> Op

/// a − b; ∂/∂a = 1, ∂/∂b = −1.
[<Struct>]
type SubRule =
    interface IBinaryRule with
        member _.F(a, b) = a - b
        member _.Da(_, _, _) = 1.0
        member _.Db(_, _, _) = -1.0

let sub = Binary("sub", SubRule(), Reads.Nothing, Action<_, _, _>(Vec.sub)) :> Op

/// a ⊙ b; ∂/∂a = b, ∂/∂b = a.
[<Struct>]
type MulRule =
    interface IBinaryRule with
        member _.F(a, b) = a * b
        member _.Da(_, b, _) = b
        member _.Db(a, _, _) = a

let mul = Binary("mul", MulRule(), Reads.Argument, Action<_, _, _>(Vec.mul)) :> Op

/// a ⊘ b; ∂/∂a = 1/b, ∂/∂b = −z/b.
[<Struct>]
type DivRule =
    interface IBinaryRule with
        member _.F(a, b) = a / b
        member _.Da(_, b, _) = 1.0 / b
        member _.Db(_, b, z) = -(z / b)

let div = Binary("div", DivRule(), Reads.Both, Action<_, _, _>(Vec.div)) :> Op

/// aᵇ; ∂/∂a = b·aᵇ⁻¹, ∂/∂b = z·ln a (0 where a = 0 and b ≥ 0, as PyTorch takes it: the limit along a > 0).
[<Struct>]
type PowRule =
    interface IBinaryRule with
        member _.F(a, b) = Math.Pow(a, b)
        member _.Da(a, b, _) = if b = 0.0 then 0.0 else b * Math.Pow(a, b - 1.0)
        member _.Db(a, b, z) = if a = 0.0 && b >= 0.0 then 0.0 else z * Math.Log a

let pow = Binary("pow", PowRule(), Reads.Both) :> Op

/// −x; f′ = −1.
[<Struct>]
type NegRule =
    interface IUnaryRule with
        member _.F x = -x
        member _.D(_, _) = -1.0

let neg = Unary("neg", NegRule(), Reads.Nothing, Action<_, _>(Vec.neg), null) :> Op

/// c·x; f′ = c.
[<Struct>]
type ScaleRule(factor: double) =
    interface IUnaryRule with
        member _.F x = x * factor
        member _.D(_, _) = factor

let scale (factor: double) =
    let op = Unary("scale", ScaleRule factor, Reads.Nothing, Action<_, _>(Vec.scale factor), null) :> Op
    op.Attributes <- dict [ "factor", OpAttribute.Float factor ] |> Dictionary :> IReadOnlyDictionary<_, _>
    op

/// x²; f′ = 2x.
[<Struct>]
type SquareRule =
    interface IUnaryRule with
        member _.F x = x * x
        member _.D(x, _) = 2.0 * x

let square = Unary("square", SquareRule(), Reads.Argument) :> Op

/// σ(x) = 1/(1+e⁻ˣ); f′ = (1 − y) y from the stored output. The array forward is TensorPrimitives'
/// (bench P1), and the VJP a vectorised pass with the derived bits.
[<Struct>]
type SigmoidRule =
    interface IUnaryRule with
        member _.F x = 1.0 / (1.0 + Math.Exp(-x))
        member _.D(_, y) = (1.0 - y) * y

let sigmoid = Unary("sigmoid", SigmoidRule(), Reads.Output, Action<_, _>(Vec.sigmoid), Action<_, _, _>(Vec.sigmoidVjp)) :> Op

/// tanh x; f′ = 1 − y².
[<Struct>]
type TanhRule =
    interface IUnaryRule with
        member _.F x = Math.Tanh x
        member _.D(_, y) = 1.0 - y * y

let tanh = Unary("tanh", TanhRule(), Reads.Output) :> Op

/// max(x, 0); f′ = 1 where x > 0, else 0.
[<Struct>]
type ReluRule =
    interface IUnaryRule with
        member _.F x = Math.Max(x, 0.0)
        member _.D(x, _) = if x > 0.0 then 1.0 else 0.0

let relu = Unary("relu", ReluRule(), Reads.Argument) :> Op

/// eˣ; f′ = y.
[<Struct>]
type ExpRule =
    interface IUnaryRule with
        member _.F x = Math.Exp x
        member _.D(_, y) = y

let exp = Unary("exp", ExpRule(), Reads.Output) :> Op

/// ln x; f′ = 1/x.
[<Struct>]
type LogRule =
    interface IUnaryRule with
        member _.F x = Math.Log x
        member _.D(x, _) = 1.0 / x

let log = Unary("log", LogRule(), Reads.Argument) :> Op

/// sin x; f′ = cos x.
[<Struct>]
type SinRule =
    interface IUnaryRule with
        member _.F x = Math.Sin x
        member _.D(x, _) = Math.Cos x

let sin = Unary("sin", SinRule(), Reads.Argument) :> Op

/// cos x; f′ = −sin x.
[<Struct>]
type CosRule =
    interface IUnaryRule with
        member _.F x = Math.Cos x
        member _.D(x, _) = -(Math.Sin x)

let cos = Unary("cos", CosRule(), Reads.Argument) :> Op

/// softplus x = ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^−|x|) so that it neither overflows nor
/// loses small values; f′ = σ(x).
[<Struct>]
type SoftplusRule =
    interface IUnaryRule with
        member _.F x = Math.Max(x, 0.0) + Math.Log(1.0 + Math.Exp(-(abs x)))
        member _.D(x, _) = 1.0 / (1.0 + Math.Exp(-x))

let softplus = Unary("softplus", SoftplusRule(), Reads.Argument) :> Op

let private unaryRule = "x: any shape → the same shape"
let private binaryRule = "a, b: shapes that broadcast (NumPy) → the broadcast shape"

/// The element-wise ops' catalogue entries.
let entries =
    [ Spec.fixedOp add "a + b" binaryRule
      Spec.fixedOp sub "a − b" binaryRule
      Spec.fixedOp mul "a ⊙ b" binaryRule
      Spec.fixedOp div "a ⊘ b" binaryRule
      Spec.fixedOp pow "aᵇ (∂/∂b taken as 0 where a = 0, b ≥ 0)" binaryRule
      Spec.fixedOp neg "−x" unaryRule
      { Name = "scale"; Arity = "1"; MinArity = 1; Attributes = [ Spec.float "factor" "the constant c" ]
        Summary = "c·x"; ShapeRule = unaryRule; Make = fun a -> scale (a.Float "factor") }
      Spec.fixedOp square "x²" unaryRule
      Spec.fixedOp sigmoid "σ(x) = 1/(1 + e⁻ˣ)" unaryRule
      Spec.fixedOp tanh "tanh x" unaryRule
      Spec.fixedOp relu "max(x, 0) (derivative 0 at 0)" unaryRule
      Spec.fixedOp exp "eˣ" unaryRule
      Spec.fixedOp log "ln x" unaryRule
      Spec.fixedOp sin "sin x" unaryRule
      Spec.fixedOp cos "cos x" unaryRule
      Spec.fixedOp softplus "ln(1 + eˣ), stable for large |x|" unaryRule ]
