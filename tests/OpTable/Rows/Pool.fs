/// Rows of the ops in src/Graph/Ops/Pool.fs.
module Adjoint.OpTable.Rows.Pool

open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Row
open Adjoint.OpTable.Values

let private ints (values: int list) = OpAttribute.Ints(Array.ofList values)

/// Spaced values (0.1 apart, far beyond the finite-difference step and random graphs' 0.01 changes), so
/// that every window has one maximum with a margin.
let private spaced (d: Draw) = distinct d.Random -1.0 0.1 d.Shape

let private maxClasses =
    [ clsWith "kernel 2" [ [ 2; 2; 4; 4 ] ] [ "kernel", ints [ 2 ] ]
      clsWith "kernel 3, stride 1 (overlapping)" [ [ 1; 2; 4; 5 ] ] [ "kernel", ints [ 3 ]; "stride", ints [ 1 ] ]
      clsWith "kernel 3, stride 2, padding 1" [ [ 1; 2; 5; 5 ] ] [ "kernel", ints [ 3 ]; "stride", ints [ 2 ]; "padding", ints [ 1 ] ]
      clsWith "kernel (2, 3), stride (1, 2), non-square" [ [ 2; 1; 3; 7 ] ] [ "kernel", ints [ 2; 3 ]; "stride", ints [ 1; 2 ] ]
      clsWith "dilation 2, padding 1" [ [ 1; 1; 6; 6 ] ] [ "kernel", ints [ 2 ]; "stride", ints [ 1 ]; "dilation", ints [ 2 ]; "padding", ints [ 1 ] ]
      clsWith "1x1 kernel" [ [ 1; 2; 2; 3 ] ] [ "kernel", ints [ 1 ] ] ]

let private avgClasses =
    [ clsWith "kernel 2" [ [ 2; 2; 4; 4 ] ] [ "kernel", ints [ 2 ] ]
      clsWith "kernel 3, stride 2, padding 1" [ [ 1; 2; 5; 5 ] ] [ "kernel", ints [ 3 ]; "stride", ints [ 2 ]; "padding", ints [ 1 ] ]
      clsWith "padding 1, count_include_pad false" [ [ 1; 2; 5; 4 ] ]
          [ "kernel", ints [ 3 ]; "stride", ints [ 2 ]; "padding", ints [ 1 ]; "count_include_pad", OpAttribute.Bool false ]
      clsWith "kernel (2, 3), stride (1, 2), non-square" [ [ 2; 1; 3; 7 ] ] [ "kernel", ints [ 2; 3 ]; "stride", ints [ 1; 2 ] ]
      clsWith "1x1 kernel" [ [ 1; 2; 2; 3 ] ] [ "kernel", ints [ 1 ] ] ]

/// The grad op's classes from its forward op's: (x, λ) for max_pool2d_grad, λ with `size` for
/// avg_pool2d_grad, λ of the forward's output shape.
let private poolGradClasses (forward: string) (classes: ShapeClass list) (withX: bool) =
    [ for c in classes ->
          let x = c.Shapes[0]
          let y = match (Row.opWith forward c.Attributes).Shape [| x |] with
                  | Ok s -> s
                  | Error m -> failwith m
          if withX then { c with Shapes = [ x; y ] }
          else { c with Shapes = [ y ]; Attributes = c.Attributes @ [ "size", ints [ x.Dim 2; x.Dim 3 ] ] } ]

let rows: Row list =
    [ Compute(
          "max_pool2d",
          maxClasses,
          spaced
      )
      Compute(
          "avg_pool2d",
          avgClasses,
          u
      )
      Compute("max_pool2d_grad", poolGradClasses "max_pool2d" maxClasses true, bySlot spaced u)
      Compute("max_pool2d_pick", maxClasses |> List.map (fun c -> { c with Shapes = [ c.Shapes[0]; c.Shapes[0] ] }), bySlot spaced u)
      Compute("avg_pool2d_grad", poolGradClasses "avg_pool2d" avgClasses false, u)
      Compute(
          "global_avg_pool",
          [ cls "2x3x4x5" [ [ 2; 3; 4; 5 ] ]; cls "1x1x1x1" [ [ 1; 1; 1; 1 ] ]; cls "rank 3" [ [ 2; 3; 4 ] ]
            cls "rank 5" [ [ 1; 2; 2; 3; 2 ] ] ],
          u
      ) ]
