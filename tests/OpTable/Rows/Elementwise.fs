/// Rows of the element-wise ops: every unary or binary class (broadcast pairs included).
module Adjoint.OpTable.Rows.Elementwise

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

/// The unary classes with the attribute sets of `variants` in turn, so that each variant meets a
/// one-element class (the engine's unboxed path) and array classes.
let private cycling (variants: (string * OpAttribute) list list) =
    unaryClasses |> List.mapi (fun i c -> { c with Attributes = variants[i % variants.Length] })

/// Uniform in [lo, hi) but at least `margin` from each of `points` (a clamp's bounds), so that neither a
/// finite-difference step nor a random graph's nudge of 0.01 crosses one.
let private awayFrom (points: double list) margin lo hi =
    fun (d: Draw) ->
        tensorOfShape d.Shape (fun () ->
            let mutable v = uniform d.Random lo hi
            while points |> List.exists (fun p -> abs (v - p) < margin) do
                v <- uniform d.Random lo hi
            v)

/// Values on a grid 0.2 apart for slot 0 and the grid shifted by 0.1 for slot 1 (jittered by < 0.05):
/// any two meet at least 0.05 apart, either one larger (maximum and minimum away from their ties).
let private interleaved =
    fun (d: Draw) ->
        let offset = if d.Slot = 0 then 0.0 else 0.1
        tensorOfShape d.Shape (fun () -> 0.2 * double (d.Random.Next(-5, 5)) + offset + uniform d.Random 0.0 0.05)

let private f (name: string) (v: double) = name, OpAttribute.Float v

let rows: Row list =
    [ Compute("add", binaryClasses, u)
      Compute("sub", binaryClasses, u)
      Compute("mul", binaryClasses, u)
      Compute("div", binaryClasses, bySlot u (away 0.5 2.0))
      Compute("pow", binaryClasses, bySlot (within 0.5 2.0) (within -2.0 2.0))
      Compute("neg", unaryClasses, u)
      Compute("scale", unaryWith [ "factor", OpAttribute.Float -2.5 ], u)
      Compute("square", unaryClasses, within -2.0 2.0)
      Compute("sigmoid", unaryClasses, within -3.0 3.0)
      Compute("tanh", unaryClasses, within -2.0 2.0)
      Compute("relu", unaryClasses, away 0.1 2.0)
      Compute("exp", unaryClasses, u)
      Compute("log", unaryClasses, within 0.5 3.0)
      Compute("sin", unaryClasses, within -3.0 3.0)
      Compute("cos", unaryClasses, within -3.0 3.0)
      Compute("softplus", unaryClasses, within -4.0 4.0)
      Compute("abs", unaryClasses, away 0.1 2.0)
      Compute("sqrt", unaryClasses, within 0.5 3.0)
      Compute("rsqrt", unaryClasses, within 0.5 3.0)
      Compute("clamp", cycling [ [ f "min" -0.5 ]; [ f "max" 0.5 ]; [ f "min" -0.5; f "max" 0.5 ] ], awayFrom [ -0.5; 0.5 ] 0.05 -1.0 1.0)
      Compute("leaky_relu", cycling [ []; [ f "alpha" 0.2 ] ], away 0.1 2.0)
      Compute("elu", cycling [ []; [ f "alpha" 0.5 ] ], away 0.1 2.0)
      Compute("gelu", cycling [ []; [ "approximate", OpAttribute.Text "tanh" ] ], within -3.0 3.0)
      Compute("erf", unaryClasses, within -2.5 2.5)
      Compute("softsign", unaryClasses, within -3.0 3.0)
      Compute("sign", unaryClasses, away 0.1 2.0)
      Compute("maximum", binaryClasses, interleaved)
      Compute("minimum", binaryClasses, interleaved) ]
