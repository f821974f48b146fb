module Adjoint.Tests.TestPartition

open Xunit
open Adjoint

/// Two matmul+sigmoid stages: X·W1 → σ → ·W2 → σ → sum.
let private pipeline n d =
    let b = GraphBuilder()
    let x = b.Input("X", n, d)
    let w1 = b.Parameter("W1", Tensor(d, d))
    let w2 = b.Parameter("W2", Tensor(d, d))
    let h = b.Sigmoid(b.MatMul(x, w1, "a1"), "h")
    let y = b.Sigmoid(b.MatMul(h, w2, "a2"), "y")
    Plan.Compile(b.Build(b.Sum(y, "z")))

/// A layered random DAG of scalar-ish ops, deterministic per seed.
let private randomPlan seed size =
    let r = System.Random(seed)
    let b = GraphBuilder()
    let nodes = ResizeArray [ for i in 0 .. 3 -> b.Input($"x{i}", 3, 2) ]
    let pick () = nodes[nodes.Count - 1 - int (r.NextDouble() ** 2.0 * float nodes.Count)]
    while b.Count < size do
        match r.Next 4 with
        | 0 -> nodes.Add(b.Add(pick (), pick ()))
        | 1 -> nodes.Add(b.Mul(pick (), pick ()))
        | 2 -> nodes.Add(b.Tanh(pick ()))
        | _ -> nodes.Add(b.Parameter($"p{b.Count}", Tensor(3, 2)))
    Plan.Compile(b.Build(b.Sum(nodes[nodes.Count - 1], "z")))

[<Fact>]
let ``one part puts every node in part 0`` () =
    let plan = randomPlan 1 100
    Assert.All(Partition.assign plan 1, fun p -> Assert.Equal(0, p))

[<Theory>]
[<InlineData(2)>]
[<InlineData(3)>]
[<InlineData(5)>]
let ``assignment is deterministic, in range, balanced and cuts no more than the contiguous split`` (k: int) =
    for seed in 1 .. 5 do
        let plan = randomPlan seed 300
        let parts = Partition.assign plan k
        Assert.Equal<int[]>(parts, Partition.assign (randomPlan seed 300) k)
        Assert.All(parts, fun p -> Assert.InRange(p, 0, k - 1))
        let costs = Array.init plan.Count (Partition.cost plan)
        let limit = (1.0 + Partition.Imbalance) * Array.sum costs / float k + Array.max costs
        Assert.All(Partition.loads plan k parts, fun load -> Assert.True(load <= limit, $"load {load} over {limit}"))
        Assert.True(Partition.cutBytes plan parts <= Partition.cutBytes plan (Partition.contiguous plan k))
        Assert.Equal(k, parts |> Array.distinct |> Array.length)

[<Fact>]
let ``a two-stage pipeline splits between its stages`` () =
    let plan = pipeline 64 32
    let parts = Partition.assign plan 2
    let part id = parts[plan.IndexOf id]
    Assert.Equal(0, part "X")
    Assert.Equal(0, part "W1")
    Assert.Equal(0, part "a1")
    Assert.Equal(1, part "W2")
    Assert.Equal(1, part "a2")
    Assert.Equal(1, part "y")
    // Only the stage boundary crosses: h forward and its adjoint back, or a1 → h.
    Assert.Equal(2L * 8L * 64L * 32L, Partition.cutBytes plan parts)

[<Fact>]
let ``more parts than nodes leaves parts empty but assigns every node`` () =
    let plan = pipeline 2 2
    let parts = Partition.assign plan 20
    Assert.Equal(plan.Count, parts.Length)
    Assert.All(parts, fun p -> Assert.InRange(p, 0, 19))

[<Fact>]
let ``matmul cost follows the GEMM size`` () =
    let plan = pipeline 64 32
    Assert.Equal(3.0 * 2.0 * 64.0 * 32.0 * 32.0 + Partition.NodeOverhead, Partition.cost plan (plan.IndexOf "a1"))
    Assert.Equal(Partition.NodeOverhead, Partition.cost plan (plan.IndexOf "X"))

[<Fact>]
let ``sgd and adam steps follow their formulas`` () =
    let theta = Tensor(2, 1, [| 1.0; -2.0 |])
    let g = Tensor(2, 1, [| 0.5; 0.25 |])
    let next = Optimizer.sgd 0.1 theta g
    Assert.Equal<double[]>([| 1.0 - 0.1 * 0.5; -2.0 - 0.1 * 0.25 |], next.Data)
    let s = AdamSettings.Default
    let struct (after, moments) = Optimizer.adam s (AdamMoments.Zero theta.Shape) theta g
    Assert.Equal(1, moments.Step)
    // After one step m̂ = g and v̂ = g², so each element moves by η·g/(|g| + ε) ≈ η·sign(g).
    for k in 0 .. 1 do
        let expected = theta.Data[k] - s.LearningRate * g.Data[k] / (abs g.Data[k] + s.Epsilon)
        Assert.Equal(expected, after.Data[k], 15)
    Assert.Equal<double[]>([| 1.0; -2.0 |], theta.Data)

[<Fact>]
let ``a batch gradient is summed in the order given, first term copied`` () =
    // 1e16 + 1 − 1e16 is 0 left to right and 1 in another order: the order is visible in the bits.
    let terms = [ Tensor.Scalar 1e16; Tensor.Scalar 1.0; Tensor.Scalar -1e16 ]
    let sum = Optimizer.sumInOrder terms
    Assert.Equal(((1e16 + 1.0) + -1e16), sum.ScalarValue)
    Assert.Equal(0.0, sum.ScalarValue)
    Assert.Equal(1e16, terms[0].ScalarValue) // the first term is copied, not summed into
    Assert.Throws<System.ArgumentException>(fun () -> Optimizer.sumInOrder [] |> ignore) |> ignore
