/// A row of the op table: an op, the shape classes it is checked on, and how to draw its arguments.
namespace Adjoint.OpTable

open System
open System.Collections.Generic
open Adjoint
open Adjoint.OpTable.Values

/// A shape class: its name, the shapes of the op's arguments, the attributes the op is made with, and
/// each argument's element type (float64 unless said: an index, label or mask is not differentiable,
/// so the finite-difference check skips it).
type ShapeClass =
    { Class: string
      Shapes: Shape list
      Attributes: (string * OpAttribute) list
      Types: ElementType list }

    /// The attributes as the catalogue takes them.
    member c.AttributeMap =
        Dictionary<string, OpAttribute>(dict c.Attributes) :> IReadOnlyDictionary<_, _>

    /// The element type of an argument slot.
    member c.TypeOf(slot: int) = if slot < c.Types.Length then c.Types[slot] else ElementType.Float64

/// What a value maker is given: the argument slot, the random source, the slot's shape and the class.
type Draw = { Slot: int; Random: Random; Shape: Shape; Class: ShapeClass }

/// A row of the table. Leaves have no arguments and no VJP.
type Row =
    | Leaf of name: string
    | Compute of name: string * classes: ShapeClass list * values: (Draw -> Tensor)

    member r.Name =
        match r with
        | Leaf name
        | Compute(name, _, _) -> name

/// Shape classes and value makers, written briefly in the rows.
module Row =
    let private shapesOf (shapes: int list list) = shapes |> List.map (fun dims -> Shape.Of(Array.ofList dims))

    /// A class of float64 arguments without attributes.
    let cls name (shapes: int list list) = { Class = name; Shapes = shapesOf shapes; Attributes = []; Types = [] }

    /// A class with attributes.
    let clsWith name (shapes: int list list) (attributes: (string * OpAttribute) list) =
        { cls name shapes with Attributes = attributes }

    /// A class with attributes and per-slot element types.
    let clsTyped name (shapes: int list list) (attributes: (string * OpAttribute) list) (types: ElementType list) =
        { cls name shapes with Attributes = attributes; Types = types }

    /// Uniform in [lo, hi).
    let within lo hi = fun (d: Draw) -> tensorOfShape d.Shape (fun () -> uniform d.Random lo hi)
    /// Uniform in [−1, 1).
    let u = within -1.0 1.0
    /// Magnitudes in [lo, hi) with random signs: away from a kink or a pole at 0.
    let away lo hi = fun (d: Draw) -> tensorOfShape d.Shape (fun () -> (if d.Random.Next 2 = 0 then -1.0 else 1.0) * uniform d.Random lo hi)
    /// The first maker for slot 0, the second for the others.
    let bySlot (first: Draw -> Tensor) (second: Draw -> Tensor) = fun (d: Draw) -> if d.Slot = 0 then first d else second d
    /// A maker per slot (the last one for any slot beyond the list).
    let perSlot (makers: (Draw -> Tensor) list) = fun (d: Draw) -> makers[min d.Slot (makers.Length - 1)] d

    /// Every shape an element-wise op meets, one argument: one element (rank 0 and 1×1, the engine's
    /// unboxed path), vectors, matrices, ranks 3 and 4.
    let unaryClasses =
        [ cls "rank 0" [ [] ]; cls "1x1" [ [ 1; 1 ] ]; cls "vector" [ [ 4 ] ]; cls "matrix" [ [ 3; 4 ] ]
          cls "rank 3" [ [ 2; 3; 2 ] ]; cls "rank 4" [ [ 2; 1; 3; 2 ] ] ]

    /// Two arguments: every unary class for both, and broadcast pairs (NumPy's rules, either side).
    let binaryClasses =
        (unaryClasses |> List.map (fun c -> { c with Shapes = c.Shapes @ c.Shapes }))
        @ [ cls "3x4 with 1x4" [ [ 3; 4 ]; [ 1; 4 ] ]
            cls "3x4 with 3x1" [ [ 3; 4 ]; [ 3; 1 ] ]
            cls "3x4 with rank 0" [ [ 3; 4 ]; [] ]
            cls "rank 0 with 3x4" [ []; [ 3; 4 ] ]
            cls "1x1 with 2x3" [ [ 1; 1 ]; [ 2; 3 ] ]
            cls "4 with 3x4" [ [ 4 ]; [ 3; 4 ] ]
            cls "2x1x4 with 3x1" [ [ 2; 1; 4 ]; [ 3; 1 ] ]
            cls "2x3x1x2 with 3x4x1" [ [ 2; 3; 1; 2 ]; [ 3; 4; 1 ] ] ]

    /// The unary classes with these attributes.
    let unaryWith (attributes: (string * OpAttribute) list) = unaryClasses |> List.map (fun c -> { c with Attributes = attributes })

    /// The catalogue's op of that name with these attributes (a row deriving its classes from another
    /// op's: a grad op's λ has its forward op's output shape).
    let opWith (name: string) (attributes: (string * OpAttribute) list) =
        match Catalogue.compute name (Dictionary<string, OpAttribute>(dict attributes)) with
        | Ok op -> op
        | Error m -> failwith m
