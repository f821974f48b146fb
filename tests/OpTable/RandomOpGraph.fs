/// Random graphs that use the ops of the table: each op applied to arguments drawn from its row, some
/// of them leaves and some computed from earlier nodes, summed into one scalar output. The graphs the
/// distributed engine is compared with the local one on, op by op.
module Adjoint.OpTable.RandomOpGraph

open System
open System.Collections.Generic
open Adjoint
open Adjoint.OpTable
open Adjoint.OpTable.Values

/// How far a computed argument strays from the value its row drew: small enough to keep it in the
/// row's domain (log's argument positive, relu's away from 0), large enough to carry adjoints.
[<Literal>]
let Nudge = 0.01

/// A random graph using each named op `times` times (in random order), each time with a random shape
/// class of its row. A float argument is a parameter, a constant, an input (with its drawn value as
/// default) or — half the time, when an earlier node can be used — drawn value + Nudge·tanh(earlier
/// node), so the ops feed each other; an integer or boolean argument is a constant of its type. The
/// output z is the sum of Σ(node) over every op node of float64 type.
let build (seed: int) (ops: string seq) (times: int) : Graph =
    let rnd = Random seed
    let b = GraphBuilder()
    let pool = ResizeArray<NodeRef>()
    let sums = ResizeArray<NodeRef>()
    let order = [| for name in ops do for _ in 1 .. times -> name |]
    rnd.Shuffle order
    let mutable leaves = 0
    let fresh (prefix: string) =
        leaves <- leaves + 1
        $"{prefix}{leaves}"
    let argument (c: ShapeClass) (slot: int) (value: Tensor) =
        match c.TypeOf slot with
        | ElementType.Float64 ->
            match rnd.Next 6 with
            | 0 -> b.Parameter(fresh "p", value)
            | 1 -> b.Constant(fresh "c", value)
            | 2 -> b.Input(fresh "x", value)
            | _ when pool.Count = 0 -> b.Parameter(fresh "p", value)
            | _ ->
                // A scalar earlier node broadcasts to any shape; a node of this very shape adds as it is.
                let candidates = pool |> Seq.filter (fun n -> n.Shape = value.Shape || n.Shape.Rank = 0) |> Array.ofSeq
                if candidates.Length = 0 then b.Parameter(fresh "p", value)
                else
                    let earlier = candidates[candidates.Length - 1 - rnd.Next(min 4 candidates.Length)]
                    b.Add(b.Constant(fresh "v", value), b.Scale(b.Tanh earlier, Nudge))
        | t -> b.Constant(fresh "k", value, t)
    for name in order do
        match Table.rowOf name with
        | Leaf _ -> ()
        | Compute(_, classes, _) as row ->
            let c = classes[rnd.Next classes.Length]
            let drawn = Table.argumentsOf row c rnd
            let args = drawn |> Array.mapi (fun slot v -> argument c slot v)
            let node = b.Apply(name, args, c.AttributeMap)
            if b.ElementTypeOf node = ElementType.Float64 then
                let s = b.Sum node
                sums.Add s
                pool.Add s
                pool.Add node
    if sums.Count = 0 then invalidArg "ops" "no op of the list makes a float64 node"
    let mutable total = sums[0]
    for k in 1 .. sums.Count - 1 do
        total <- b.Add(total, sums[k])
    b.Build(b.Sum(total, "z"))

/// Values for every float64 input of a graph: its default plus a small random change (different per
/// seed), so an evaluation stays in every op's domain.
let inputs (graph: Graph) (seed: int) : IReadOnlyDictionary<string, Tensor> =
    let rnd = Random seed
    let d = Dictionary<string, Tensor>()
    for n in graph.Nodes do
        if n.Op.Kind = OpKind.Input && graph.ElementTypeOf n.Id = ElementType.Float64 then
            match n.Value with
            | Some v -> d[n.Id] <- Tensor(v.Shape, v.Data |> Array.map (fun x -> x + Nudge * uniform rnd -1.0 1.0))
            | None -> ()
    d :> IReadOnlyDictionary<_, _>

/// Every compute op of the catalogue.
let allOps () = Catalogue.entries |> List.map _.Name
