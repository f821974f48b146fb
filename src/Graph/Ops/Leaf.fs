/// Leaves: input, parameter and constant. Their value comes from outside the arithmetic.
module Adjoint.Ops.Leaf

open Adjoint

/// A node with no ancestors whose value the engine binds (an input set, the graph's stored values).
[<Sealed>]
type LeafOp(name: string, kind: OpKind, shape: Shape) =
    inherit Op(name, 0, kind)
    /// The declared shape of the value.
    member _.Declared = shape
    override _.Shape _ = Ok shape
    override _.Forward(_, _) = ()
    override _.Vjp(_, _, _, _, _) = invalidOp $"{name} has no ancestors, so no VJP"
    override _.VjpReadsArgs = false

/// z = data supplied with each evaluation (or the graph's default for it).
let input shape = LeafOp("input", OpKind.Input, shape) :> Op
/// z = a value stored with the graph, changed by optimizer steps.
let parameter shape = LeafOp("parameter", OpKind.Parameter, shape) :> Op
/// z = a value stored with the graph.
let constant shape = LeafOp("constant", OpKind.Constant, shape) :> Op
