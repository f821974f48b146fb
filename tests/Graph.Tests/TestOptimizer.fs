/// Optimizer.step against closed forms computed here, what each rule carries over, and the mean loss.
module Adjoint.Tests.TestOptimizer

open System
open Xunit
open Adjoint
open Adjoint.Tests.Helpers

let private vector (values: double[]) = Tensor(values.Length, 1, Array.copy values)

let private settings = { LearningRate = 0.1; Beta1 = 0.8; Beta2 = 0.95; Epsilon = 1e-6 }

[<Fact>]
let ``Adam with a constant gradient moves θ by t·η·g/(|g| + ε) after t steps`` () =
    // m_t = (1 − β₁ᵗ) g and v_t = (1 − β₂ᵗ) g², so m̂ = g and v̂ = g² at every step.
    let theta0 = [| 1.0; -2.0; 0.25 |]
    let g = [| 0.5; -0.125; 3.0 |]
    let mutable state = OptimizerState.Initial(vector theta0)
    for t in 1 .. 5 do
        state <- Optimizer.step (Adam settings) state (vector g)
        Assert.Equal(t, state.AdamStep)
        for k in 0 .. 2 do
            let expected = theta0[k] - double t * settings.LearningRate * g[k] / (abs g[k] + settings.Epsilon)
            assertWithin 1e-14 $"θ[{k}] after {t} steps" (abs (expected - state.Value.Data[k]))
            assertWithin 1e-15 $"m[{k}]" (abs ((1.0 - settings.Beta1 ** double t) * g[k] - state.M.Data[k]))
            assertWithin 1e-15 $"v[{k}]" (abs ((1.0 - settings.Beta2 ** double t) * g[k] * g[k] - state.V.Data[k]))

[<Fact>]
let ``Adam with changing gradients follows m_t = (1 − β₁) Σ β₁^(t−s) g_s, v_t likewise, θ_t = θ_(t−1) − η m̂/(√v̂ + ε)`` () =
    let gradients = [| [| 0.5; -1.0 |]; [| -0.25; 2.0 |]; [| 1.5; 0.125 |]; [| 0.0; -0.5 |] |]
    let mutable expected = [| 0.3; -0.7 |]
    let mutable state = OptimizerState.Initial(vector expected)
    for t in 1 .. gradients.Length do
        state <- Optimizer.step (Adam settings) state (vector gradients[t - 1])
        let moment (beta: double) (f: double -> double) k =
            (1.0 - beta) * Seq.sum (seq { for s in 1 .. t -> beta ** double (t - s) * f (gradients[s - 1][k]) })
        expected <-
            Array.init 2 (fun k ->
                let m = moment settings.Beta1 id k
                let v = moment settings.Beta2 (fun x -> x * x) k
                assertWithin 1e-15 $"m[{k}] at step {t}" (abs (m - state.M.Data[k]))
                assertWithin 1e-15 $"v[{k}] at step {t}" (abs (v - state.V.Data[k]))
                let mHat = m / (1.0 - settings.Beta1 ** double t)
                let vHat = v / (1.0 - settings.Beta2 ** double t)
                expected[k] - settings.LearningRate * mHat / (sqrt vHat + settings.Epsilon))
        for k in 0 .. 1 do
            assertWithin 1e-14 $"θ[{k}] at step {t}" (abs (expected[k] - state.Value.Data[k]))
        Assert.Equal(t, state.AdamStep)

[<Fact>]
let ``SGD is θ − η g and carries Adam's moments over untouched; Adam after SGD resumes them`` () =
    let fresh = Optimizer.step (Sgd 0.1) (OptimizerState.Initial(vector [| 1.0; -2.0 |])) (vector [| 0.5; 0.25 |])
    Assert.Equal<double[]>([| 1.0 - 0.1 * 0.5; -2.0 - 0.1 * 0.25 |], fresh.Value.Data)
    Assert.Equal(0, fresh.AdamStep)
    Assert.Null fresh.M
    Assert.Null fresh.V
    let g = vector [| 0.5; -1.0 |]
    let adam1 = Optimizer.step (Adam settings) fresh g
    let sgd = Optimizer.step (Sgd 0.01) adam1 g
    Assert.Same(adam1.M, sgd.M)
    Assert.Same(adam1.V, sgd.V)
    Assert.Equal(1, sgd.AdamStep)
    // The second Adam step starts from the first one's moments, not from zero.
    let adam2 = Optimizer.step (Adam settings) sgd g
    Assert.Equal(2, adam2.AdamStep)
    for k in 0 .. 1 do
        assertWithin 1e-15 "m after two steps" (abs ((1.0 - settings.Beta1 ** 2.0) * g.Data[k] - adam2.M.Data[k]))

[<Fact>]
let ``a step makes new tensors and leaves the state it was given as it was`` () =
    let theta = vector [| 1.0; 2.0 |]
    let g = vector [| 0.5; 0.5 |]
    let before = OptimizerState.Initial theta
    let adam = Optimizer.step (Adam settings) before g
    let again = Optimizer.step (Adam settings) adam g
    Assert.Equal<double[]>([| 1.0; 2.0 |], theta.Data)
    Assert.Equal<double[]>([| 0.5; 0.5 |], g.Data)
    Assert.Null before.M
    Assert.Equal(1, adam.AdamStep)
    Assert.NotSame(adam.M, again.M)
    Assert.Equal<double[]>(Array.map (fun x -> (1.0 - settings.Beta1) * x) g.Data, adam.M.Data)
    throws<ArgumentException> (fun () -> Optimizer.step (Sgd 0.1) before (vector [| 1.0 |]) |> ignore) |> ignore

[<Fact>]
let ``the mean loss is summed left to right, then divided: 1e16, 1, −1e16 gives 0, not 1/3`` () =
    Assert.Equal(((1e16 + 1.0) + -1e16) / 3.0, Optimizer.meanLoss [ 1e16; 1.0; -1e16 ])
    Assert.Equal(0.0, Optimizer.meanLoss [ 1e16; 1.0; -1e16 ])
    Assert.Equal(1.0 / 3.0, Optimizer.meanLoss [ 1e16; -1e16; 1.0 ])
    Assert.Equal(-0.0, Optimizer.meanLoss [ -0.0 ])
    Assert.True(Double.IsNegative(Optimizer.meanLoss [ -0.0; -0.0 ]))
    throws<ArgumentException> (fun () -> Optimizer.meanLoss [] |> ignore) |> ignore
