/// Rows of the ops in src/Graph/Ops/Nn.fs.
module Adjoint.OpTable.Rows.Nn

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let private axis (k: int) = [ "axis", OpAttribute.Int k ]

/// Every axis variant of softmax and log_softmax: the default (last), rank 0, a first, middle and
/// negative axis.
let private softmaxClasses =
    [ cls "rank 0" [ [] ]; cls "1x1" [ [ 1; 1 ] ]; cls "vector" [ [ 4 ] ]; cls "matrix" [ [ 3; 4 ] ]
      clsWith "matrix axis 0" [ [ 3; 4 ] ] (axis 0); clsWith "rank 3 axis 1" [ [ 2; 3; 4 ] ] (axis 1)
      clsWith "rank 3 axis -3" [ [ 2; 3; 4 ] ] (axis -3); clsWith "rank 4 axis -2" [ [ 2; 3; 2; 2 ] ] (axis -2) ]

let private labelled = [ ElementType.Float64; ElementType.Int64 ]
let private reduction (r: string) = "reduction", OpAttribute.Text r

/// cross_entropy: labels (int64) and probabilities, (C), (N, C) and (N, C, d) logits, each reduction,
/// ignore_index and label smoothing.
let private crossEntropyClasses =
    [ clsTyped "labels (C)" [ [ 5 ]; [] ] [] labelled
      clsTyped "labels 3x5" [ [ 3; 5 ]; [ 3 ] ] [] labelled
      clsTyped "labels 2x4x3" [ [ 2; 4; 3 ]; [ 2; 3 ] ] [] labelled
      clsTyped "labels 2x3x2x2 sum" [ [ 2; 3; 2; 2 ]; [ 2; 2; 2 ] ] [ reduction "sum" ] labelled
      clsTyped "labels 3x5 none" [ [ 3; 5 ]; [ 3 ] ] [ reduction "none" ] labelled
      clsTyped "labels 6x3 ignore 1" [ [ 6; 3 ]; [ 6 ] ] [ "ignore_index", OpAttribute.Int 1 ] labelled
      clsTyped "labels 6x3 ignore 1 none" [ [ 6; 3 ]; [ 6 ] ] [ "ignore_index", OpAttribute.Int 1; reduction "none" ] labelled
      clsTyped "labels 3x5 smoothing" [ [ 3; 5 ]; [ 3 ] ] [ "label_smoothing", OpAttribute.Float 0.2 ] labelled
      clsTyped "labels 2x4x3 smoothing sum" [ [ 2; 4; 3 ]; [ 2; 3 ] ] [ "label_smoothing", OpAttribute.Float 0.1; reduction "sum" ] labelled
      cls "probabilities (C)" [ [ 4 ]; [ 4 ] ]
      cls "probabilities 3x4" [ [ 3; 4 ]; [ 3; 4 ] ]
      cls "probabilities 2x3x2" [ [ 2; 3; 2 ]; [ 2; 3; 2 ] ]
      clsWith "probabilities 3x4 none" [ [ 3; 4 ]; [ 3; 4 ] ] [ reduction "none" ]
      clsWith "probabilities 2x3x2 sum smoothing" [ [ 2; 3; 2 ]; [ 2; 3; 2 ] ] [ reduction "sum"; "label_smoothing", OpAttribute.Float 0.3 ] ]

/// Logits in [−2, 2); labels below the class count (axis 1, or 0 for a vector); probabilities in [0.1, 1).
let private crossEntropyValues (d: Draw) =
    if d.Slot = 0 then within -2.0 2.0 d
    elif d.Class.TypeOf 1 = ElementType.Int64 then
        let logits = d.Class.Shapes[0]
        integersBelow d.Random (logits.Dim(if logits.Rank >= 2 then 1 else 0)) d.Shape
    else within 0.1 1.0 d

let private p (x: double) = "p", OpAttribute.Float x

let rows: Row list =
    [ Compute("softmax", softmaxClasses, within -2.0 2.0)
      Compute("log_softmax", softmaxClasses, within -2.0 2.0)
      Compute("cross_entropy", crossEntropyClasses, crossEntropyValues)
      Compute("mse", [ cls "rank 0" [ []; [] ]; cls "3x4" [ [ 3; 4 ]; [ 3; 4 ] ]
                       clsWith "2x3x2 sum" [ [ 2; 3; 2 ]; [ 2; 3; 2 ] ] [ reduction "sum" ]
                       clsWith "3x4 none" [ [ 3; 4 ]; [ 3; 4 ] ] [ reduction "none" ] ], u)
      Compute("dropout", [ cls "3x4" [ [ 3; 4 ] ]; clsWith "rank 0 p 0.3" [ [] ] [ p 0.3 ]
                           clsTyped "2x3x4 with key" [ [ 2; 3; 4 ]; [] ] [ p 0.4; "seed", OpAttribute.Int 7 ] labelled
                           clsWith "3x4 not training" [ [ 3; 4 ] ] [ "training", OpAttribute.Bool false ]
                           clsWith "3x4 p 0" [ [ 3; 4 ] ] [ p 0.0 ]; clsWith "3x4 p 1" [ [ 3; 4 ] ] [ p 1.0 ] ],
              bySlot u (fun d -> integersBelow d.Random 1000 d.Shape)) ]
