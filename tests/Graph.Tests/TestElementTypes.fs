/// Element types: int64 and bool leaves declared in files and code, their values checked where they
/// are stored or bound, written back as written, and refused where an op or a parameter cannot take them.
module Adjoint.Tests.TestElementTypes

open System
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private file (nodes: string) =
    $"""{{ "format": "adjoint-graph", "version": 2, "output": "z", "nodes": [ {nodes} ] }}"""

let private loadError (text: string) = (throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse text null |> ignore)).Message

[<Fact>]
let ``int64 and bool leaves load from a file, keep their type, and write back as integers and booleans`` () =
    let text =
        file """{ "id": "labels", "op": "constant", "shape": [3], "dtype": "int64", "value": [2, 0, 1] },
                { "id": "mask", "op": "input", "shape": [2], "dtype": "bool", "value": [true, false] },
                { "id": "x", "op": "input", "shape": [2] },
                { "id": "m", "op": "mul", "ancestors": ["x", "mask"] },
                { "id": "z", "op": "sum", "ancestors": ["m"] }"""
    let g = GraphFile.parse text null
    Assert.Equal(ElementType.Int64, g.ElementTypeOf "labels")
    Assert.Equal(ElementType.Bool, g.ElementTypeOf "mask")
    Assert.Equal(ElementType.Float64, g.ElementTypeOf "x")
    // Arithmetic on them is float64.
    Assert.Equal(ElementType.Float64, g.ElementTypeOf "m")
    assertSameValues (Tensor(Shape.Of 2, [| 1.0; 0.0 |])) (g.Node "mask").Value.Value
    let json = GraphFile.toCompactJson g
    Assert.Contains("\"dtype\":\"int64\",\"value\":[2,0,1]", json)
    Assert.Contains("\"dtype\":\"bool\",\"value\":[true,false]", json)
    Assert.DoesNotContain("float64", json)
    Assert.Equal(g, GraphFile.parse json null)

[<Fact>]
let ``a value that is not of its node's type is refused naming the node, element and file path`` () =
    let fraction = file """{ "id": "y", "op": "constant", "shape": [3], "dtype": "int64", "value": [1, 1.5, 2] },
                           { "id": "z", "op": "sum", "ancestors": ["y"] }"""
    Assert.Equal("nodes[0].value: node 'y': an int64 value must hold a whole number within ±2^53 in every element, got 1.5 at flat index 1", loadError fraction)
    let two = file """{ "id": "m", "op": "input", "shape": [2], "dtype": "bool", "value": [0, 2] },
                      { "id": "z", "op": "sum", "ancestors": ["m"] }"""
    Assert.Equal("nodes[0].value: node 'm': a bool value must hold 0 or 1 (false or true) in every element, got 2 at flat index 1", loadError two)
    let unknown = file """{ "id": "m", "op": "input", "shape": [2], "dtype": "int32" }, { "id": "z", "op": "sum", "ancestors": ["m"] }"""
    Assert.Equal("nodes[0].dtype: unknown element type 'int32' (expected float64, int64 or bool)", loadError unknown)
    let parameter = file """{ "id": "p", "op": "parameter", "shape": [1], "dtype": "int64", "value": [1] }, { "id": "z", "op": "sum", "ancestors": ["p"] }"""
    Assert.Equal("nodes[0].dtype: a parameter is trained, so it holds float64, not int64", loadError parameter)
    let computed = file """{ "id": "x", "op": "input", "shape": [1] }, { "id": "z", "op": "sum", "ancestors": ["x"], "dtype": "int64" }"""
    Assert.Equal("nodes[1].dtype: a computed node's element type follows from its op ('sum'); only leaves declare one", loadError computed)

[<Fact>]
let ``values bound to a typed input are checked; the builder checks stored values`` () =
    let b = GraphBuilder()
    let labels = b.TypedInput("labels", Shape.Of 3, ElementType.Int64)
    let z = b.Sum(labels, "z")
    let g = b.Build z
    Assert.Equal(ElementType.Int64, g.ElementTypeOf "labels")
    let e = Engine.evaluate (Plan.Compile g) (readOnly [ "labels", Tensor(Shape.Of 3, [| 1.0; 2.0; 3.0 |]) ])
    Assert.Equal(6.0, (e.Value "z").ScalarValue)
    let bad = throws<ArgumentException> (fun () -> Engine.evaluate (Plan.Compile g) (readOnly [ "labels", Tensor(Shape.Of 3, [| 1.0; 2.0; 9007199254740994.0 |]) ]) |> ignore)
    Assert.StartsWith("node 'labels': an int64 value must hold a whole number within ±2^53 in every element, got 9007199254740994 at flat index 2", bad.Message)
    let stored = graphError (fun () -> b.Constant("k", Tensor(Shape.Of 2, [| 0.0; 0.5 |]), ElementType.Bool) |> ignore)
    Assert.Equal(GraphError.ValueType("k", ElementType.Bool, 1, 0.5), stored)

[<Fact>]
let ``a data file's value for a typed input is checked like the graph's own`` () =
    let g =
        GraphFile.parse (file """{ "id": "labels", "op": "input", "shape": [2], "dtype": "int64" },
                                 { "id": "z", "op": "sum", "ancestors": ["labels"] }""") null
    let values = GraphFile.parseValues """{ "labels": [3, -1] }""" "data.json" g
    assertSameValues (Tensor(Shape.Of 2, [| 3.0; -1.0 |])) values["labels"]
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parseValues """{ "labels": [3, 0.5] }""" "data.json" g |> ignore)
    Assert.Equal("data.json:labels: node 'labels': an int64 value must hold a whole number within ±2^53 in every element, got 0.5 at flat index 1", e.Message)
