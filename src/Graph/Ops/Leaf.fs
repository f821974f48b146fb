/// Leaves: input, parameter and constant. Their value comes from outside the arithmetic.
module Adjoint.Ops.Leaf

open Adjoint

/// A node with no ancestors whose value the engine binds (an input set, the graph's stored values).
[<Sealed>]
type LeafOp(name: string, kind: OpKind, shape: Shape, elementType: ElementType) =
    inherit Op(name, 0, kind)
    /// The declared shape of the value.
    member _.Declared = shape
    /// The declared element type of the value (float64 unless a file or builder says otherwise).
    member _.DeclaredType = elementType
    override _.Shape _ = Ok shape
    override _.ElementType _ = Ok elementType
    override _.Forward(_, _) = ()
    override _.Vjp(_, _, _, _, _) = invalidOp $"{name} has no ancestors, so no VJP"
    override _.VjpReadsArgs = false

/// z = data supplied with each evaluation (or the graph's default for it), of that element type.
let inputOf shape elementType = LeafOp("input", OpKind.Input, shape, elementType) :> Op
/// z = float64 data supplied with each evaluation (or the graph's default for it).
let input shape = inputOf shape ElementType.Float64
/// z = a value stored with the graph, changed by optimizer steps (always float64).
let parameter shape = LeafOp("parameter", OpKind.Parameter, shape, ElementType.Float64) :> Op
/// z = a value stored with the graph, of that element type.
let constantOf shape elementType = LeafOp("constant", OpKind.Constant, shape, elementType) :> Op
/// z = a float64 value stored with the graph.
let constant shape = constantOf shape ElementType.Float64
