/// docs/graph-file.schema.json: a valid draft 2020-12 schema that accepts every example graph, the
/// documentation's examples and version 2's new forms, and rejects malformed files at the right place.
module Adjoint.Tests.TestGraphSchema

open System
open System.IO
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open Json.Schema
open Xunit
open Adjoint.Tests.Helpers

let private docsFile (name: string) = Path.Combine(repositoryRoot.Value, "docs", name)

/// Loaded once: evaluation registers the schema under its $id, which may be done only once.
let private schema = lazy (JsonSchema.FromFile(docsFile "graph-file.schema.json"))

let private evaluate (text: string) =
    schema.Value.Evaluate(JsonNode.Parse text, EvaluationOptions(OutputFormat = OutputFormat.List))

/// Why the document fails: each failing result on a chain of failing results up to the root (so not a
/// false `if`, nor a failed alternative of an `anyOf` that holds), as "/nodes/0/shape/0: message (schema
/// path)". Some keywords (`not`) fail without a message.
let private failures (results: EvaluationResults) =
    let rec failing (d: EvaluationResults) = isNull d || (not d.IsValid && failing d.Parent)
    [ for d in Seq.append [ results ] results.Details do
          if failing d then
              let message = if d.HasErrors then String.Join("; ", d.Errors.Values) else "fails"
              $"{d.InstanceLocation}: {message} ({d.EvaluationPath})" ]

let private accepted (what: string) (text: string) =
    let results = evaluate text
    if not results.IsValid then
        Assert.Fail($"{what} should be valid:\n" + String.Join("\n", failures results))

/// Rejected, failing at `pointer` (a JSON pointer: "/nodes/0/shape/0"; "" for the root).
let private rejected (pointer: string) (text: string) =
    let results = evaluate text
    Assert.False(results.IsValid, $"should be invalid: {text}")
    if not (failures results |> List.exists (fun e -> e.StartsWith(pointer + ": "))) then
        Assert.Fail($"no failure at '{pointer}':\n" + String.Join("\n", failures results))

[<Fact>]
let ``the schema is a valid draft 2020-12 schema`` () =
    let text = File.ReadAllText(docsFile "graph-file.schema.json")
    let results = MetaSchemas.Draft202012.Evaluate(JsonNode.Parse text, EvaluationOptions(OutputFormat = OutputFormat.List))
    Assert.True(results.IsValid, String.Join("\n", failures results))
    let root = JsonNode.Parse text
    Assert.Equal("https://json-schema.org/draft/2020-12/schema", root["$schema"].GetValue<string>())

let exampleGraphs () =
    let data = TheoryData<string>()
    for path in Directory.GetFiles(Path.Combine(repositoryRoot.Value, "examples"), "*.json") do
        match (JsonNode.Parse(File.ReadAllText path))["format"] with
        | null -> ()
        | f when f.GetValue<string>() = "adjoint-graph" -> data.Add(Path.GetFileName path)
        | _ -> ()
    data

[<Theory>]
[<MemberData(nameof exampleGraphs)>]
let ``every example graph file is valid`` (name: string) =
    accepted name (File.ReadAllText(Path.Combine(repositoryRoot.Value, "examples", name)))

[<Fact>]
let ``the examples include the seed's two graphs`` () =
    let names = exampleGraphs () |> Seq.map (fun row -> row.Data) |> Set.ofSeq
    Assert.Contains("warmup.json", names)
    Assert.Contains("two-layer.json", names)

[<Fact>]
let ``every graph in the format reference's json blocks is valid`` () =
    let text = File.ReadAllText(docsFile "graph-format.md")
    let blocks =
        [ for m in Regex.Matches(text, "```json\n(.*?)```", RegexOptions.Singleline) do
              if m.Groups[1].Value.Contains "\"adjoint-graph\"" then m.Groups[1].Value ]
    Assert.True(blocks.Length >= 2, $"expected the reference's examples, found {blocks.Length}")
    for b in blocks do
        accepted "a graph in docs/graph-format.md" b

let private v2 (nodes: string) =
    $$"""{ "format": "adjoint-graph", "version": 2, "output": "loss", "nodes": [ {{nodes}} ] }"""

let private v1 (nodes: string) =
    $$"""{ "format": "adjoint-graph", "version": 1, "output": "loss", "nodes": [ {{nodes}} ] }"""

let private loss = """{ "id": "loss", "op": "sqnorm", "ancestors": ["x"] }"""

[<Fact>]
let ``version 2 documents are valid: rank 0, rank 4, a .npy value, an .npz side file, the lenient bindings`` () =
    accepted "rank 0" (v2 ("""{ "id": "x", "op": "input", "shape": [], "value": 3.5 }, """ + loss))
    accepted "rank 0 without a shape" (v2 ("""{ "id": "x", "op": "parameter", "value": -1e-3 }, """ + loss))
    accepted "rank 4" (v2 ("""{ "id": "x", "op": "parameter", "shape": [2, 1, 2, 3],
                                "value": [[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [10, 11, 12]]]] }, """ + loss))
    accepted "rank 8, no value" (v2 ("""{ "id": "x", "op": "input", "shape": [1, 2, 1, 2, 1, 2, 1, 2] }, """ + loss))
    accepted "a .npy value" (v2 ("""{ "id": "x", "op": "constant", "shape": [2, 3, 4], "value": { "npy": "E.npy" } }, """ + loss))
    accepted "an .npz side file" ("""{ "format": "adjoint-graph", "version": 2, "output": "loss", "values": "net.npz",
                                     "nodes": [ { "id": "x", "op": "parameter" }, """ + loss + " ] }")
    accepted "a flat list for a column" (v2 ("""{ "id": "x", "op": "input", "shape": [3, 1], "value": [1, 2, 3] }, """ + loss))
    accepted "a number for a shape of ones" (v2 ("""{ "id": "x", "op": "input", "shape": [1, 1, 1], "value": 2 }, """ + loss))
    accepted "one element for a shape of ones" (v2 ("""{ "id": "x", "op": "input", "shape": [1], "value": [[2]] }, """ + loss))
    accepted "attributes and descriptions" (v2 ("""{ "id": "x", "op": "input", "shape": [2, 2], "description": "X" },
                                                   { "id": "s", "op": "scale", "ancestors": ["x"], "attributes": { "factor": 0.5 } },
                                                   { "id": "loss", "op": "sum", "ancestors": ["s"], "description": "Σ" }"""))

[<Fact>]
let ``version 1 documents are valid: a number, a flat vector, rows, a JSON side file`` () =
    accepted "v1 number" (v1 ("""{ "id": "x", "op": "input", "shape": [1, 1], "value": 2 }, """ + loss))
    accepted "v1 vector" (v1 ("""{ "id": "x", "op": "input", "shape": [3, 1], "value": [1, 2, 3] }, """ + loss))
    accepted "v1 rows" (v1 ("""{ "id": "x", "op": "parameter", "value": [[1, 2], [3, 4]] }, """ + loss))
    accepted "v1 side file" ("""{ "version": 1, "output": "loss", "values": "net.values.json",
                                 "nodes": [ { "id": "x", "op": "parameter", "shape": [2, 2] }, """ + loss + " ] }")

[<Fact>]
let ``unknown fields are rejected, on a node and at the root`` () =
    rejected "/nodes/0" (v2 ("""{ "id": "x", "op": "input", "shape": [2], "ancestor": [] }, """ + loss))
    rejected "" ("""{ "version": 2, "output": "loss", "outputs": [], "nodes": [ { "id": "x", "op": "input", "shape": [2] }, """ + loss + " ] }")

[<Fact>]
let ``bad shapes are rejected: a dimension 0, rank 9, rank 3 in version 1, a fraction`` () =
    rejected "/nodes/0/shape/1" (v2 ("""{ "id": "x", "op": "input", "shape": [2, 0] }, """ + loss))
    rejected "/nodes/0/shape" (v2 ("""{ "id": "x", "op": "input", "shape": [1, 1, 1, 1, 1, 1, 1, 1, 1] }, """ + loss))
    rejected "/nodes/0/shape" (v1 ("""{ "id": "x", "op": "input", "shape": [2, 3, 4] }, """ + loss))
    rejected "/nodes/0/shape" (v1 ("""{ "id": "x", "op": "input", "shape": [] }, """ + loss))
    rejected "/nodes/0/shape/0" (v2 ("""{ "id": "x", "op": "input", "shape": [2.5] }, """ + loss))

[<Fact>]
let ``bad values are rejected: a string, a .npy file in version 1, a rank other than the shape's, nesting of mixed depth`` () =
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "shape": [1], "value": "0.5" }, """ + loss))
    rejected "/nodes/0/value" (v1 ("""{ "id": "x", "op": "parameter", "value": { "npy": "x.npy" } }, """ + loss))
    rejected "/nodes/0/value" (v1 ("""{ "id": "x", "op": "parameter", "value": [[[1]], [[2]]] }, """ + loss))
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "shape": [2, 3], "value": [1, 2, 3, 4, 5, 6] }, """ + loss))
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "shape": [2, 2], "value": [[[1, 2]], [[3, 4]]] }, """ + loss))
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "value": [[1, 2], 3] }, """ + loss))
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "value": [] }, """ + loss))
    rejected "/nodes/0/value" (v2 ("""{ "id": "x", "op": "parameter", "value": { "npy": "x.npy", "dtype": "f8" } }, """ + loss))

[<Fact>]
let ``leaves without a side file need what the loader needs: a parameter its value, an input its shape or value`` () =
    rejected "/nodes/0" (v2 ("""{ "id": "x", "op": "parameter", "shape": [2] }, """ + loss))
    rejected "/nodes/0" (v2 ("""{ "id": "x", "op": "input" }, """ + loss))
    accepted "an input with a shape" (v2 ("""{ "id": "x", "op": "input", "shape": [2] }, """ + loss))

[<Fact>]
let ``root fields are checked: version, format, an .npz side file in version 1, ids, attributes`` () =
    let node = """{ "id": "x", "op": "input", "shape": [2] }, """ + loss
    rejected "/version" ("""{ "version": 3, "output": "loss", "nodes": [ """ + node + " ] }")
    rejected "/format" ("""{ "format": "adjoint", "version": 2, "output": "loss", "nodes": [ """ + node + " ] }")
    rejected "/values" ("""{ "version": 1, "output": "loss", "values": "net.npz", "nodes": [ { "id": "x", "op": "input", "shape": [2, 1] }, """ + loss + " ] }")
    rejected "" ("""{ "version": 2, "nodes": [ """ + node + " ] }")
    rejected "/nodes" ("""{ "version": 2, "output": "loss", "nodes": [] }""")
    rejected "/nodes/0/id" (v2 ("""{ "id": " ", "op": "input", "shape": [2] }, """ + loss))
    rejected "/nodes/2/attributes/factor" (v2 (node + """, { "id": "s", "op": "scale", "ancestors": ["x"], "attributes": { "factor": [0.5] } }"""))
