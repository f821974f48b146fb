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

/// An element-wise op's rule on one element of each argument, as the engine calls it for a node of one
/// element: z = f(a, b) (`b` unused by a unary op) and, for a backward pass, the partials ∂f/∂a and ∂f/∂b,
/// so that the backward pass only multiplies them by λ. Made by the op from its one statement of f and
/// f′ (Ops/Pointwise.fs), never by hand.
[<AbstractClass; AllowNullLiteral>]
type internal ScalarKernel() =
    /// z = f(a, b).
    abstract Forward: a: double * b: double -> double
    /// z = f(a, b); ∂f/∂a into partials[at] and ∂f/∂b into partials[at + 1]. A unary op leaves
    /// partials[at + 1] as it is: the engine's is zero from the start, and nothing else writes it.
    abstract ForwardWithPartials: a: double * b: double * partials: double[] * at: int -> double

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

    /// The op's rule on single elements, for an element-wise op; null for the others. A node of one
    /// element whose op has one is computed on unboxed doubles through it, and gets the bits its
    /// `Forward` and `Vjp` give on one-element tensors.
    member val internal Kernel: ScalarKernel = null with get, set

    /// Whether the op is element-wise (has a rule on single elements, so one-element nodes of it are
    /// computed unboxed).
    member op.IsElementwise = not (isNull op.Kernel)

    override _.ToString() = name
