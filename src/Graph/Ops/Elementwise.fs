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

/// The sign of x: 1, −1, or x itself at ±0 and NaN.
let inline private signOf (x: double) = if x > 0.0 then 1.0 elif x < 0.0 then -1.0 else x

/// |x|; f′ = sign x (0 at 0, as PyTorch takes it).
[<Struct>]
type AbsRule =
    interface IUnaryRule with
        member _.F x = abs x
        member _.D(x, _) = signOf x

let abs = Unary("abs", AbsRule(), Reads.Argument) :> Op

/// √x; f′ = 1/(2y) (∞ at 0).
[<Struct>]
type SqrtRule =
    interface IUnaryRule with
        member _.F x = Math.Sqrt x
        member _.D(_, y) = 0.5 / y

let sqrt = Unary("sqrt", SqrtRule(), Reads.Output) :> Op

/// 1/√x; f′ = −y³/2.
[<Struct>]
type RsqrtRule =
    interface IUnaryRule with
        member _.F x = 1.0 / Math.Sqrt x
        member _.D(_, y) = -0.5 * (y * y * y)

let rsqrt = Unary("rsqrt", RsqrtRule(), Reads.Output) :> Op

/// min(max(x, lo), hi) (NaN stays NaN); f′ = 1 where lo ≤ x ≤ hi, bounds included as torch.clamp
/// takes them, else 0. An absent bound is ∓∞.
[<Struct>]
type ClampRule(lo: double, hi: double) =
    interface IUnaryRule with
        member _.F x = Math.Min(Math.Max(x, lo), hi)
        member _.D(x, _) = if lo <= x && x <= hi then 1.0 else 0.0

/// clamp to [lo, hi], either of them infinite for no bound.
let clamp (lo: double) (hi: double) =
    let bounds = ClampRule(lo, hi)
    Unary("clamp", bounds, Reads.Argument) :> Op

/// x where x > 0, else αx; f′ = 1 where x > 0, else α (α at 0, as PyTorch).
[<Struct>]
type LeakyReluRule(alpha: double) =
    interface IUnaryRule with
        member _.F x = if x > 0.0 then x else alpha * x
        member _.D(x, _) = if x > 0.0 then 1.0 else alpha

let leakyReluOf (alpha: double) = Unary("leaky_relu", LeakyReluRule alpha, Reads.Argument) :> Op
let private leakyRelu = leakyReluOf 0.01

/// x where x > 0, else α(eˣ − 1); f′ = 1 where x > 0, else α eˣ (α at 0, as PyTorch).
[<Struct>]
type EluRule(alpha: double) =
    interface IUnaryRule with
        member _.F x = if x > 0.0 then x else alpha * (Math.Exp x - 1.0)
        member _.D(x, _) = if x > 0.0 then 1.0 else alpha * Math.Exp x

let eluOf (alpha: double) = Unary("elu", EluRule alpha, Reads.Argument) :> Op
let private elu = eluOf 1.0

/// 1/√2 and 1/√(2π), as PyTorch's kernels write them (M_SQRT1_2, M_2_SQRTPI·M_SQRT1_2·0.5).
let private sqrtHalf = 0.70710678118654752440
let private invSqrt2Pi = 1.12837916709551257390 * 0.70710678118654752440 * 0.5

/// GELU's derivative Φ(x) + x φ(x), Φ through erfc so that it keeps its digits for negative x.
let private geluD (x: double) =
    0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-x * sqrtHalf) + x * (invSqrt2Pi * Math.Exp(-0.5 * x * x))

/// gelu x = x Φ(x) = (x/2) erfc(−x/√2), Φ the standard normal distribution; f′ = Φ(x) + x φ(x).
[<Struct>]
type GeluRule =
    interface IUnaryRule with
        member _.F x = 0.5 * x * MathNet.Numerics.SpecialFunctions.Erfc(-x * sqrtHalf)
        member _.D(x, _) = geluD x

/// √(2/π) and the cubic's coefficient of GELU's tanh form, as PyTorch's kernels write them.
let private geluBeta = 1.41421356237309504880 * 1.12837916709551257390 * 0.5
let private geluKappa = 0.044715

/// u = √(2/π)(x + 0.044715x³), the tanh form's inner argument.
let inline private geluInner (x: double) = geluBeta * (x + geluKappa * (x * x * x))

/// The tanh form's derivative σ(2u) + x·σ(2u)(1 − σ(2u))·2√(2/π)(1 + 3·0.044715x²), which is PyTorch's
/// (1 + t)/2 + (x/2)(1 − t²)·√(2/π)(1 + 3·0.044715x²), t = tanh u, written without its cancellation.
let private geluTanhD (x: double) =
    let s = 1.0 / (1.0 + Math.Exp(-2.0 * geluInner x))
    s + x * (s * (1.0 - s)) * (2.0 * geluBeta * (1.0 + 3.0 * geluKappa * (x * x)))

/// gelu's tanh approximation (x/2)(1 + tanh u) (PyTorch's approximate = "tanh"), computed as x·σ(2u), its
/// equal in real arithmetic: 1 + tanh u cancels where tanh u → −1 (6e-15 relative lost at x = −3, every
/// digit below x = −6), x·σ(2u) does not. f′ as `geluTanhD`.
[<Struct>]
type GeluTanhRule =
    interface IUnaryRule with
        member _.F x = x / (1.0 + Math.Exp(-2.0 * geluInner x))
        member _.D(x, _) = geluTanhD x

let private gelu = Unary("gelu", GeluRule(), Reads.Argument) :> Op
let private geluTanh () = Unary("gelu", GeluTanhRule(), Reads.Argument) :> Op

/// erf x = (2/√π) ∫₀ˣ e^(−t²) dt; f′ = (2/√π) e^(−x²). GELU's derivative Φ(x) = ½(1 + erf(x/√2)) is
/// written with it in the adjoint graph (VjpGraphs.fs).
[<Struct>]
type ErfRule =
    interface IUnaryRule with
        member _.F x = MathNet.Numerics.SpecialFunctions.Erf x
        member _.D(x, _) = 1.12837916709551257390 * Math.Exp(-(x * x))

let erf = Unary("erf", ErfRule(), Reads.Argument) :> Op

/// x/(1 + |x|); f′ = 1/(1 + |x|)².
[<Struct>]
type SoftsignRule =
    interface IUnaryRule with
        member _.F x = x / (1.0 + Math.Abs x)
        member _.D(x, _) = 1.0 / ((1.0 + Math.Abs x) * (1.0 + Math.Abs x))

let softsign = Unary("softsign", SoftsignRule(), Reads.Argument) :> Op

/// sign x: 1, −1, 0 (−0 at −0, NaN at NaN); f′ = 0 (PyTorch's zero gradient; it is 0 wherever defined).
[<Struct>]
type SignRule =
    interface IUnaryRule with
        member _.F x = signOf x
        member _.D(_, _) = 0.0

let sign = Unary("sign", SignRule(), Reads.Nothing) :> Op

/// max(a, b), NaN if either is; ∂/∂a = 1 where a > b, ∂/∂b = 1 where b > a, and ½ each at a tie, as
/// torch.maximum (a NaN on either side gives 1 to both, as there).
[<Struct>]
type MaximumRule =
    interface IBinaryRule with
        member _.F(a, b) = Math.Max(a, b)
        member _.Da(a, b, _) = if a = b then 0.5 else (if a < b then 0.0 else 1.0)
        member _.Db(a, b, _) = if a = b then 0.5 else (if a > b then 0.0 else 1.0)

let maximum = Binary("maximum", MaximumRule(), Reads.Argument) :> Op

/// min(a, b), NaN if either is; ∂/∂a = 1 where a < b, ∂/∂b = 1 where b < a, and ½ each at a tie, as
/// torch.minimum.
[<Struct>]
type MinimumRule =
    interface IBinaryRule with
        member _.F(a, b) = Math.Min(a, b)
        member _.Da(a, b, _) = if a = b then 0.5 else (if a > b then 0.0 else 1.0)
        member _.Db(a, b, _) = if a = b then 0.5 else (if a < b then 0.0 else 1.0)

let minimum = Binary("minimum", MinimumRule(), Reads.Argument) :> Op

/// A clamp bound from its attribute: a finite number, or ∓∞ when left out.
let private bound (a: Attributes) (name: string) (absent: double) =
    if not (a.Has name) then absent
    else
        let v = a.Float name
        if not (Double.IsFinite v) then raise (ArgumentException $"'{name}' must be a finite number (leave it out for no bound), got {OpAttribute.Float v}")
        v

let private clampEntry =
    { Name = "clamp"; Arity = "1"; MinArity = 1
      Attributes =
        [ { Spec.float "min" "the lower bound; none when left out" with Optional = true }
          { Spec.float "max" "the upper bound; none when left out" with Optional = true } ]
      Summary = "min(max(x, min), max) (derivative 1 where min ≤ x ≤ max, bounds included)"
      ShapeRule = "x: any shape → the same shape"
      Make =
        fun a ->
            if not (a.Has "min" || a.Has "max") then raise (ArgumentException "clamp needs 'min', 'max' or both")
            let lo, hi = bound a "min" Double.NegativeInfinity, bound a "max" Double.PositiveInfinity
            if lo > hi then raise (ArgumentException $"clamp needs min ≤ max, got min {OpAttribute.Float lo} and max {OpAttribute.Float hi}")
            clamp lo hi }

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
      Spec.fixedOp softplus "ln(1 + eˣ), stable for large |x|" unaryRule
      Spec.fixedOp abs "|x| (derivative 0 at 0)" unaryRule
      Spec.fixedOp sqrt "√x" unaryRule
      Spec.fixedOp rsqrt "1/√x" unaryRule
      clampEntry
      { Name = "leaky_relu"; Arity = "1"; MinArity = 1; Attributes = [ Spec.floatOr "alpha" 0.01 "the slope α for x ≤ 0" ]
        Summary = "x where x > 0, else αx"; ShapeRule = unaryRule
        Make = fun a -> if a.Given.Count = 0 then leakyRelu else leakyReluOf (a.Float "alpha") }
      { Name = "elu"; Arity = "1"; MinArity = 1; Attributes = [ Spec.floatOr "alpha" 1.0 "the scale α of eˣ − 1 for x ≤ 0" ]
        Summary = "x where x > 0, else α(eˣ − 1)"; ShapeRule = unaryRule
        Make = fun a -> if a.Given.Count = 0 then elu else eluOf (a.Float "alpha") }
      { Name = "gelu"; Arity = "1"; MinArity = 1
        Attributes = [ Spec.choiceOr "approximate" [ "none"; "tanh" ] "none" "'none': x Φ(x) exactly (erf); 'tanh': PyTorch's tanh approximation" ]
        Summary = "x Φ(x), Φ the standard normal distribution (or its tanh approximation)"; ShapeRule = unaryRule
        Make = fun a -> if a.Text "approximate" = "tanh" then geluTanh () else gelu }
      Spec.fixedOp erf "the error function (2/√π) ∫₀ˣ e^(−t²) dt" unaryRule
      Spec.fixedOp softsign "x/(1 + |x|)" unaryRule
      Spec.fixedOp sign "sign x (zero derivative)" unaryRule
      Spec.fixedOp maximum "max(a, b) (½ of λ to each at a tie)" binaryRule
      Spec.fixedOp minimum "min(a, b) (½ of λ to each at a tie)" binaryRule ]
