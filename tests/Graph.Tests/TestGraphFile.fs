/// Graph files: the examples load and evaluate, save-then-load gives an equal graph, side files of
/// values, and every load error names its JSON path.
module Adjoint.Tests.TestGraphFile

open System
open System.IO
open FsCheck.Xunit
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

[<Fact>]
let ``the warm-up example loads and evaluates to sin ‖x‖²`` () =
    let g = GraphFile.load (examplePath "warmup.json")
    Assert.Equal("f", g.Output)
    Assert.Equal<string>([ "x"; "z"; "f" ], g.Nodes |> Seq.map _.Id)
    let e = Engine.evaluate (Plan.Compile g) null
    assertWithin 1e-15 "f" (relativeError 0.0 (sin (0.09 + 0.25 + 0.64)) e.Output.ScalarValue)

[<Fact>]
let ``the two-layer example loads and evaluates`` () =
    let g = GraphFile.load (examplePath "two-layer.json")
    Assert.Equal("loss", g.Output)
    Assert.Equal(Shape.Of(8, 4), g.ShapeOf "X")
    Assert.Equal(Shape.Of(8, 4), g.ShapeOf "H")
    Assert.Equal(Shape.Of(8, 1), g.ShapeOf "r")
    Assert.Equal(OpKind.Parameter, g.Node("W1").Op.Kind)
    let e = Engine.gradient Adjoints.InputsAndParameters (Plan.Compile g) null
    Assert.True(e.Output.ScalarValue > 0.0 && Double.IsFinite e.Output.ScalarValue)
    Assert.Equal(Shape.Of(4, 4), e.Adjoint("W1").Shape)

[<Theory>]
[<InlineData("warmup.json")>]
[<InlineData("two-layer.json")>]
[<InlineData("broadcast.json")>]
[<InlineData("digits-mlp.json")>]
[<InlineData("digits-cnn.json")>]
let ``the examples survive save and load`` (name: string) =
    let g = GraphFile.load (examplePath name)
    use dir = new TempDirectory()
    GraphFile.save g (dir.File name)
    Assert.Equal(g, GraphFile.load (dir.File name))

/// A version-2 graph of the given nodes (JSON fragments) and output.
let private version2 (nodes: string list) (output: string) =
    $"""{{ "format": "adjoint-graph", "version": 2, "output": "{output}", "nodes": [ {String.Join(", ", nodes)} ] }}"""

[<Fact>]
let ``version 2 reads N-d shapes and nested values in row-major order, a number as rank 0, a flat list as a vector`` () =
    let g =
        GraphFile.parse
            (version2
                [ """{ "id": "x", "op": "input", "shape": [2, 1, 3] }"""
                  """{ "id": "w", "op": "parameter", "value": [[[1, 2, 3]], [[4, 5, 6]]] }"""
                  """{ "id": "c", "op": "constant", "value": 2.5 }"""
                  """{ "id": "v", "op": "constant", "value": [1, 2, 3] }"""
                  """{ "id": "s", "op": "constant", "shape": [1, 1], "value": 7 }"""
                  """{ "id": "h", "op": "mul", "ancestors": ["x", "w"] }"""
                  """{ "id": "k", "op": "add", "ancestors": ["h", "v"] }"""
                  """{ "id": "z", "op": "sum", "ancestors": ["k"] }""" ]
                "z")
            null
    Assert.Equal(Shape.Of(2, 1, 3), g.ShapeOf "w")
    Assert.Equal(6.0, g.Node("w").Value.Value.At(1, 0, 2))
    Assert.Equal(Shape.Scalar, g.ShapeOf "c")
    Assert.Equal(Shape.Of 3, g.ShapeOf "v")
    Assert.Equal(Shape.Of(1, 1), g.ShapeOf "s")
    Assert.Equal(Shape.Scalar, g.ShapeOf "z")
    // Written as version 2 and read back: the same graph.
    let text = GraphFile.toJson g
    Assert.Contains("\"version\": 2", text)
    Assert.Equal(g, GraphFile.parse text null)

[<Fact>]
let ``version 1 files keep their meaning: a number is 1x1, a flat list a column`` () =
    let g =
        GraphFile.parse
            """{ "format": "adjoint-graph", "version": 1, "output": "z", "nodes": [
                 { "id": "c", "op": "constant", "value": 2.5 },
                 { "id": "v", "op": "constant", "value": [1, 2, 3] },
                 { "id": "z", "op": "sum", "ancestors": ["v"] } ] }"""
            null
    Assert.Equal(Shape.Of(1, 1), g.ShapeOf "c")
    Assert.Equal(Shape.Of(3, 1), g.ShapeOf "v")
    let e = throws<GraphFile.GraphFileException> (fun () ->
        GraphFile.parse """{ "version": 1, "output": "x", "nodes": [ { "id": "x", "op": "input", "shape": [2, 3, 4] } ] }""" null |> ignore)
    Assert.Equal("nodes[0].shape: expected [rows, cols], got 3 numbers", e.Message)

[<Fact>]
let ``values from .npy files and an .npz side file beside the graph; a bad file is named with its JSON path`` () =
    use dir = new TempDirectory()
    Npy.writeFile (dir.File "w.npy") [| 2; 3 |] [| 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 |]
    Npz.writeFile (dir.File "data.npz") [ Collections.Generic.KeyValuePair("x", { Dims = [| 3 |]; Data = [| 0.5; -1.0; 2.0 |] }) ]
    let text =
        version2
            [ """{ "id": "x", "op": "input", "shape": [3] }"""
              """{ "id": "w", "op": "parameter", "value": { "npy": "w.npy" } }"""
              """{ "id": "h", "op": "mul", "ancestors": ["w", "x"] }"""
              """{ "id": "z", "op": "sum", "ancestors": ["h"] }""" ]
            "z"
    let text = text.Replace("\"nodes\"", "\"values\": \"data.npz\", \"nodes\"")
    File.WriteAllText(dir.File "g.json", text)
    let g = GraphFile.load (dir.File "g.json")
    Assert.Equal(Shape.Of(2, 3), g.ShapeOf "w")
    Assert.Equal(6.0, g.Node("w").Value.Value[1, 2])
    let e = Engine.evaluate (Plan.Compile g) null
    Assert.Equal(0.5 * (1.0 + 4.0) - (2.0 + 5.0) + 2.0 * (3.0 + 6.0), e.Output.ScalarValue)
    File.WriteAllText(dir.File "w.npy", "not a numpy file")
    let bad = throws<GraphFile.GraphFileException> (fun () -> GraphFile.load (dir.File "g.json") |> ignore)
    Assert.Equal("nodes[1].value.npy", bad.Path)
    Assert.StartsWith("nodes[1].value.npy: w.npy:", bad.Message)

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``save then load gives an equal graph, attributes and values included`` (spec: RandomDag.Spec) =
    let g = (RandomDag.realise spec).Graph
    let back = GraphFile.parse (GraphFile.toJson g) null
    Assert.Equal(g, back)
    Assert.Equal(GraphFile.toJson g, GraphFile.toJson back)

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``the compact form parses to the same graph as the indented one, on one line`` (spec: RandomDag.Spec) =
    let g = (RandomDag.realise spec).Graph
    let compact = GraphFile.toCompactJson g
    Assert.DoesNotContain("\n", compact)
    Assert.Equal(g, GraphFile.parse compact null)
    Assert.Equal(GraphFile.toJson g, GraphFile.toJson (GraphFile.parse compact null))

[<Fact>]
let ``extreme doubles survive save and load bit for bit`` () =
    let values = [| -0.0; 0.0; 5e-324; -2.2250738585072014e-308; 1.7976931348623157e308; 0.1; 1.0 / 3.0; -Math.PI; 1e-300 |]
    let p = Tensor(values.Length, 1, values)
    let b = GraphBuilder()
    let z = b.Sum(b.Scale(b.Parameter("p", p), 1.0 / 3.0, "s"), "z")
    let g = b.Build z
    use dir = new TempDirectory()
    GraphFile.save g (dir.File "g.json")
    let back = GraphFile.load (dir.File "g.json")
    assertBitwise "p" p (back.Node "p").Value.Value
    Assert.Equal(OpAttribute.Float(1.0 / 3.0), (back.Node "s").Op.Attributes["factor"])
    Assert.Equal(g, back)

[<Fact>]
let ``graphs that differ in a value bit, an attribute, an ancestor order or the output are not equal`` () =
    let make (v: double) (factor: double) (ancestors: string list) (output: string) =
        Graph.Create(
            [ leafWith Ops.Leaf.parameter "a" (Tensor.Scalar v)
              inputNode "b" 1 1
              node "d" Ops.Elementwise.sub ancestors
              node "s" (Ops.Elementwise.scale factor) [ "d" ] ],
            output
        )
    let g = make 0.5 2.0 [ "a"; "b" ] "s"
    Assert.Equal(g, make 0.5 2.0 [ "a"; "b" ] "s")
    Assert.NotEqual(g, make (Math.BitIncrement 0.5) 2.0 [ "a"; "b" ] "s")
    Assert.NotEqual(g, make 0.5 (-2.0) [ "a"; "b" ] "s")
    Assert.NotEqual(g, make 0.5 2.0 [ "b"; "a" ] "s")
    Assert.NotEqual(g, make 0.5 2.0 [ "a"; "b" ] "d")

[<Fact>]
let ``a side file of values fills in stored values and input defaults`` () =
    use dir = new TempDirectory()
    File.WriteAllText(dir.File "net.values.json", """{ "W": [[1, 2], [3, 4]], "x": [0.5, -1] }""")
    File.WriteAllText(
        dir.File "net.json",
        """{ "format": "adjoint-graph", "version": 1, "output": "z", "values": "net.values.json",
             "nodes": [
               { "id": "x", "op": "input", "shape": [2, 1] },
               { "id": "W", "op": "parameter", "shape": [2, 2] },
               { "id": "y", "op": "matmul", "ancestors": ["W", "x"] },
               { "id": "z", "op": "sqnorm", "ancestors": ["y"] } ] }"""
    )
    let g = GraphFile.load (dir.File "net.json")
    assertSameValues (Tensor.OfRows [| [| 1.0; 2.0 |]; [| 3.0; 4.0 |] |]) (g.Node "W").Value.Value
    assertSameValues (Tensor(2, 1, [| 0.5; -1.0 |])) (g.Node "x").Value.Value
    // y = W x = (−1.5, −2.5), z = 2.25 + 6.25.
    Assert.Equal(8.5, (Engine.evaluate (Plan.Compile g) null).Output.ScalarValue)

let private sideFileError (graphText: string) (sideText: string) =
    use dir = new TempDirectory()
    File.WriteAllText(dir.File "net.values.json", sideText)
    File.WriteAllText(dir.File "net.json", graphText)
    throws<GraphFile.GraphFileException> (fun () -> GraphFile.load (dir.File "net.json") |> ignore)

let private withSide (side: string) =
    """{ "format": "adjoint-graph", "version": 1, "output": "z", "values": """ + "\"" + side + "\""
    + """, "nodes": [ { "id": "W", "op": "parameter", "shape": [2, 2] }, { "id": "z", "op": "sum", "ancestors": ["W"] } ] }"""

[<Fact>]
let ``side file errors name the side file`` () =
    let e = sideFileError (withSide "other.values.json") "{}"
    Assert.Equal("values: side file 'other.values.json' not found", e.Message)
    let e = sideFileError (withSide "net.values.json") """{ "W": [[1, 2], [3, 4]], "zz": 1 }"""
    Assert.Equal("net.values.json:zz: value for 'zz', which is not a node of the graph", e.Message)
    let e = sideFileError (withSide "net.values.json") """{ "W": [[1, 2], [3, "4"]] }"""
    Assert.Equal("net.values.json:W[1][1]: expected a number, got a string", e.Message)
    // A value of the wrong shape is wrong in the side file, not in the node (which has no "value").
    let e = sideFileError (withSide "net.values.json") """{ "W": [[1, 2, 3]] }"""
    Assert.Equal("net.values.json:W", e.Path)
    Assert.Equal("net.values.json:W: node 'W': value of shape 1x3 does not match the declared shape 2x2", e.Message)
    let e = sideFileError (withSide "net.values.json") """{ "W": [[1, 2], """
    Assert.Equal("$", e.Path)
    Assert.Contains("side file 'net.values.json' is not valid JSON at line 1", e.Message)
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse (withSide "net.values.json") null |> ignore)
    Assert.Equal("values: a values side file needs the graph to be loaded from a file", e.Message)

[<Fact>]
let ``data files of values bind inputs by node id`` () =
    let g = GraphFile.load (examplePath "warmup.json")
    let values = GraphFile.parseValues """{ "x": [1, 2, 2] }""" "data.json" g
    assertSameValues (Tensor(3, 1, [| 1.0; 2.0; 2.0 |])) values["x"]
    assertWithin 1e-15 "sin 9" (relativeError 0.0 (sin 9.0) (Engine.evaluate (Plan.Compile g) values).Output.ScalarValue)
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parseValues """{ "q": 1 }""" "data.json" g |> ignore)
    Assert.Equal("data.json:q: no node 'q' in the graph", e.Message)
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parseValues """{ "x": [[1], [2]] }""" "data.json" g |> ignore)
    Assert.Equal("data.json:x: value of shape 2x1 does not match the node's shape 3x1", e.Message)

// Load errors, each with its JSON path.

let private x = """{ "id": "x", "op": "input", "shape": [3, 1] }"""
let private w = """{ "id": "w", "op": "parameter", "value": [[1, 2, 3]] }"""
let private h = """{ "id": "h", "op": "matmul", "ancestors": ["w", "x"] }"""
let private s = """{ "id": "s", "op": "sigmoid", "ancestors": ["h"] }"""
let private loss = """{ "id": "loss", "op": "sum", "ancestors": ["s"] }"""

let private withOutput (output: string) (nodes: string list) =
    """{ "format": "adjoint-graph", "version": 1, "output": """ + "\"" + output + "\",\n"
    + "  \"nodes\": [\n    " + String.Join(",\n    ", nodes) + "\n  ]\n}"

let private document = withOutput "loss"

/// The header with something else in place of the version, format or output.
let private root (fields: string) =
    "{ " + fields + ", \"nodes\": [" + String.Join(", ", [ x; w; h; s; loss ]) + "] }"

[<Fact>]
let ``the documents the error cases start from are valid`` () =
    let g = GraphFile.parse (document [ x; w; h; s; loss ]) null
    Assert.Equal(5, g.Count)
    Assert.Equal(5, (GraphFile.parse (root """ "format": "adjoint-graph", "version": 1, "output": "loss" """) null).Count)

/// (case, expected path, expected message after "path: ", document)
let private errorTable =
    [ "unknown op", "nodes[3].op", "unknown op 'sigmod' (did you mean 'sigmoid'?)",
      document [ x; w; h; s.Replace("sigmoid", "sigmod"); loss ]
      "missing field in a node", "nodes[2]", "missing field 'op'",
      document [ x; w; """{ "id": "h", "ancestors": ["w", "x"] }"""; s; loss ]
      "missing output field", "$", "missing field 'output'",
      root """ "format": "adjoint-graph", "version": 1 """
      "missing version", "$", "missing field 'version'",
      root """ "output": "loss" """
      "id of the wrong type", "nodes[0].id", "expected a string, got a number",
      document [ x.Replace("\"x\"", "5"); w; h; s; loss ]
      "ancestors of the wrong type", "nodes[2].ancestors", "expected a list of node ids, got a string",
      document [ x; w; h.Replace("[\"w\", \"x\"]", "\"w\""); s; loss ]
      "nodes of the wrong type", "nodes", "expected a list of nodes, got an object",
      """{ "version": 1, "output": "loss", "nodes": {} }"""
      "not an object", "$", "expected a graph object, got an array",
      "[]"
      "shape with one number", "nodes[0].shape", "expected [rows, cols], got 1 numbers",
      document [ x.Replace("[3, 1]", "[3]"); w; h; s; loss ]
      "zero dimension", "nodes[0].shape[0]", "a dimension must be a positive integer, got 0",
      document [ x.Replace("[3, 1]", "[0, 1]"); w; h; s; loss ]
      "fractional dimension", "nodes[0].shape[1]", "a dimension must be a positive integer, got 1.5",
      document [ x.Replace("[3, 1]", "[3, 1.5]"); w; h; s; loss ]
      "unknown field in a node", "nodes[2].ancestor",
      "unknown field 'ancestor' (expected one of: id, op, shape, dtype, ancestors, attributes, value, description)",
      document [ x; w; h.Replace("ancestors", "ancestor"); s; loss ]
      "unknown field at the root", "outptu",
      "unknown field 'outptu' (expected one of: format, version, output, values, nodes, description)",
      root """ "version": 1, "outptu": "loss" """
      "unknown ancestor", "nodes[2].ancestors", "node 'h': unknown ancestor 'q'",
      document [ x; w; h.Replace("\"x\"]", "\"q\"]"); s; loss ]
      "wrong arity", "nodes[3].ancestors", "node 's': op 'sigmoid' takes 1 ancestors, got 2",
      document [ x; w; h; s.Replace("[\"h\"]", "[\"h\", \"x\"]"); loss ]
      "leaf with ancestors", "nodes[0].ancestors", "node 'x': op 'input' takes 0 ancestors, got 1",
      document [ x.Replace("}", ", \"ancestors\": [\"w\"] }"); w; h; s; loss ]
      "shape mismatch", "nodes[2]",
      "node 'C': shape mismatch in op 'matmul': matmul needs inner dimensions to agree, got 3x4 and 5x2",
      withOutput "C" [ """{ "id": "A", "op": "input", "shape": [3, 4] }"""; """{ "id": "B", "op": "input", "shape": [5, 2] }"""
                       """{ "id": "C", "op": "matmul", "ancestors": ["A", "B"] }""" ]
      "duplicate id", "nodes[2].id", "duplicate node id 'x'",
      document [ x; w; x; h; s; loss ]
      "cycle", "nodes", "cycle: a -> b -> a",
      withOutput "b" [ """{ "id": "a", "op": "sin", "ancestors": ["b"] }"""; """{ "id": "b", "op": "sin", "ancestors": ["a"] }""" ]
      "output not a node", "output", "output 'zz' is not a node of the graph",
      withOutput "zz" [ x; w; h; s; loss ]
      "scale without its factor", "nodes[3].attributes", "op 'scale' needs attribute 'factor'",
      document [ x; w; h; s.Replace("sigmoid", "scale"); loss ]
      "attribute not a number", "nodes[3].attributes.factor", "op 'scale' attribute 'factor' must be a number, got \"2\"",
      document [ x; w; h; s.Replace("\"sigmoid\"", "\"scale\", \"attributes\": { \"factor\": \"2\" }"); loss ]
      "attribute list of strings", "nodes[3].attributes.factor[0]", "expected an integer, got a string",
      document [ x; w; h; s.Replace("\"sigmoid\"", "\"scale\", \"attributes\": { \"factor\": [\"nope\"] }"); loss ]
      "attribute list of fractions", "nodes[3].attributes.factor[1]", "expected an integer, got 1.5",
      document [ x; w; h; s.Replace("\"sigmoid\"", "\"scale\", \"attributes\": { \"factor\": [1, 1.5] }"); loss ]
      "unknown attribute", "nodes[3].attributes.factor", "op 'sigmoid' has no attribute 'factor'",
      document [ x; w; h; s.Replace("\"sigmoid\"", "\"sigmoid\", \"attributes\": { \"factor\": 2 }"); loss ]
      "ragged rows", "nodes[1].value[1]", "has 1 entries where the first list at this depth has 3",
      document [ x; w.Replace("[[1, 2, 3]]", "[[1, 2, 3], [4]]"); h; s; loss ]
      "number out of range", "nodes[1].value[0][1]", "number 1e400 is out of range",
      document [ x; w.Replace("[[1, 2, 3]]", "[[1, 1e400, 3]]"); h; s; loss ]
      "value of the wrong shape", "nodes[0].value", "node 'x': value of shape 1x2 does not match the declared shape 3x1",
      document [ x.Replace("}", ", \"value\": [[1, 2]] }"); w; h; s; loss ]
      "parameter without a value", "nodes[1].value", "node 'w': a parameter needs a value",
      document [ x; """{ "id": "w", "op": "parameter", "shape": [1, 3] }"""; h; s; loss ]
      "empty id", "nodes[0].id", "a node id must not be empty",
      document [ x.Replace("\"x\"", "\"\""); w; h; s; loss ]
      "unsupported version", "version", "unsupported version 3 (this build reads versions 1 and 2)",
      root """ "version": 3, "output": "loss" """
      "version of the wrong type", "version", "unsupported version \"1\" (this build reads versions 1 and 2)",
      root """ "version": "1", "output": "loss" """
      "wrong format", "format", "expected 'adjoint-graph', got 'other'",
      root """ "format": "other", "version": 1, "output": "loss" """ ]

let loadErrorCases =
    let cases = TheoryData<string>()
    for case, _, _, _ in errorTable do
        cases.Add case
    cases

[<Theory>]
[<MemberData(nameof loadErrorCases)>]
let ``a load error names its JSON path`` (case: string) =
    let _, path, message, text = errorTable |> List.find (fun (c, _, _, _) -> c = case)
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse text null |> ignore)
    Assert.Equal(path, e.Path)
    Assert.Equal($"{path}: {message}", e.Message)

[<Fact>]
let ``a leaf without shape or value is refused`` () =
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse (document [ """{ "id": "x", "op": "input" }"""; w; h; s; loss ]) null |> ignore)
    Assert.Equal("nodes[0]", e.Path)
    Assert.EndsWith("an input needs a 'shape' or a 'value'", e.Message)

[<Fact>]
let ``malformed JSON names the line`` () =
    let text = document [ x; w; h; s; loss ]
    // Cut inside the third node (line 5 of the document).
    let cut = text.Substring(0, text.IndexOf "matmul")
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse cut null |> ignore)
    Assert.Equal("$", e.Path)
    Assert.StartsWith("$: the graph file is not valid JSON at line 5", e.Message)
    // A syntax error in the middle: an unquoted output on line 1 after the header's break.
    let broken = text.Replace("\"output\": \"loss\"", "\"output\":\n loss")
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.parse broken null |> ignore)
    Assert.StartsWith("$: the graph file is not valid JSON at line 2", e.Message)

[<Fact>]
let ``a file that cannot be read is named`` () =
    use dir = new TempDirectory()
    let missing = dir.File "absent.json"
    let e = throws<GraphFile.GraphFileException> (fun () -> GraphFile.load missing |> ignore)
    Assert.Equal(missing, e.Path)
    Assert.StartsWith($"{missing}: cannot read the file", e.Message)
