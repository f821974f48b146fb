/// Truncated Newton (Newton–CG) using only Hessian-vector products, and Adam, on one problem: an
/// L2-regularised logistic regression of two digit classes, a graph of catalogue ops.
module Adjoint.Examples.NewtonCg

open System
open System.Collections.Generic
open System.IO
open Adjoint

/// The problem: f(w, b) = mean softplus(−s ⊙ (X w + b)) + (α/2)‖w‖², s = ±1 the class, as a graph
/// with parameters "w" (features × 1) and "b" (1 × 1).
type Problem = { Graph: Graph; Parameters: string[] }

/// Rows of a digits CSV (64 pixel columns 0–16, then the label) of the two classes, at most `limit`
/// of them, as features scaled to [0, 1] and signs +1 (classA) / −1 (classB).
let loadDigits (path: string) (classA: int) (classB: int) (limit: int) =
    let rows =
        File.ReadLines path
        |> Seq.skip 1
        |> Seq.map (fun line -> line.Split ',' |> Array.map double)
        |> Seq.filter (fun r -> let y = int r[r.Length - 1] in y = classA || y = classB)
        |> Seq.truncate limit
        |> Array.ofSeq
    if rows.Length = 0 then invalidArg "path" $"{path} has no rows of classes {classA} and {classB}"
    let features = rows[0].Length - 1
    let x = Tensor(Shape.Of(rows.Length, features), [| for r in rows do for k in 0 .. features - 1 -> r[k] / 16.0 |])
    let s = Tensor(Shape.Of(rows.Length, 1), [| for r in rows -> if int r[r.Length - 1] = classA then 1.0 else -1.0 |])
    x, s

/// The regularised logistic loss of (X, s) with weight α, starting from w = 0, b = 0.
let logistic (x: Tensor) (s: Tensor) (alpha: double) : Problem =
    let b = GraphBuilder()
    let w = b.Parameter("w", Tensor.Zeros(Shape.Of(x.Shape.Dim 1, 1)))
    let bias = b.Parameter("b", Tensor.Zeros(Shape.Of(1, 1)))
    let margins = b.Mul(b.Constant("s", s), b.Add(b.MatMul(b.Constant("X", x), w), bias))
    let loss = b.Add(b.Apply("mean", b.Apply("softplus", b.Neg margins)), b.Scale(b.SquaredNorm w, alpha / 2.0))
    { Graph = b.Build loss; Parameters = [| "w"; "b" |] }

/// A point: one tensor per parameter.
type Point = IReadOnlyDictionary<string, Tensor>

let private combine (p: Point) (a: double) (q: Point) : Point =
    readOnlyDict [ for KeyValue(k, t) in p -> k, Tensor(t.Shape, Array.map2 (fun x y -> x + a * y) t.Data q[k].Data) ]
let private dot (p: Point) (q: Point) = p.Keys |> Seq.sumBy (fun k -> Array.fold2 (fun s x y -> s + x * y) 0.0 p[k].Data q[k].Data)
let private scaled (a: double) (p: Point) : Point = readOnlyDict [ for KeyValue(k, t) in p -> k, Tensor(t.Shape, Array.map ((*) a) t.Data) ]

/// What a run did: the loss after each iteration (index 0: the start), and the gradients and HVPs it evaluated.
type Trace = { Losses: double list; Gradients: int; Hvps: int; Final: Point }

/// The loss and gradient at a point, by the engine.
let private lossAndGradient (plan: Plan) (parameters: string[]) (at: Point) =
    let e = Engine.gradient Adjoints.InputsAndParameters plan at
    let g: Point = readOnlyDict [ for k in parameters -> k, e.Adjoint(k).Clone() ]
    e.Output.ScalarValue, g

let private start (problem: Problem) : Point =
    readOnlyDict [ for k in problem.Parameters -> k, (problem.Graph.Node k).Value.Value ]

/// Newton–CG: at each iterate, conjugate gradients on H d = −g using only HVPs (stopped at the
/// Eisenstat–Walker tolerance ‖r‖ ≤ min(0.5, √‖g‖)‖g‖, at `cgSteps`, or at negative curvature), then a
/// backtracking (Armijo) line search from the full step. Stops when ‖g‖ ≤ `tolerance` or after
/// `iterations`.
let newtonCg (problem: Problem) (iterations: int) (cgSteps: int) (tolerance: double) : Trace =
    let plan = Plan.Compile problem.Graph
    let h = HessianVector(problem.Graph, problem.Parameters)
    let mutable x = start problem
    let mutable f, g = lossAndGradient plan problem.Parameters x
    let losses = ResizeArray [ f ]
    let mutable gradients, hvps = 1, 0
    let mutable k = 0
    while k < iterations && sqrt (dot g g) > tolerance do
        let gNorm = sqrt (dot g g)
        let forcing = min 0.5 (sqrt gNorm) * gNorm
        // CG from d = 0 on H d = −g.
        let mutable d = scaled 0.0 g
        let mutable r = scaled -1.0 g
        let mutable p = r
        let mutable rr = dot r r
        let mutable j = 0
        let mutable stop = false
        while not stop && j < cgSteps && sqrt rr > forcing do
            let hp = h.Apply(x, p)
            hvps <- hvps + 1
            let curvature = dot p hp
            if curvature <= 0.0 then
                // Negative curvature: the steepest descent direction if nothing better was found yet.
                if j = 0 then d <- r
                stop <- true
            else
                let alpha = rr / curvature
                d <- combine d alpha p
                r <- combine r -alpha hp
                let next = dot r r
                p <- combine r (next / rr) p
                rr <- next
                j <- j + 1
        // Backtracking: the largest t in 1, ½, ¼, … with f(x + t d) ≤ f + 10⁻⁴ t gᵀd.
        let slope = dot g d
        let mutable t = 1.0
        let mutable accepted = false
        while not accepted do
            let candidate = combine x t d
            let fc, gc = lossAndGradient plan problem.Parameters candidate
            gradients <- gradients + 1
            if fc <= f + 1e-4 * t * slope || t < 1e-10 then
                x <- candidate
                f <- fc
                g <- gc
                accepted <- true
            else t <- t / 2.0
        losses.Add f
        k <- k + 1
    { Losses = List.ofSeq losses; Gradients = gradients; Hvps = hvps; Final = x }

/// Adam (Optimizer.adam) with learning rate `rate`, one full-batch gradient per iteration, until the
/// loss is at most `target` or after `iterations`.
let adam (problem: Problem) (rate: double) (iterations: int) (target: double) : Trace =
    let plan = Plan.Compile problem.Graph
    let settings = { AdamSettings.Default with LearningRate = rate }
    let mutable x = start problem
    let moments = Dictionary<string, AdamMoments>()
    for k in problem.Parameters do
        moments[k] <- AdamMoments.Zero(x[k].Shape)
    let mutable f, g = lossAndGradient plan problem.Parameters x
    let losses = ResizeArray [ f ]
    let mutable k = 0
    while k < iterations && f > target do
        x <- readOnlyDict [ for p in problem.Parameters ->
                                let struct (theta, m) = Optimizer.adam settings moments[p] x[p] g[p]
                                moments[p] <- m
                                p, theta ]
        let fc, gc = lossAndGradient plan problem.Parameters x
        f <- fc
        g <- gc
        losses.Add f
        k <- k + 1
    { Losses = List.ofSeq losses; Gradients = k + 1; Hvps = 0; Final = x }

/// The first iteration whose loss is within `gap` of `best`, if any.
let iterationsTo (best: double) (gap: double) (trace: Trace) =
    trace.Losses |> List.tryFindIndex (fun l -> l <= best + gap)
