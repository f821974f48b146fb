/// One node's adjoint from its successors' terms: the order of the sum, λ_n = 1, successors that
/// contribute nothing, what is copied, and agreement with the local engine.
module Adjoint.Tests.TestAccumulate

open System
open FsCheck.Xunit
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

// x (3×1) fans out to s1, s2, s3 (its successor edges 0, 1, 2 in plan order); `dead` reads x but does
// not reach z; c is a constant whose λ only Adjoints.All computes.
let private fanOut () =
    let b = GraphBuilder()
    let x = b.Input("x", 3, 1)
    let c = b.Constant("c", Tensor(3, 1, [| 1.0; 2.0; 3.0 |]))
    let s1 = b.Neg(x, "s1")
    let s2 = b.Neg(x, "s2")
    b.Neg(x, "dead") |> ignore
    let s3 = b.Mul(x, c, "s3")
    let t = b.Add(b.Add(s1, s2, "t"), s3, "u")
    Plan.Compile(b.Build(b.Sum(t, "z")))

let private vector (values: double[]) =
    let t = Tensor.Zeros(Shape.Of(values.Length, 1))
    Array.blit values 0 t.Data 0 values.Length
    t

let private neverCalled<'a> (what: string) = Func<'a, Tensor>(fun _ -> failwith $"{what} was called")
let private fresh = Func<Shape, Tensor>(fun s -> Tensor.Zeros s)

/// The terms of x's edges, by the successor each comes from (null for the others).
let private termsOfX (plan: Plan) (bySuccessor: (string * Tensor) list) =
    let x = plan.IndexOf "x"
    let successors = plan.Successors x
    Func<int, Tensor>(fun e ->
        let struct (i, _) = successors[e]
        match bySuccessor |> List.tryFind (fun (id, _) -> id = plan.Ids[i]) with
        | Some(_, t) -> t
        | None -> null)

[<Fact>]
let ``the terms are added from the last successor to the first: 1e16, 1, −1e16 in that order sums to 0, not 1`` () =
    let plan = fanOut ()
    let x = plan.IndexOf "x"
    Assert.Equal<string list>([ "s1"; "s2"; "dead"; "s3" ], [ for struct (i, _) in plan.Successors x -> plan.Ids[i] ])
    // Element k holds the three numbers in another order: the order is visible in every element.
    let t1 = vector [| 1e16; 1e16; 1.0 |]
    let t2 = vector [| 1.0; -1e16; 1e16 |]
    let t3 = vector [| -1e16; 1.0; -1e16 |]
    let lambda = Accumulate.adjoint plan Adjoints.All x (termsOfX plan [ "s1", t1; "s2", t2; "s3", t3 ]) fresh
    // ((t₃ + t₂) + t₁): from the last successor in plan order to the first.
    Assert.Equal<double[]>([| (-1e16 + 1.0) + 1e16; (1.0 + -1e16) + 1e16; (-1e16 + 1e16) + 1.0 |], lambda.Data)
    Assert.Equal<double[]>([| 0.0; 0.0; 1.0 |], lambda.Data)

[<Fact>]
let ``a successor that needs no adjoint contributes nothing: its term is never asked for`` () =
    let plan = fanOut ()
    let x = plan.IndexOf "x"
    let dead = plan.IndexOf "dead"
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        Assert.False(plan.NeedsAdjoint(mode, dead))
        Assert.Equal<bool list>([ true; true; false; true ], [ for e in 0 .. 3 -> Accumulate.contributes plan mode x e ])
        Assert.Equal(3, Accumulate.terms plan mode x)
        let asked = Collections.Generic.List<int>()
        let successors = plan.Successors x
        let term =
            Func<int, Tensor>(fun e ->
                asked.Add e
                let struct (i, _) = successors[e]
                if i = dead then failwith "the dead successor's term was read" else vector [| 1.0; 2.0; 4.0 |])
        let lambda = Accumulate.adjoint plan mode x term fresh
        Assert.Equal<int list>([ 3; 1; 0 ], List.ofSeq asked)
        Assert.Equal<double[]>([| 3.0; 6.0; 12.0 |], lambda.Data)

[<Fact>]
let ``λ_n = 1 at the output, whatever the terms; no term is read and no buffer taken`` () =
    let plan = fanOut ()
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let lambda = Accumulate.adjoint plan mode plan.Output (neverCalled "term") (neverCalled "buffer")
        Assert.Equal(plan.Shape plan.Output, lambda.Shape)
        Assert.Equal<double[]>([| 1.0 |], lambda.Data)
    Assert.Equal<double[]>([| 1.0 |], (Accumulate.seed plan).Data)

[<Fact>]
let ``one term is λ itself; more are summed into one buffer and the terms stay as they were`` () =
    let plan = fanOut ()
    // s1 has the one successor t.
    let s1 = plan.IndexOf "s1"
    let only = vector [| 1.0; 2.0; 3.0 |]
    Assert.Same(only, Accumulate.adjoint plan Adjoints.All s1 (Func<int, Tensor>(fun _ -> only)) (neverCalled "buffer"))
    let x = plan.IndexOf "x"
    let t1, t2, t3 = vector [| 1.0; 0.0; 0.0 |], vector [| 0.0; 1.0; 0.0 |], vector [| 0.0; 0.0; 1.0 |]
    let buffers = Collections.Generic.List<Tensor>()
    let buffer =
        Func<Shape, Tensor>(fun s ->
            // Not zeroed: the sum must overwrite it.
            let t = Tensor.Zeros s
            Array.fill t.Data 0 t.Count nan
            buffers.Add t
            t)
    let lambda = Accumulate.adjoint plan Adjoints.All x (termsOfX plan [ "s1", t1; "s2", t2; "s3", t3 ]) buffer
    Assert.Equal(1, buffers.Count)
    Assert.Same(buffers[0], lambda)
    Assert.Equal<double[]>([| 1.0; 1.0; 1.0 |], lambda.Data)
    Assert.Equal<double[]>([| 1.0; 0.0; 0.0 |], t1.Data)
    Assert.Equal<double[]>([| 0.0; 1.0; 0.0 |], t2.Data)

[<Fact>]
let ``a node that needs no adjoint, a missing term and a term of the wrong shape are refused by name`` () =
    let plan = fanOut ()
    let c = plan.IndexOf "c"
    let noAdjoint = throws<ArgumentException> (fun () -> Accumulate.adjoint plan Adjoints.InputsAndParameters c (neverCalled "term") fresh |> ignore)
    Assert.Contains("node 'c' needs no adjoint", noAdjoint.Message)
    // In Adjoints.All the constant's λ is computed, from s3's term.
    let lambdaC = Accumulate.adjoint plan Adjoints.All c (Func<int, Tensor>(fun _ -> vector [| 5.0; 6.0; 7.0 |])) fresh
    Assert.Equal<double[]>([| 5.0; 6.0; 7.0 |], lambdaC.Data)
    let x = plan.IndexOf "x"
    let missing = throws<ArgumentException> (fun () -> Accumulate.adjoint plan Adjoints.All x (termsOfX plan [ "s1", vector [| 1.0; 1.0; 1.0 |] ]) fresh |> ignore)
    Assert.Contains("node 'x': no term from successor 's3'", missing.Message)
    let wrong = throws<ArgumentException> (fun () -> Accumulate.adjoint plan Adjoints.All x (Func<int, Tensor>(fun _ -> Tensor.Scalar 1.0)) fresh |> ignore)
    Assert.Contains("node 'x': the term from successor 's3' has shape", wrong.Message)

[<Fact>]
let ``λ_n = 1 needs a one-element output`` () =
    let b = GraphBuilder()
    let plan = Plan.Compile(b.Build(b.Neg(b.Input("x", 2, 1), "y")))
    match graphError (fun () -> Accumulate.seed plan |> ignore) with
    | NonScalarOutput("y", _) -> ()
    | e -> Assert.Fail $"expected NonScalarOutput, got {e}"

// The engine's λ of every non-1×1 node, rebuilt from its successors' VJP terms (Op.Vjp on the engine's
// values and adjoints) through Accumulate: the same bits. 1×1 nodes are the engine's own scalar path.
[<Property(MaxTest = 60, Arbitrary = [| typeof<RandomDag.Arbitraries> |])>]
let ``on random DAGs the engine's tensor adjoints are Accumulate.adjoint of their terms, bit for bit`` (spec: RandomDag.Spec) =
    let dag = RandomDag.realise spec
    let plan = Plan.Compile dag.Graph
    let all = Engine.gradient Adjoints.All plan dag.Inputs
    for mode in [ Adjoints.All; Adjoints.InputsAndParameters ] do
        let e = if mode = Adjoints.All then all else Engine.gradient mode plan dag.Inputs
        for p in 0 .. plan.Count - 1 do
            if plan.NeedsAdjoint(mode, p) && (p = plan.Output || (plan.Shape p).Count > 1) then
                let successors = plan.Successors p
                let term =
                    Func<int, Tensor>(fun edge ->
                        let struct (i, slot) = successors[edge]
                        let args = plan.Ancestors i |> Seq.map all.ValueAt |> Array.ofSeq
                        vjp (plan.Op i) args (all.ValueAt i) (e.AdjointAt i) slot)
                let lambda = Accumulate.adjoint plan mode p term fresh
                assertBitwise $"λ of {plan.Ids[p]} ({mode})" (e.AdjointAt p) lambda
