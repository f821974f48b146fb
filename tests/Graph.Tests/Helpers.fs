/// Shared by the tests: random tensors, finite differences, error measures, assertions, example files.
module Adjoint.Tests.Helpers

open System
open System.Collections.Generic
open System.IO
open Xunit
open Adjoint

/// Uniform in [lo, hi).
let uniform (rnd: Random) (lo: double) (hi: double) = lo + (hi - lo) * rnd.NextDouble()

let tensorOf (rows: int) (cols: int) (element: unit -> double) =
    Tensor(rows, cols, Array.init (rows * cols) (fun _ -> element ()))

/// A tensor of any shape, its elements drawn in row-major order.
let tensorOfShape (shape: Shape) (element: unit -> double) = Tensor(shape, Array.init shape.Count (fun _ -> element ()))

/// Elements uniform in [−1, 1).
let randomTensor (rnd: Random) rows cols = tensorOf rows cols (fun () -> uniform rnd -1.0 1.0)

/// Elements uniform in [lo, hi).
let uniformTensor (rnd: Random) lo hi rows cols = tensorOf rows cols (fun () -> uniform rnd lo hi)

/// Magnitudes in [lo, hi) with random signs: away from relu's kink and div's pole.
let awayFromZero (rnd: Random) lo hi rows cols =
    tensorOf rows cols (fun () -> (if rnd.Next 2 = 0 then -1.0 else 1.0) * uniform rnd lo hi)

/// Small integers in [−9, 9]: products and sums of these are exact in doubles.
let integerTensor (rnd: Random) rows cols = tensorOf rows cols (fun () -> double (rnd.Next(-9, 10)))

/// Rows that are probability distributions (softmax_cross_entropy's targets).
let distributions (rnd: Random) rows cols =
    let t = uniformTensor rnd 0.1 1.0 rows cols
    for r in 0 .. rows - 1 do
        let total = Seq.sum (seq { for c in 0 .. cols - 1 -> t[r, c] })
        for c in 0 .. cols - 1 do
            t.Data[r * cols + c] <- t.Data[r * cols + c] / total
    t

/// Distributions over the last axis of any shape of rank ≥ 1.
let distributionsOf (rnd: Random) (shape: Shape) =
    let k = shape.Dim(shape.Rank - 1)
    let t = distributions rnd (shape.Count / k) k
    t.Reshape shape

/// R + n·I with R uniform in [−1, 1): diagonally dominant, so well conditioned.
let wellConditioned (rnd: Random) n =
    let a = randomTensor rnd n n
    for i in 0 .. n - 1 do
        a.Data[i * n + i] <- a.Data[i * n + i] + double n
    a

/// ⟨a, b⟩ = Σ_k a_k b_k, summed naively (independently of the engine's kernels).
let inner (a: Tensor) (b: Tensor) = Array.fold2 (fun s x y -> s + x * y) 0.0 a.Data b.Data

/// Attributes by name, as the catalogue takes them.
let attributesOf (pairs: (string * OpAttribute) list) =
    Dictionary<string, OpAttribute>(dict pairs) :> IReadOnlyDictionary<_, _>

/// The catalogue's op of that name made with those attributes (a test failure if it cannot be made).
let opOf (name: string) (attributes: (string * OpAttribute) list) =
    match Catalogue.compute name (attributesOf attributes) with
    | Ok op -> op
    | Error m -> failwith m

/// z = f(args) for one op, into a fresh tensor of the shape its rule gives.
let apply (op: Op) (args: Tensor[]) =
    match op.Shape(args |> Array.map _.Shape) with
    | Ok s ->
        let out = Tensor.Zeros s
        op.Forward(args, out)
        out
    | Error m -> failwith m

/// λ ∂f/∂args[slot] for one op, into a fresh tensor.
let vjp (op: Op) (args: Tensor[]) (out: Tensor) (lambda: Tensor) (slot: int) =
    let dest = Tensor.Zeros args[slot].Shape
    op.Vjp(args, out, lambda, slot, dest)
    dest

/// (f(x + h e_k) − f(x − h e_k)) / 2h, perturbing x[k] in place and restoring it.
let centralDifference (f: unit -> double) (x: double[]) (k: int) (h: double) =
    let x0 = x[k]
    x[k] <- x0 + h
    let up = f ()
    x[k] <- x0 - h
    let down = f ()
    x[k] <- x0
    (up - down) / (2.0 * h)

/// |a − b| / max(|a|, |b|, floor); NaN counts as infinitely wrong.
let relativeError (floor: double) (a: double) (b: double) =
    let r = abs (a - b) / max floor (max (abs a) (abs b))
    if Double.IsNaN r then Double.PositiveInfinity else r

/// ‖actual − expected‖_F / ‖expected‖_F (absolute when expected is 0).
let normwiseError (actual: Tensor) (expected: Tensor) =
    Assert.Equal(expected.Shape, actual.Shape)
    let diff = Array.map2 (-) actual.Data expected.Data
    let norm (x: double[]) = sqrt (Array.sumBy (fun v -> v * v) x)
    let e = norm diff / (let n = norm expected.Data in if n = 0.0 then 1.0 else n)
    if Double.IsNaN e then Double.PositiveInfinity else e

/// Fails unless value ≤ tolerance (so NaN fails too), saying what was measured.
let assertWithin (tolerance: double) (what: string) (value: double) =
    if not (value <= tolerance) then
        Assert.Fail $"{what}: {value:E3} exceeds the tolerance {tolerance:E1}"

/// Element-wise equality of values (0 = −0), with the first difference in the message.
let assertSameValues (expected: Tensor) (actual: Tensor) =
    Assert.Equal(expected.Shape, actual.Shape)
    match Array.zip expected.Data actual.Data |> Array.tryFindIndex (fun (a, b) -> a <> b) with
    | Some k -> Assert.Fail $"element {k}: expected {expected.Data[k]:R}, got {actual.Data[k]:R}"
    | None -> ()

let assertBitwise (what: string) (expected: Tensor) (actual: Tensor) =
    if not (Tensor.BitwiseEqual(expected, actual)) then
        Assert.Fail $"{what}: not bitwise equal"

/// Writes a measurement to the test's output (shown with --show-live-output or in reports).
let report (line: string) =
    let output = TestContext.Current.TestOutputHelper
    if not (isNull (box output)) then output.WriteLine line

/// The exception f raises, which must be exactly of type 'e.
let throws<'e when 'e :> exn> (f: unit -> unit) : 'e = Assert.Throws<'e>(Action f)

/// The GraphError carried by the GraphException f raises.
let graphError (f: unit -> unit) = (throws<GraphException> f).Data0

let readOnly (pairs: (string * Tensor) seq) : IReadOnlyDictionary<string, Tensor> =
    Dictionary<string, Tensor>(dict pairs) :> _

/// A node record, for building graphs through Graph.Create.
let node (id: string) (op: Op) (ancestors: string list) : Node =
    { Id = id; Op = op; Ancestors = Array.ofList ancestors; Value = None }

let inputNode (id: string) rows cols = node id (Ops.Leaf.input (Shape.Of(rows, cols))) []

let leafWith (make: Shape -> Op) (id: string) (value: Tensor) : Node =
    { Id = id; Op = make value.Shape; Ancestors = [||]; Value = Some value }

/// The repository root: the directory holding Distributed.sln, found by walking up from the tests.
let repositoryRoot =
    lazy
        (let rec up (d: DirectoryInfo) =
            if isNull d then failwith $"no Distributed.sln above {AppContext.BaseDirectory}"
            elif File.Exists(Path.Combine(d.FullName, "Distributed.sln")) then d.FullName
            else up d.Parent
         up (DirectoryInfo AppContext.BaseDirectory))

let examplePath (name: string) = Path.Combine(repositoryRoot.Value, "examples", name)

/// A fresh directory under the system's temp folder, deleted when disposed.
type TempDirectory() =
    let path = Path.Combine(Path.GetTempPath(), "adjoint-tests-" + Guid.NewGuid().ToString "N")
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = Directory.Delete(path, true)
