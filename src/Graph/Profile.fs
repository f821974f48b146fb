/// The profile of one timed evaluation: its node steps (forward and backward) as a DAG of steps, the
/// critical path through them with its share of the wall time, and the message delays on the edges the
/// steps waited for.
module Adjoint.Profile

open System.Collections.Generic

/// One node step as measured: which node and pass, when it began and how long it took (microseconds,
/// one clock for all steps), where it ran and the tensor bytes it received and sent.
type Step =
    { Node: string
      Backward: bool
      Start: float
      Duration: float
      Silo: string
      BytesIn: int64
      BytesOut: int64 }

    /// When the step ended.
    member s.End = s.Start + s.Duration

/// An edge of the step DAG that its receiver waited for: the message delay from the sender's end to the
/// receiver's start (queueing and transfer).
type Edge = { From: int; To: int; Delay: float }

/// What the profile finds.
type Analysis =
    {
      /// From the first step's start to the last step's end.
      Wall: float
      /// The critical path, step indices from the first to the last step: it ends at the step that ends
      /// last, and each step on it is preceded by the dependency it waited for (the one that ended last).
      Path: int[]
      /// The steps' own time on the path.
      PathCompute: float
      /// The message delays between the steps of the path.
      PathDelay: float
      /// From the first step's start to the path's first step's start (its start message came later):
      /// with PathCompute and PathDelay it makes up the wall time.
      Lead: float
      /// For every step with dependencies, the edge from the one it waited for; slowest first.
      Edges: Edge[] }

    /// The share of the wall time the path's steps computed.
    member a.ComputeShare = if a.Wall > 0.0 then a.PathCompute / a.Wall else 0.0

    /// The share of the wall time the path waited for messages.
    member a.DelayShare = if a.Wall > 0.0 then a.PathDelay / a.Wall else 0.0

    /// The share of the wall time before the path's first step began.
    member a.LeadShare = if a.Wall > 0.0 then a.Lead / a.Wall else 0.0

/// The dependencies of each step, by the seed's two passes: forward step of i after the forward steps
/// of its ancestors α(i); backward step of i after its own forward step and the backward steps of its
/// successors β(i) that ran one (those that sent it a VJP term). Steps of nodes not in the plan, or a
/// node's second step of the same pass, are refused.
let dependencies (plan: Plan) (steps: Step[]) : int[][] =
    let index = Dictionary<struct (int * bool), int>()
    steps
    |> Array.iteri (fun k s ->
        let mutable p = 0
        if not (plan.TryIndexOf(s.Node, &p)) then
            invalidArg "steps" $"step {k}: no node '{s.Node}' in the graph"
        if not (index.TryAdd(struct (p, s.Backward), k)) then
            invalidArg "steps" $"""step {k}: node '{s.Node}' has two {(if s.Backward then "backward" else "forward")} steps""")
    let find p backward =
        match index.TryGetValue(struct (p, backward)) with
        | true, k -> Some k
        | _ -> None
    steps
    |> Array.map (fun s ->
        let p = plan.IndexOf s.Node
        if not s.Backward then
            plan.Ancestors p |> Seq.choose (fun a -> find a false) |> Array.ofSeq
        else
            Array.append
                (Option.toArray (find p false))
                (plan.Successors p |> Seq.choose (fun (struct (i, _)) -> find i true) |> Seq.distinct |> Array.ofSeq))

/// The critical path and edge delays of steps with the given dependencies (indices into steps).
let analyse (steps: Step[]) (dependencies: int[][]) : Analysis =
    if steps.Length = 0 then
        { Wall = 0.0; Path = [||]; PathCompute = 0.0; PathDelay = 0.0; Lead = 0.0; Edges = [||] }
    else
        // Ties go to the lower index, so that the same timings give the same path.
        let latest (candidates: int seq) =
            candidates |> Seq.reduce (fun a b -> if steps[b].End > steps[a].End then b else a)
        let waitedFor k =
            if dependencies[k].Length = 0 then None else Some(latest dependencies[k])
        let first = steps |> Array.minBy (fun s -> s.Start)
        let last = latest (seq { 0 .. steps.Length - 1 })
        let path = ResizeArray [ last ]
        let mutable current = waitedFor last
        // A cycle in the dependencies would never end the walk: at most one visit per step.
        while current.IsSome && path.Count <= steps.Length do
            path.Add current.Value
            current <- waitedFor current.Value
        path.Reverse()
        let delay u v = steps[v].Start - steps[u].End
        let edges =
            [| for v in 0 .. steps.Length - 1 do
                   match waitedFor v with
                   | Some u -> { From = u; To = v; Delay = delay u v }
                   | None -> () |]
            |> Array.sortBy (fun e -> -e.Delay, e.To)
        { Wall = steps[last].End - first.Start
          Path = path.ToArray()
          PathCompute = path |> Seq.sumBy (fun k -> steps[k].Duration)
          PathDelay = Seq.pairwise path |> Seq.sumBy (fun (u, v) -> delay u v)
          Lead = steps[path[0]].Start - first.Start
          Edges = edges }
