/// The compiled plan: topological order, successor edges in summation order, and which nodes need λ.
module Adjoint.Tests.TestPlan

open System
open FsCheck.Xunit
open Xunit
open Adjoint
open Adjoint.Ops
open Adjoint.Tests.Helpers

[<Property(MaxTest = 100, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``plan order is topological and successors are every edge, sorted by successor then slot`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    // Declared in a shuffled order, the graph is the same computation.
    let rnd = Random spec.Seed
    let shuffled = Graph.Create(dag.Graph.Nodes |> Seq.sortBy (fun _ -> rnd.Next()) |> Array.ofSeq, dag.Graph.Output)
    let plan = Plan.Compile shuffled
    Assert.Equal(dag.Graph.Count, plan.Count)
    Assert.Equal(plan.Count, plan.Ids |> Seq.distinct |> Seq.length)
    let edges = Collections.Generic.List<struct (int * int * int)>()
    for p in 0 .. plan.Count - 1 do
        Assert.Equal(shuffled.Node(plan.Ids[p]).Op.Name, plan.Op(p).Name)
        plan.Ancestors p
        |> Seq.iteri (fun slot a ->
            Assert.True(a < p, $"ancestor {plan.Ids[a]} of {plan.Ids[p]} comes after it")
            Assert.Equal(shuffled.Node(plan.Ids[p]).Ancestors[slot], plan.Ids[a])
            edges.Add(struct (a, p, slot)))
    let listed =
        [ for a in 0 .. plan.Count - 1 do
              let successors = plan.Successors a
              for k in 1 .. successors.Count - 1 do
                  Assert.True(compare successors[k - 1] successors[k] < 0, $"successors of {plan.Ids[a]} out of order")
              for struct (i, slot) in successors -> struct (a, i, slot) ]
    Assert.Equal<struct (int * int * int)>(Seq.sort edges, Seq.sort listed)
    Assert.Equal(shuffled.Output, plan.Ids[plan.Output])
    // Same values, bit for bit, whatever the declaration order.
    let original = Engine.evaluate (Plan.Compile dag.Graph) dag.Inputs
    let reordered = Engine.evaluate plan dag.Inputs
    for id in plan.Ids do
        assertBitwise id (original.Value id) (reordered.Value id)

[<Fact>]
let ``a graph already in topological order keeps its declaration order`` () =
    let g =
        Graph.Create([ inputNode "x" 1 1; node "b" Elementwise.sin [ "x" ]; node "a" Elementwise.cos [ "x" ]; node "z" Elementwise.add [ "a"; "b" ] ], "z")
    Assert.Equal<string>([ "x"; "b"; "a"; "z" ], (Plan.Compile g).Ids)

[<Fact>]
let ``needs an adjoint: nodes that reach the output; pruned: those no input or parameter reaches`` () =
    let g =
        Graph.Create(
            [ inputNode "x" 1 1
              leafWith Leaf.constant "c" (Tensor.Scalar 0.5)
              node "k" Elementwise.exp [ "c" ]
              node "m" Elementwise.mul [ "x"; "k" ]
              node "dead" Elementwise.sin [ "x" ]
              node "z" Reduce.sum [ "m" ] ],
            "z"
        )
    let plan = Plan.Compile g
    let needs mode id = plan.NeedsAdjoint(mode, plan.IndexOf id)
    for id, all, pruned in [ "x", true, true; "c", true, false; "k", true, false; "m", true, true; "dead", false, false; "z", true, true ] do
        Assert.True((all = needs Adjoints.All id), $"{id} in All")
        Assert.True((pruned = needs Adjoints.InputsAndParameters id), $"{id} in InputsAndParameters")
