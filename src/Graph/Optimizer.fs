/// Optimizer steps θ ← step(θ, ∇θ) for parameters, applied between batches — locally or in the
/// parameter grains, by the same functions, so both give the same bits.
namespace Adjoint

/// Adam's hyper-parameters (Kingma and Ba, 2015).
type AdamSettings =
    { LearningRate: double
      Beta1: double
      Beta2: double
      Epsilon: double }

    /// η = 0.001, β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    static member Default = { LearningRate = 0.001; Beta1 = 0.9; Beta2 = 0.999; Epsilon = 1e-8 }

/// Adam's running moments of one parameter after `Step` steps.
type AdamMoments =
    { Step: int
      M: Tensor
      V: Tensor }

    /// The moments before the first step: zero.
    static member Zero(shape: Shape) = { Step = 0; M = Tensor.Zeros shape; V = Tensor.Zeros shape }

/// An optimizer: which step θ' = step(θ, g) moves a parameter.
type OptimizerRule =
    /// Stochastic gradient descent with learning rate η: θ' = θ − η g.
    | Sgd of learningRate: double
    /// Adam with its settings (see `Optimizer.adam`).
    | Adam of settings: AdamSettings

/// One parameter as an optimizer steps it: θ and Adam's moments after `AdamStep` Adam steps. M and V
/// are null before the first Adam step (zero moments); SGD steps leave them as they are.
type OptimizerState =
    { Value: Tensor
      AdamStep: int
      M: Tensor
      V: Tensor }

    /// θ with no optimizer history (a parameter as deployed, or just overwritten).
    static member Initial(value: Tensor) = { Value = value; AdamStep = 0; M = null; V = null }

module Optimizer =

    let private checkShapes (theta: Tensor) (gradient: Tensor) =
        if theta.Shape <> gradient.Shape then
            invalidArg "gradient" $"gradient of shape {gradient.Shape} does not match the parameter's shape {theta.Shape}"

    /// Stochastic gradient descent: θ' = θ − η g, a new tensor.
    let sgd (learningRate: double) (theta: Tensor) (gradient: Tensor) : Tensor =
        checkShapes theta gradient
        let next = Tensor.Zeros theta.Shape
        for k in 0 .. theta.Count - 1 do
            next.Data[k] <- theta.Data[k] - learningRate * gradient.Data[k]
        next

    /// Adam: m' = β₁m + (1−β₁)g, v' = β₂v + (1−β₂)g², t' = t + 1,
    /// θ' = θ − η m̂ / (√v̂ + ε) with m̂ = m'/(1−β₁ᵗ'), v̂ = v'/(1−β₂ᵗ'). New tensors; inputs unchanged.
    let adam (settings: AdamSettings) (moments: AdamMoments) (theta: Tensor) (gradient: Tensor) : struct (Tensor * AdamMoments) =
        checkShapes theta gradient
        let s = settings
        let t = moments.Step + 1
        let m = Tensor.Zeros theta.Shape
        let v = Tensor.Zeros theta.Shape
        let next = Tensor.Zeros theta.Shape
        let c1 = 1.0 - System.Math.Pow(s.Beta1, float t)
        let c2 = 1.0 - System.Math.Pow(s.Beta2, float t)
        for k in 0 .. theta.Count - 1 do
            let g = gradient.Data[k]
            m.Data[k] <- s.Beta1 * moments.M.Data[k] + (1.0 - s.Beta1) * g
            v.Data[k] <- s.Beta2 * moments.V.Data[k] + (1.0 - s.Beta2) * g * g
            next.Data[k] <- theta.Data[k] - s.LearningRate * (m.Data[k] / c1) / (sqrt (v.Data[k] / c2) + s.Epsilon)
        struct (next, { AdamMoments.Step = t; M = m; V = v })

    /// One step of the rule on one parameter, a new state (the given one unchanged):
    /// SGD: θ' = θ − η g (`sgd`), the moments carried over as they are;
    /// Adam: `adam` from the state's moments (zero when it has none), θ' and the moments after it.
    let step (rule: OptimizerRule) (state: OptimizerState) (gradient: Tensor) : OptimizerState =
        match rule with
        | Sgd learningRate -> { state with Value = sgd learningRate state.Value gradient }
        | Adam settings ->
            let moments =
                if isNull state.M || isNull state.V then AdamMoments.Zero state.Value.Shape
                else { AdamMoments.Step = state.AdamStep; M = state.M; V = state.V }
            let struct (next, after) = adam settings moments state.Value gradient
            { Value = next; AdamStep = after.Step; M = after.M; V = after.V }

    /// The gradient of a batch for one parameter: its per-evaluation adjoints summed in the order given,
    /// ((g₁ + g₂) + g₃) + …, a new tensor — the one order every back end uses, so that they agree bit
    /// for bit. Raises on an empty sequence.
    let sumInOrder (gradients: Tensor seq) : Tensor =
        use e = gradients.GetEnumerator()
        if not (e.MoveNext()) then invalidArg "gradients" "a batch gradient needs at least one term"
        let sum = e.Current.Clone()
        while e.MoveNext() do
            Kernels.Vec.add sum.Data e.Current.Data sum.Data
        sum

    /// The mean gradient of a batch of evaluations: `sumInOrder` times 1/N, so that a mini-batch's
    /// step does not grow with the number of evaluations it holds (PyTorch's reduction "mean" when each
    /// evaluation's loss is itself a mean over its rows). Raises on an empty sequence.
    let meanInOrder (gradients: Tensor seq) : Tensor =
        let terms = Array.ofSeq gradients
        let sum = sumInOrder terms
        let scale = 1.0 / double terms.Length
        for k in 0 .. sum.Data.Length - 1 do
            sum.Data[k] <- sum.Data[k] * scale
        sum

    /// The mean z_n of a batch, ((z₁ + z₂) + …) / N in the order given: what a training step reports,
    /// the same on every back end. Raises on an empty sequence.
    let meanLoss (losses: double seq) : double =
        use e = losses.GetEnumerator()
        if not (e.MoveNext()) then invalidArg "losses" "a mean loss needs at least one evaluation"
        let mutable sum = e.Current
        let mutable count = 1
        while e.MoveNext() do
            sum <- sum + e.Current
            count <- count + 1
        sum / double count
