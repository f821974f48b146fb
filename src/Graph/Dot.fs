/// Graphviz DOT export: a picture of the DAG, values' shapes on the nodes, edges in argument order.
module Adjoint.Dot

open System.Text

let private escape (s: string) = s.Replace("\\", "\\\\").Replace("\"", "\\\"")
let private quote (s: string) = "\"" + escape s + "\""

// Draws every node with its fill colour and an extra first label line ("" for none).
let private draw (graph: Graph) (fillOf: Node -> string) (captionOf: Node -> string) : string =
    let sb = StringBuilder()
    let line (s: string) = sb.Append("  ").Append(s).Append('\n') |> ignore
    sb.Append("digraph adjoint {\n") |> ignore
    line "rankdir=LR;"
    line "node [fontname=\"Helvetica\", fontsize=10, style=filled, fillcolor=\"#ffffff\"];"
    line "edge [fontname=\"Helvetica\", fontsize=8];"
    for n in graph.Nodes do
        let shape = graph.ShapeOf n.Id
        let form =
            match n.Op.Kind with
            | OpKind.Input -> "ellipse"
            | OpKind.Parameter -> "box"
            | OpKind.Constant -> "plaintext"
            | _ -> if n.Id = graph.Output then "doubleoctagon" else "oval"
        let attrs =
            if n.Op.Attributes.Count = 0 then ""
            else
                n.Op.Attributes
                |> Seq.map (fun kv -> $"{kv.Key}={kv.Value}")
                |> String.concat ", "
                |> sprintf " (%s)"
        let caption = match captionOf n with
                      | "" -> ""
                      | c -> escape c + "\\n"
        let label = $"{caption}{escape n.Id}\\n{n.Op.Name}{attrs} {shape}"
        line $"{quote n.Id} [label=\"{label}\", shape={form}, fillcolor=\"{fillOf n}\"];"
    for n in graph.Nodes do
        n.Ancestors
        |> Array.iteri (fun slot a ->
            let label = if n.Ancestors.Length > 1 then $" [label=\"{slot}\"]" else ""
            line $"{quote a} -> {quote n.Id}{label};")
    sb.Append("}\n").ToString()

/// The graph as DOT text. Leaves are drawn by kind (inputs as ellipses, parameters as boxes,
/// constants as plain text), the output z_n doubled; edges are labelled with the argument slot when
/// an op takes more than one argument. `partOf` (may be null) colours each node by its partition.
let toDotWith (graph: Graph) (partOf: string -> int) : string =
    let palette = [| "#dbeafe"; "#dcfce7"; "#fef9c3"; "#fde2e2"; "#ede9fe"; "#cffafe"; "#ffedd5"; "#f1f5f9" |]
    let fill (n: Node) = if isNull (box partOf) then "#ffffff" else palette[partOf n.Id % palette.Length]
    draw graph fill (fun _ -> "")

/// The graph as DOT text, uncoloured.
let toDot (graph: Graph) = toDotWith graph Unchecked.defaultof<_>

/// An adjoint graph of `source` as DOT text: the forward nodes z_i white as in toDot, the backward
/// nodes (VJP terms, their sums, the seed λ_n) shaded, and each node holding an adjoint λ_j captioned
/// "λ j" with the node j it belongs to.
let toDotAdjoint (source: Graph) (a: AdjointGraph) : string =
    let lambdaOf =
        a.Adjoints
        |> Seq.groupBy _.Value
        |> Seq.map (fun (l, js) -> l, js |> Seq.map (fun kv -> "λ " + kv.Key) |> String.concat ", ")
        |> dict
    let fill (n: Node) = if source.Contains n.Id then "#ffffff" else "#fde2e2"
    let caption (n: Node) =
        match lambdaOf.TryGetValue n.Id with
        | true, c -> c
        | _ -> if n.Id = a.Seed then "λ " + source.Output + " = 1" else ""
    draw a.Graph fill caption
