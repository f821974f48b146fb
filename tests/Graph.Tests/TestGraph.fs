/// Graph validation, through Graph.Create (F# records) and GraphBuilder (the C#-style API): every
/// error names what is wrong and where.
module Adjoint.Tests.TestGraph

open System
open Xunit
open Adjoint
open Adjoint.Ops
open Adjoint.Tests.Helpers

let private create (nodes: Node list) (output: string) = Graph.Create(nodes, output) |> ignore

/// The error and its message, which the error's own Message must produce.
let private expectError (expected: GraphError) (message: string) (f: unit -> unit) =
    let ex = throws<GraphException> f
    Assert.Equal(message, ex.Message)
    Assert.Equal(message, ex.Data0.Message)
    Assert.Equal(expected, ex.Data0)

let private scalarRef id : NodeRef = { Id = id; Shape = Shape.Scalar; Builder = null }

[<Fact>]
let ``unknown ancestor`` () =
    let message = "node 'h': unknown ancestor 'q'"
    expectError (UnknownAncestor("h", "q")) message (fun () ->
        create [ inputNode "x" 1 1; node "h" Elementwise.sin [ "q" ] ] "h")
    let b = GraphBuilder()
    b.Input("x", 1, 1) |> ignore
    expectError (UnknownAncestor("h", "q")) message (fun () -> b.Sin(scalarRef "q", "h") |> ignore)

[<Fact>]
let ``duplicate id`` () =
    let message = "duplicate node id 'x'"
    expectError (DuplicateId "x") message (fun () -> create [ inputNode "x" 1 1; inputNode "x" 2 1 ] "x")
    let b = GraphBuilder()
    let x = b.Input("x", 1, 1)
    expectError (DuplicateId "x") message (fun () -> b.Sin(x, "x") |> ignore)

[<Fact>]
let ``a node the builder refuses leaves no trace: its id is free, a reference to itself is unknown`` () =
    let b = GraphBuilder()
    let x = b.Input("x", 1, 1)
    let y = b.Input("y", 2, 1)
    let w = b.Input("w", 3, 1)
    match (throws<GraphException> (fun () -> b.Add(w, y, "h") |> ignore)).Data0 with
    | ShapeMismatch("h", "add", _) -> ()
    | e -> failwithf "expected a shape mismatch at node 'h', got %A" e
    expectError (UnknownAncestor("s", "s")) "node 's': unknown ancestor 's'" (fun () -> b.Sin(scalarRef "s", "s") |> ignore)
    let h = b.Add(x, x, "h")
    let s = b.Sin(h, "s")
    Assert.Equal(5, b.Count)
    let e = Engine.gradient Adjoints.All (Plan.Compile(b.Build s)) (readOnlyDict [ "x", Tensor.Scalar 0.5; "y", Tensor(2, 1); "w", Tensor(3, 1) ])
    Assert.Equal(Math.Sin 1.0, e.Output.ScalarValue)

[<Fact>]
let ``cycle names the nodes on it in edge order`` () =
    let nodes =
        [ inputNode "x" 1 1
          node "a" Elementwise.add [ "x"; "c" ]
          node "b" Elementwise.sin [ "a" ]
          node "c" Elementwise.tanh [ "b" ]
          node "out" Reduce.sum [ "c" ] ]
    expectError (Cycle [ "a"; "b"; "c"; "a" ]) "cycle: a -> b -> c -> a" (fun () -> create nodes "out")
    expectError (Cycle [ "s"; "s" ]) "cycle: s -> s" (fun () -> create [ node "s" Elementwise.sin [ "s" ] ] "s")

[<Fact>]
let ``wrong arity`` () =
    let message = "node 'h': op 'add' takes 2 ancestors, got 1"
    expectError (WrongArity("h", "add", "2", 1)) message (fun () ->
        create [ inputNode "x" 1 1; node "h" Elementwise.add [ "x" ] ] "h")
    let b = GraphBuilder()
    let x = b.Input("x", 1, 1)
    expectError (WrongArity("h", "add", "2", 1)) message (fun () -> b.Apply("add", [| x |], id = "h") |> ignore)

[<Fact>]
let ``shape mismatch names both shapes and the node`` () =
    let message = "node 'C': shape mismatch in op 'matmul': matmul needs inner dimensions to agree, got 3x4 and 5x2"
    let error = ShapeMismatch("C", "matmul", "matmul needs inner dimensions to agree, got 3x4 and 5x2")
    expectError error message (fun () ->
        create [ inputNode "A" 3 4; inputNode "B" 5 2; node "C" Linear.matmul [ "A"; "B" ] ] "C")
    let b = GraphBuilder()
    let a, bb = b.Input("A", 3, 4), b.Input("B", 5, 2)
    expectError error message (fun () -> b.MatMul(a, bb, "C") |> ignore)
    // Element-wise ops name both shapes too.
    let e = graphError (fun () -> create [ inputNode "p" 2 3; inputNode "q" 3 2; node "s" Elementwise.add [ "p"; "q" ] ] "s")
    Assert.Equal("node 's': shape mismatch in op 'add': add cannot broadcast 2x3 with 3x2", e.Message)
    // Broadcasting by NumPy's rules: 3x4 with 4, 2x1x4 with 3x1.
    let g = Graph.Create([ inputNode "p" 3 4; node "q" (Ops.Leaf.input (Shape.Of 4)) []; node "s" Elementwise.mul [ "p"; "q" ] ], "s")
    Assert.Equal(Shape.Of(3, 4), g.ShapeOf "s")
    let g = Graph.Create([ node "p" (Ops.Leaf.input (Shape.Of(2, 1, 4))) []; inputNode "q" 3 1; node "s" Elementwise.add [ "p"; "q" ] ], "s")
    Assert.Equal(Shape.Of(2, 3, 4), g.ShapeOf "s")

[<Fact>]
let ``missing output`` () =
    let message = "output 'nope' is not a node of the graph"
    expectError (MissingOutput "nope") message (fun () -> create [ inputNode "x" 1 1 ] "nope")
    let b = GraphBuilder()
    b.Input("x", 1, 1) |> ignore
    expectError (MissingOutput "nope") message (fun () -> b.Build(scalarRef "nope") |> ignore)
    let g = Graph.Create([ inputNode "x" 1 1 ], "x")
    expectError (MissingOutput "nope") message (fun () -> g.WithOutput "nope" |> ignore)

[<Fact>]
let ``gradient of a non-scalar output`` () =
    let message = "gradient asked of output 'C' of shape 3x2; it must hold one element (a scalar)"
    let g = Graph.Create([ inputNode "A" 3 4; inputNode "B" 4 2; node "C" Linear.matmul [ "A"; "B" ] ], "C")
    let e = Engine.bind (Plan.Compile g) (readOnly [ "A", Tensor(3, 4); "B", Tensor(4, 2) ])
    Engine.forward e
    Assert.Equal(Shape.Of(3, 2), e.Output.Shape)
    expectError (NonScalarOutput("C", Shape.Of(3, 2))) message (fun () -> Engine.backward Adjoints.All e)
    let b = GraphBuilder()
    let c = b.MatMul(b.Input("A", Tensor(3, 4)), b.Input("B", Tensor(4, 2)), "C")
    expectError (NonScalarOutput("C", Shape.Of(3, 2))) message (fun () ->
        Engine.gradient Adjoints.InputsAndParameters (Plan.Compile(b.Build c)) null |> ignore)

[<Fact>]
let ``missing parameter or constant value`` () =
    let parameter = node "w" (Leaf.parameter (Shape.Of(2, 2))) []
    expectError (MissingValue("w", "parameter")) "node 'w': a parameter needs a value" (fun () -> create [ parameter ] "w")
    let constant = node "c" (Leaf.constant Shape.Scalar) []
    expectError (MissingValue("c", "constant")) "node 'c': a constant needs a value" (fun () -> create [ constant ] "c")
    let b = GraphBuilder()
    expectError (MissingValue("w", "parameter")) "node 'w': a parameter needs a value" (fun () -> b.Parameter("w", null) |> ignore)
    expectError (MissingValue("c", "constant")) "node 'c': a constant needs a value" (fun () -> b.Constant("c", (null: Tensor)) |> ignore)

[<Fact>]
let ``value of the wrong shape`` () =
    let x = { inputNode "x" 2 2 with Value = Some(Tensor(3, 1)) }
    let message = "node 'x': value of shape 3x1 does not match the declared shape 2x2"
    expectError (ValueShape("x", Shape.Of(2, 2), Shape.Of(3, 1))) message (fun () -> create [ x ] "x")
    // From C#, values are bound to an evaluation.
    let b = GraphBuilder()
    let input = b.Input("x", 2, 2)
    let e = Evaluation(Plan.Compile(b.Build input))
    let ex = throws<ArgumentException> (fun () -> e.Set("x", Tensor(3, 1)))
    Assert.StartsWith(message, ex.Message)
    let ex = throws<ArgumentException> (fun () -> Evaluation(Plan.Compile(b.Build(b.Sin(input, "s")))).Set("s", Tensor(2, 2)))
    Assert.StartsWith("node 's' is computed by op 'sin'; only inputs, parameters and constants can be set", ex.Message)

[<Fact>]
let ``unknown op and attributes through the builder`` () =
    let b = GraphBuilder()
    let x = b.Input("x", 1, 1)
    expectError (UnknownOp("h", "unknown op 'sigmod' (did you mean 'sigmoid'?)")) "node 'h': unknown op 'sigmod' (did you mean 'sigmoid'?)" (fun () ->
        b.Apply("sigmod", [| x |], id = "h") |> ignore)
    let e = graphError (fun () -> b.Apply("scale", [| x |], id = "s") |> ignore)
    Assert.Equal("node 's': op 'scale' needs attribute 'factor'", e.Message)
    let factor = Collections.Generic.Dictionary<string, OpAttribute>(dict [ "factor", OpAttribute.Float 3.0 ])
    let s = b.Apply("scale", [| x |], factor, "s")
    Assert.Equal(OpAttribute.Float 3.0, (b.Build s).Node("s").Op.Attributes["factor"])

[<Fact>]
let ``empty graph`` () =
    expectError EmptyGraph "the graph has no nodes" (fun () -> create [] "x")

[<Fact>]
let ``TryCreate returns the error instead of raising`` () =
    match Graph.TryCreate([ inputNode "x" 1 1; node "h" Elementwise.sin [ "q" ] ], "h") with
    | Error e -> Assert.Equal(UnknownAncestor("h", "q"), e)
    | Ok _ -> Assert.Fail "an unknown ancestor was accepted"

[<Fact>]
let ``a graph declared out of order is valid and keeps its declaration order`` () =
    let nodes = [ node "z" Reduce.sum [ "h" ]; node "h" Elementwise.sin [ "x" ]; inputNode "x" 2 1 ]
    let g = Graph.Create(nodes, "z")
    Assert.Equal<string>([ "z"; "h"; "x" ], g.Nodes |> Seq.map _.Id)
    Assert.Equal(Shape.Scalar, g.ShapeOf "z")
    Assert.Equal(Shape.Of(2, 1), g.ShapeOf "h")
    let e = Engine.gradient Adjoints.All (Plan.Compile g) (readOnly [ "x", Tensor(2, 1, [| 0.0; 1.0 |]) ])
    assertWithin 1e-15 "sin 1" (relativeError 0.0 (sin 1.0) e.Output.ScalarValue)
    Assert.Equal("h", (g.WithOutput "h").Output)

[<Fact>]
let ``builder names unnamed nodes by op and position, and its graph equals the records' graph`` () =
    let b = GraphBuilder()
    let x = b.Input("x", 2, 1)
    let s = b.Sin x
    let z = b.SquaredNorm(b.Scale(s, 0.5))
    Assert.Equal("sin1", s.Id)
    Assert.Equal("sqnorm3", z.Id)
    Assert.Equal(Shape.Scalar, z.Shape)
    let built = b.Build z
    let byRecords =
        Graph.Create(
            [ inputNode "x" 2 1
              node "sin1" Elementwise.sin [ "x" ]
              node "scale2" (Elementwise.scale 0.5) [ "sin1" ]
              node "sqnorm3" Reduce.sqnorm [ "scale2" ] ],
            "sqnorm3"
        )
    Assert.Equal(byRecords, built)
    let differentFactor =
        Graph.Create(
            [ inputNode "x" 2 1
              node "sin1" Elementwise.sin [ "x" ]
              node "scale2" (Elementwise.scale 0.25) [ "sin1" ]
              node "sqnorm3" Reduce.sqnorm [ "scale2" ] ],
            "sqnorm3"
        )
    Assert.NotEqual(differentFactor, built)

[<Fact>]
let ``an unnamed node's id is its op name and its position in full, at every digit boundary`` () =
    // The builder writes the position's digits itself (one string per id, not two).
    let b = GraphBuilder()
    let mutable h = b.Sin(b.Input("x", Tensor.Scalar 0.5))
    let ids = ResizeArray [ h.Id ]
    for _ in 2..1001 do
        h <- b.Neg h
        ids.Add h.Id
    for k in [ 1; 9; 10; 99; 100; 999; 1000; 1001 ] do
        Assert.Equal((if k = 1 then "sin" else "neg") + string k, ids[k - 1])
    Assert.Equal("input0", GraphBuilder().Input(null, 1, 1).Id)

[<Fact>]
let ``a builder used again after Build leaves the graph it built unchanged`` () =
    let b = GraphBuilder()
    let x = b.Input("x", Tensor.Scalar 2.0)
    let first = b.Build(b.Square(x, "y"))
    let z = b.Sin(x, "z")
    let second = b.Build(z)
    Assert.Equal(2, first.Count)
    Assert.False(first.Contains "z")
    Assert.Equal(3, second.Count)
    Assert.True(second.Contains "z")
    Assert.Equal("y", first.Output)

[<Fact>]
let ``a declared dimension that is not positive`` () =
    // The file loader refuses it at the JSON; code that builds graphs must meet the same rule, not an
    // array allocation failing later in the engine.
    let message = "node 'x': dimensions must be positive, got shape -1x2"
    expectError (BadShape("x", Shape.Of(-1, 2))) message (fun () ->
        create [ inputNode "x" -1 2; node "h" Elementwise.sin [ "x" ] ] "h")
    expectError (BadShape("x", Shape.Of(-1, 2))) message (fun () -> GraphBuilder().Input("x", -1, 2) |> ignore)
    expectError (BadShape("w", Shape.Of(3, 0))) "node 'w': dimensions must be positive, got shape 3x0" (fun () ->
        GraphBuilder().Input("w", 3, 0) |> ignore)
