/// Random DAGs for the property tests: scalar or small-tensor graphs with fan-out, shared
/// sub-expressions and repeated arguments, whose values stay bounded so finite differences stay sharp.
module Adjoint.Tests.RandomDag

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open Adjoint
open Adjoint.Ops
open Adjoint.Tests.Helpers

/// The raw choices FsCheck generates; `realise` turns them into a graph. Every node value has the
/// same shape Rows × Cols; the output reduces a sum of picked nodes to a scalar.
type Spec =
    { Rows: int
      Cols: int
      /// Per leaf: 0 input bound per evaluation, 1 input with a default, 2 parameter, 3 constant.
      Leaves: int[]
      /// Per compute node: (op code, first ancestor pick, second ancestor pick); picks are taken
      /// modulo the number of earlier nodes, so any earlier node (or the same one twice) can be chosen.
      Steps: (int * int * int)[]
      /// Picks of the nodes added together before the reduction.
      Outputs: int[]
      /// 0: z_n = sum(·); 1: z_n = sqnorm(·).
      Reduce: int
      /// Seeds the leaf values.
      Seed: int }

/// A realised DAG: the validated graph and the input set to evaluate it at.
type Dag =
    { Graph: Graph
      Inputs: IReadOnlyDictionary<string, Tensor> }

let private factors = [| -1.5; 0.5; 2.0; -0.25 |]

/// The largest |z| any node may reach; ops that could exceed it become tanh of their first argument.
let bound = 4.0

/// Builds the graph a spec describes. Each node carries an upper bound on |z| (leaves 1) so that ops
/// which would leave [−bound, bound] — a long chain of squares, exp of something large — are replaced.
let realise (spec: Spec) : Dag =
    let rnd = Random spec.Seed
    let shape = Shape.Of(spec.Rows, spec.Cols)
    let nodes = ResizeArray<Node>()
    let bounds = ResizeArray<double>()
    let inputs = Dictionary<string, Tensor>()
    let value () = randomTensor rnd spec.Rows spec.Cols
    spec.Leaves
    |> Array.iteri (fun i kind ->
        let id = $"x{i}"
        let leaf (make: Shape -> Op) v = { Id = id; Op = make shape; Ancestors = [||]; Value = v }
        nodes.Add(
            match kind with
            | 0 ->
                inputs[id] <- value ()
                leaf Leaf.input None
            | 1 -> leaf Leaf.input (Some(value ()))
            | 2 -> leaf Leaf.parameter (Some(value ()))
            | _ -> leaf Leaf.constant (Some(value ()))
        )
        bounds.Add 1.0)
    let add (op: Op) (args: int list) (b: double) =
        nodes.Add(node $"n{nodes.Count}" op [ for a in args -> nodes[a].Id ])
        bounds.Add b
    for code, p, q in spec.Steps do
        let a, b = p % nodes.Count, q % nodes.Count
        let ba, bb = bounds[a], bounds[b]
        let op, args, limit =
            match code % 9 with
            | 0 -> Elementwise.add, [ a; b ], ba + bb
            | 1 -> Elementwise.sub, [ a; b ], ba + bb
            | 2 -> Elementwise.mul, [ a; b ], ba * bb
            | 3 -> Elementwise.sin, [ a ], min 1.0 ba
            | 4 -> Elementwise.tanh, [ a ], min 1.0 ba
            | 5 -> Elementwise.sigmoid, [ a ], 1.0
            | 6 -> Elementwise.square, [ a ], ba * ba
            | 7 ->
                let c = factors[q % factors.Length]
                Elementwise.scale c, [ a ], abs c * ba
            | _ -> Elementwise.exp, [ a ], exp ba
        if limit <= bound then add op args limit else add Elementwise.tanh [ a ] 1.0
    let picks = spec.Outputs |> Array.map (fun p -> p % nodes.Count)
    let mutable sum = picks[0]
    for p in picks[1..] do
        add Elementwise.add [ sum; p ] (bounds[sum] + bounds[p])
        sum <- nodes.Count - 1
    nodes.Add(node "z" (if spec.Reduce = 0 then Reduce.sum else Reduce.sqnorm) [ nodes[sum].Id ])
    { Graph = Graph.Create(nodes, "z"); Inputs = inputs }

/// 5–40 nodes (plus the output's sum and reduction); two in three are scalar graphs.
let specs: Gen<Spec> =
    gen {
        let! scalar = Gen.elements [ true; true; false ]
        let! rows = if scalar then Gen.constant 1 else Gen.choose (1, 3)
        let! cols = if scalar then Gen.constant 1 else Gen.choose (1, 3)
        let! total = Gen.choose (5, 40)
        let! leafCount = Gen.choose (1, 4)
        let! kinds = Gen.arrayOfLength (leafCount - 1) (Gen.choose (0, 3))
        let pick = Gen.choose (0, 1_000_000)
        let! steps = Gen.arrayOfLength (total - leafCount) (Gen.zip3 (Gen.choose (0, 8)) pick pick)
        let! outputCount = Gen.choose (1, 3)
        let! outputs = Gen.arrayOfLength outputCount pick
        let! reduce = Gen.choose (0, 1)
        let! seed = Gen.choose (0, Int32.MaxValue - 1)
        return
            { Rows = rows
              Cols = cols
              Leaves = Array.append [| 0 |] kinds
              Steps = steps
              Outputs = outputs
              Reduce = reduce
              Seed = seed }
    }

/// For [<Property(Arbitrary = [| typeof<Arbitraries> |])>].
type Arbitraries =
    static member Spec() : Arbitrary<Spec> = Arb.fromGen specs
