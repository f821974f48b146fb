/// Rows of the element-wise ops: every unary or binary class (broadcast pairs included).
module Adjoint.OpTable.Rows.Elementwise

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row

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
      Compute("softplus", unaryClasses, within -4.0 4.0) ]
