/// Rows of the ops in src/Graph/Ops/Conv.fs.
module Adjoint.OpTable.Rows.Conv

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let private ints (values: int list) = OpAttribute.Ints(Array.ofList values)

/// conv2d's classes of arguments (x, w) and attributes, as (shapes, attributes): the grad ops are checked
/// on the same windows.
let private convClasses =
    [ "1x1x4x4 * 2x1x3x3", [ 1; 1; 4; 4 ], [ 2; 1; 3; 3 ], []
      "stride 2, padding 1, non-square", [ 2; 3; 5; 6 ], [ 2; 3; 3; 2 ], [ "stride", ints [ 2 ]; "padding", ints [ 1 ] ]
      "stride (2, 1), padding (0, 2)", [ 1; 2; 5; 4 ], [ 2; 2; 3; 3 ], [ "stride", ints [ 2; 1 ]; "padding", ints [ 0; 2 ] ]
      "dilation 2, padding 2", [ 1; 2; 5; 5 ], [ 2; 2; 3; 3 ], [ "dilation", ints [ 2 ]; "padding", ints [ 2 ] ]
      "groups 2, stride 2, dilation (1, 2)", [ 1; 4; 5; 6 ], [ 2; 2; 2; 2 ], [ "groups", OpAttribute.Int 2; "stride", ints [ 2 ]; "dilation", ints [ 1; 2 ] ]
      "1x1 image, 1x1 kernel", [ 1; 1; 1; 1 ], [ 1; 1; 1; 1 ], [] ]

/// conv2d_input_grad (w, λ) with `size` or conv2d_weight_grad (x, λ) with `kernel`, on conv2d's classes:
/// `first` picks x or w as the first argument, λ has conv2d's output shape.
let private gradClasses (attribute: string) (first: int list -> int list -> int list) =
    [ for name, x, w, attributes in convClasses ->
          let shape (dims: int list) = Shape.Of(Array.ofList dims)
          let conv = Row.opWith "conv2d" attributes
          let y = match conv.Shape [| shape x; shape w |] with
                  | Ok s -> s.Dims |> List.ofSeq
                  | Error m -> failwith m
          let extra = if attribute = "size" then [ x[2]; x[3] ] else [ w[2]; w[3] ]
          clsWith name [ first x w; y ] (attributes @ [ attribute, ints extra ]) ]

let rows: Row list =
    [ Compute(
          "conv2d",
          [ cls "1x1x4x4 * 2x1x3x3" [ [ 1; 1; 4; 4 ]; [ 2; 1; 3; 3 ] ]
            cls "2x2x4x5 * 3x2x2x3 + bias" [ [ 2; 2; 4; 5 ]; [ 3; 2; 2; 3 ]; [ 3 ] ]
            clsWith "stride 2, padding 1, non-square" [ [ 2; 3; 5; 6 ]; [ 2; 3; 3; 2 ]; [ 2 ] ]
                [ "stride", ints [ 2 ]; "padding", ints [ 1 ] ]
            clsWith "stride (2, 1), padding (0, 2)" [ [ 1; 2; 5; 4 ]; [ 2; 2; 3; 3 ] ]
                [ "stride", ints [ 2; 1 ]; "padding", ints [ 0; 2 ] ]
            clsWith "dilation 2, padding 2" [ [ 1; 2; 5; 5 ]; [ 2; 2; 3; 3 ]; [ 2 ] ]
                [ "dilation", ints [ 2 ]; "padding", ints [ 2 ] ]
            clsWith "groups 2" [ [ 2; 4; 4; 4 ]; [ 4; 2; 3; 3 ]; [ 4 ] ] [ "groups", OpAttribute.Int 2 ]
            clsWith "groups 2, stride 2, dilation (1, 2)" [ [ 1; 4; 5; 6 ]; [ 2; 2; 2; 2 ] ]
                [ "groups", OpAttribute.Int 2; "stride", ints [ 2 ]; "dilation", ints [ 1; 2 ] ]
            cls "1x1 kernel" [ [ 2; 3; 3; 2 ]; [ 4; 3; 1; 1 ]; [ 4 ] ]
            cls "1x1 image, 1x1 kernel" [ [ 1; 1; 1; 1 ]; [ 1; 1; 1; 1 ]; [ 1 ] ] ],
          u
      )
      Compute("conv2d_input_grad", gradClasses "size" (fun _ w -> w), u)
      Compute("conv2d_weight_grad", gradClasses "kernel" (fun x _ -> x), u)
      Compute(
          "conv1d",
          [ cls "1x1x5 * 2x1x3" [ [ 1; 1; 5 ]; [ 2; 1; 3 ] ]
            cls "2x3x6 * 2x3x2 + bias" [ [ 2; 3; 6 ]; [ 2; 3; 2 ]; [ 2 ] ]
            clsWith "stride 2, padding 1, dilation 2" [ [ 2; 2; 7 ]; [ 3; 2; 3 ]; [ 3 ] ]
                [ "stride", ints [ 2 ]; "padding", ints [ 1 ]; "dilation", ints [ 2 ] ]
            clsWith "groups 2" [ [ 1; 4; 5 ]; [ 4; 2; 2 ]; [ 4 ] ] [ "groups", OpAttribute.Int 2 ]
            cls "1x1 kernel" [ [ 2; 2; 3 ]; [ 3; 2; 1 ] ] ],
          u
      ) ]
