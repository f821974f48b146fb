/// The op: one elementary function f_i with its shape rule, forward and vector-Jacobian product.
namespace Adjoint

open System
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

/// What a node's elements are. Every value is held as doubles; an integer (class labels, indices) or a
/// boolean (masks, as 0 and 1) is one exactly, since a double holds every integer of magnitude up to 2⁵³.
/// The type is declared on leaves and inferred for computed nodes, so that an op can refuse a float
/// where it needs indices, values are checked when they are bound, and files write integers as integers.
type ElementType =
    | Float64 = 0
    | Int64 = 1
    | Bool = 2

/// Names and checks of element types, as graph files and .npy side files write them.
module ElementType =
    /// The largest integer magnitude every double in [−2⁵³, 2⁵³] represents exactly.
    [<Literal>]
    let MaxExactInteger = 9007199254740992.0

    /// "float64", "int64", "bool".
    let name (t: ElementType) =
        match t with
        | ElementType.Int64 -> "int64"
        | ElementType.Bool -> "bool"
        | _ -> "float64"

    /// The element type of that name, if any.
    let tryParse (text: string) =
        match text with
        | "float64" -> Some ElementType.Float64
        | "int64" -> Some ElementType.Int64
        | "bool" -> Some ElementType.Bool
        | _ -> None

    /// The first element that is not of the type (an int64 that is not a whole number within ±2⁵³, a
    /// bool that is not 0 or 1), as its flat index; -1 when all are.
    let firstInvalid (t: ElementType) (data: double[]) =
        match t with
        | ElementType.Int64 ->
            Array.FindIndex(data, fun v -> not (Math.Round v = v && abs v <= MaxExactInteger))
        | ElementType.Bool -> Array.FindIndex(data, fun v -> v <> 0.0 && v <> 1.0)
        | _ -> -1

    /// What the element types expect, for messages: "a whole number within ±2⁵³", "0 or 1".
    let expectation (t: ElementType) =
        match t with
        | ElementType.Int64 -> "a whole number within ±2^53"
        | ElementType.Bool -> "0 or 1 (false or true)"
        | _ -> "a number"

/// An op's attribute value, as graph files write it: a number, an integer, a list of integers, a
/// boolean or a string (scale's factor, a reduction's axes and keepdims, gelu's approximation).
[<RequireQualifiedAccess; CustomEquality; NoComparison>]
type OpAttribute =
    | Float of double
    | Int of int
    | Ints of int[]
    | Bool of bool
    | Text of string

    override a.Equals(o: obj) =
        match o with
        | :? OpAttribute as b ->
            match a, b with
            // Bit for bit, as values are compared: a graph must equal itself even with NaN attributes.
            | Float x, Float y -> BitConverter.DoubleToInt64Bits x = BitConverter.DoubleToInt64Bits y
            | Int x, Int y -> x = y
            | Ints x, Ints y -> x = y
            | Bool x, Bool y -> x = y
            | Text x, Text y -> x = y
            | _ -> false
        | _ -> false

    override a.GetHashCode() =
        match a with
        | Float x -> x.GetHashCode()
        | Int x -> x
        | Ints xs -> xs.Length
        | Bool x -> if x then 1 else 0
        | Text x -> x.GetHashCode()

    /// As graph files show it: 2.5, 3, [0, 1], true, "tanh".
    override a.ToString() =
        match a with
        | Float x -> x.ToString("R", Globalization.CultureInfo.InvariantCulture)
        | Int x -> string x
        | Ints xs -> "[" + String.Join(", ", xs) + "]"
        | Bool x -> if x then "true" else "false"
        | Text x -> "\"" + x + "\""

    /// A number attribute, from C#.
    static member Of(value: double) = Float value
    /// An integer attribute, from C#.
    static member Of(value: int) = Int value
    /// A list of integers (axes, sizes), from C#.
    static member Of([<ParamArray>] values: int[]) = Ints values
    /// A boolean attribute, from C#.
    static member Of(value: bool) = Bool value
    /// A string attribute, from C#.
    static member Of(value: string) = Text value

    /// The number, for a Float (an Int is also a number).
    member a.AsFloat =
        match a with
        | Float x -> x
        | Int x -> double x
        | _ -> invalidOp $"attribute {a} is not a number"

/// The type of an attribute, as `adjoint ops` lists it.
type AttributeType =
    | Float = 0
    | Int = 1
    | Ints = 2
    | Bool = 3
    | Text = 4

/// One attribute an op takes: its name, type, default (none: required, unless `Optional`), the
/// values a text attribute allows, and what it means.
type AttributeSpec =
    { Name: string
      Type: AttributeType
      Default: OpAttribute option
      /// Whether it may be left out with no default (a reduction's axes: all of them).
      Optional: bool
      /// The values a Text attribute allows (empty: any).
      Choices: string list
      Description: string }

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
/// An argument that is not differentiable (an index, a mask, a label) gets a zero term.
[<AbstractClass>]
type Op(name: string, arity: int, kind: OpKind) =
    static let noAttributes: IReadOnlyDictionary<string, OpAttribute> = Dictionary() :> _

    /// The catalogue name, as written in graph files.
    member _.Name = name
    /// The number of ancestors |α(i)| (for an op that takes a varying number, the least).
    member _.Arity = arity
    member _.Kind = kind

    /// Whether a node of this op may have that many ancestors (concat takes any number from one).
    abstract AcceptsArity: count: int -> bool
    default _.AcceptsArity count = count = arity

    /// How many ancestors the op takes, for messages: "2", "at least 1", "1 or 2".
    abstract ArityText: string
    default _.ArityText = string arity

    /// The attributes the op was made with that differ from their defaults (scale's factor, a
    /// reduction's axes), as graph files write them; set by the catalogue that made the op.
    member val Attributes: IReadOnlyDictionary<string, OpAttribute> = noAttributes with get, set

    /// The shape of z_i from the shapes of its ancestors, or a message saying what does not fit.
    abstract Shape: ancestors: Shape[] -> Result<Shape, string>

    /// The element type of z_i from those of its ancestors, or a message saying which argument has the
    /// wrong one. By default: float64 from any (integers and booleans are numbers to arithmetic).
    abstract ElementType: ancestors: ElementType[] -> Result<ElementType, string>
    default _.ElementType _ = Ok ElementType.Float64

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

/// The attributes a catalogue entry makes its op from: those given, checked against the entry's specs,
/// with the defaults of the rest.
[<Sealed>]
type Attributes(specs: AttributeSpec list, given: IReadOnlyDictionary<string, OpAttribute>) =
    let valueOf (name: string) =
        match given.TryGetValue name with
        | true, v -> Some v
        | _ ->
            match specs |> List.tryFind (fun s -> s.Name = name) with
            | Some s -> s.Default
            | None -> invalidArg "name" $"no attribute '{name}' is declared"

    /// The attributes as given (defaults left out).
    member _.Given = given
    /// Whether the attribute was given or has a default.
    member _.Has(name: string) = (valueOf name).IsSome
    /// A number (an integer given for a number is one).
    member _.Float(name: string) =
        match valueOf name with
        | Some v -> v.AsFloat
        | None -> invalidOp $"attribute '{name}' has no value"
    /// An integer.
    member _.Int(name: string) =
        match valueOf name with
        | Some(OpAttribute.Int x) -> x
        | v -> invalidOp $"attribute '{name}' is not an integer: {v}"
    /// A list of integers; None when it is optional and was not given.
    member _.Ints(name: string) =
        match valueOf name with
        | Some(OpAttribute.Ints xs) -> Some xs
        | Some(OpAttribute.Int x) -> Some [| x |]
        | None -> None
        | v -> invalidOp $"attribute '{name}' is not a list of integers: {v}"
    /// A boolean.
    member _.Bool(name: string) =
        match valueOf name with
        | Some(OpAttribute.Bool x) -> x
        | v -> invalidOp $"attribute '{name}' is not a boolean: {v}"
    /// A string.
    member _.Text(name: string) =
        match valueOf name with
        | Some(OpAttribute.Text x) -> x
        | v -> invalidOp $"attribute '{name}' is not a string: {v}"

/// A catalogue entry: how to make an op from its attributes, and what `adjoint ops` says of it.
type OpEntry =
    { Name: string
      /// How many ancestors: "1", "2", "at least 1", "1 or 2".
      Arity: string
      /// The least number of ancestors (the argument slots a test can always fill).
      MinArity: int
      Attributes: AttributeSpec list
      /// What the op computes, in one line.
      Summary: string
      /// Its shape rule in one line: "x: (…) → (…)".
      ShapeRule: string
      /// Makes the op; must return a new op when any attribute differs from its default (the catalogue
      /// stores the attributes on it).
      Make: Attributes -> Op }

/// Attribute specs, written briefly where the ops are declared.
module Spec =
    let private spec name t d optional description =
        { Name = name; Type = t; Default = d; Optional = optional; Choices = []; Description = description }
    /// A required number.
    let float name description = spec name AttributeType.Float None false description
    /// A number with a default.
    let floatOr name (d: double) description = spec name AttributeType.Float (Some(OpAttribute.Float d)) false description
    /// A required integer.
    let int name description = spec name AttributeType.Int None false description
    /// An integer with a default.
    let intOr name (d: int) description = spec name AttributeType.Int (Some(OpAttribute.Int d)) false description
    /// A required list of integers.
    let ints name description = spec name AttributeType.Ints None false description
    /// A list of integers with a default.
    let intsOr name (d: int[]) description = spec name AttributeType.Ints (Some(OpAttribute.Ints d)) false description
    /// A list of integers that may be left out (meaning given in the description).
    let intsOptional name description = spec name AttributeType.Ints None true description
    /// A boolean with a default.
    let boolOr name (d: bool) description = spec name AttributeType.Bool (Some(OpAttribute.Bool d)) false description
    /// A string from a list of choices, with a default.
    let choiceOr name (choices: string list) (d: string) description =
        { spec name AttributeType.Text (Some(OpAttribute.Text d)) false description with Choices = choices }

    /// An entry for an op without attributes, made once.
    let fixedOp (op: Op) summary shapeRule =
        { Name = op.Name; Arity = op.ArityText; MinArity = op.Arity; Attributes = []; Summary = summary
          ShapeRule = shapeRule; Make = fun _ -> op }
