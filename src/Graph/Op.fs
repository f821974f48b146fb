/// The op: one elementary function f_i with its shape rule, forward and vector-Jacobian product.
namespace Adjoint

open System.Collections.Generic

/// What kind of node an op makes: leaves take their value from outside the graph's arithmetic.
type OpKind =
    /// z_i = f_i(z_α(i)).
    | Compute = 0
    /// A value supplied per evaluation (data).
    | Input = 1
    /// A value stored with the graph and changed by training.
    | Parameter = 2
    /// A value stored with the graph and never changed.
    | Constant = 3

/// An elementary function f_i: its name, arity, shape rule, forward and VJP in one value, so that a
/// node grain can find everything about an op from its name and attributes.
///
/// Buffers are passed in: `Forward` writes z_i into `out`; `Vjp` writes the term λ_i ∂f_i/∂z_j for the
/// ancestor in argument `slot` into `dest` (overwriting it). Neither keeps a reference to any buffer.
[<AbstractClass>]
type Op(name: string, arity: int, kind: OpKind) =
    static let noAttributes: IReadOnlyDictionary<string, double> = Dictionary() :> _

    /// The catalogue name, as written in graph files.
    member _.Name = name
    /// The number of ancestors |α(i)|.
    member _.Arity = arity
    member _.Kind = kind

    /// Numeric attributes written to graph files (scale's factor); empty for most ops.
    abstract Attributes: IReadOnlyDictionary<string, double>
    default _.Attributes = noAttributes

    /// The shape of z_i from the shapes of its ancestors, or a message saying what does not fit.
    abstract Shape: ancestors: Shape[] -> Result<Shape, string>

    /// z_i = f_i(args), written into `out`.
    abstract Forward: args: Tensor[] * out: Tensor -> unit

    /// dest = λ_i ∂f_i/∂z_j for the ancestor j in argument `slot`, given the arguments, the node's
    /// own value z_i and its adjoint λ_i.
    abstract Vjp: args: Tensor[] * out: Tensor * adjoint: Tensor * slot: int * dest: Tensor -> unit

    /// Whether the VJP reads the arguments (false lets the engine drop them earlier).
    abstract VjpReadsArgs: bool
    default _.VjpReadsArgs = true

    /// Whether the VJP reads the node's own output z_i.
    abstract VjpReadsOutput: bool
    default _.VjpReadsOutput = false

    /// Whether the op has scalar kernels (`ForwardScalar`, `VjpScalar`). An op that has them computes
    /// 1×1 values through them and nothing else — its `Forward` and `Vjp` on 1×1 tensors call them — so
    /// an engine that keeps scalars unboxed gets the same bits as one that passes tensors.
    abstract HasScalarKernel: bool
    default _.HasScalarKernel = false

    /// z = f(a, b) on 1×1 arguments (`b` is ignored by a unary op).
    abstract ForwardScalar: a: double * b: double -> double
    default _.ForwardScalar(_, _) = invalidOp $"op '{name}' has no scalar kernel"

    /// λ ∂f/∂(argument `slot`) on 1×1 arguments `a`, `b`, value `z` and adjoint `adjoint`.
    abstract VjpScalar: a: double * b: double * z: double * adjoint: double * slot: int -> double
    default _.VjpScalar(_, _, _, _, _) = invalidOp $"op '{name}' has no scalar kernel"

    override _.ToString() = name

/// Helpers shared by the op definitions.
module internal OpHelpers =
    let sameShape (opName: string) (shapes: Shape[]) =
        let s0 = shapes[0]
        let mutable k = 1
        while k < shapes.Length && shapes[k].Rows = s0.Rows && shapes[k].Cols = s0.Cols do
            k <- k + 1
        if k = shapes.Length then Ok s0
        else Error $"{opName} needs equal shapes, got {s0} and {shapes[k]}"

    let checkArity (opName: string) (arity: int) (shapes: Shape[]) =
        if shapes.Length <> arity then
            Error $"{opName} takes {arity} ancestors, got {shapes.Length}"
        else
            Ok()
