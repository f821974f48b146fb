/// Training and inference modes, as PyTorch's model.train() and model.eval(): the ops with a `training`
/// attribute (batch_norm, dropout) behave differently in the two, and a training-mode batch_norm leaves
/// running statistics that a training loop carries from step to step.
module Adjoint.Modes

open System.Collections.Generic

// An op's `training` attribute: what it holds, or its default; None when the op has no such attribute.
let private training (op: Op) =
    match Catalogue.tryFind op.Name with
    | Some entry when entry.Attributes |> List.exists (fun s -> s.Name = "training") ->
        match op.Attributes.TryGetValue "training" with
        | true, OpAttribute.Bool b -> Some b
        | _ ->
            match (entry.Attributes |> List.find (fun s -> s.Name = "training")).Default with
            | Some(OpAttribute.Bool b) -> Some b
            | _ -> None
    | _ -> None

/// Whether some op of the graph runs in training mode (a batch_norm or a dropout with training = true).
let hasTrainingOps (graph: Graph) =
    graph.Nodes |> Seq.exists (fun n -> training n.Op = Some true)

/// The graph in inference mode: every op with `training` = true gets false (batch_norm normalises with
/// its running statistics, dropout is the identity); nothing else changes. The graph itself when
/// nothing is in training mode.
let inference (graph: Graph) : Graph =
    if not (hasTrainingOps graph) then graph
    else
        let nodes =
            graph.Nodes
            |> Seq.map (fun n ->
                match training n.Op with
                | Some true ->
                    let attributes = Dictionary<string, OpAttribute>(n.Op.Attributes)
                    attributes["training"] <- OpAttribute.Bool false
                    match Catalogue.compute n.Op.Name attributes with
                    | Ok op -> { n with Op = op }
                    | Error message -> invalidOp $"node '{n.Id}': {message}"
                | _ -> n)
        Graph.Create(nodes, graph.Output)

/// The running statistics the training-mode batch_norm nodes move (their 4th and 5th ancestors), with
/// their values in the graph file.
let runningStatistics (graph: Graph) : IReadOnlyDictionary<string, Tensor> =
    let result = Dictionary<string, Tensor>()
    for n in graph.Nodes do
        if n.Op.Name = "batch_norm" && training n.Op = Some true then
            for id in [ n.Ancestors[3]; n.Ancestors[4] ] do
                let s = graph.Node id
                match s.Value with
                | Some v when s.Op.Kind <> OpKind.Compute -> result[id] <- v
                | _ -> invalidArg "graph" $"batch_norm node '{n.Id}': its running statistic '{id}' must be a constant with a value (its op is {s.Op.Name})"
    result :> IReadOnlyDictionary<_, _>

/// The running statistics after one training-mode evaluation (see Ops.Norm.runningStatistics):
/// `value` gives the evaluation's node values, `running` the statistics it was given.
let moveRunningStatistics (graph: Graph) (running: IReadOnlyDictionary<string, Tensor>) (value: System.Func<string, Tensor>) =
    Ops.Norm.runningStatistics
        [ for n in graph.Nodes -> n.Op, n.Ancestors ]
        (fun id ->
            match running.TryGetValue id with
            | true, t -> t
            | _ -> value.Invoke id)

/// The key inputs of dropout nodes (their int64 second ancestor, when it is an input node): a training
/// loop gives each evaluation its own key, so that each step draws a fresh mask (PyTorch's dropout draws
/// one per forward) and a resumed run draws the ones an uninterrupted run would; scoring, in inference
/// mode, binds 0 (the mask is not used). Data files need not give them.
let dropoutKeys (graph: Graph) : string[] =
    [| for n in graph.Nodes do
           if n.Op.Name = "dropout" && n.Ancestors.Length = 2 then
               let key = graph.Node n.Ancestors[1]
               if key.Op.Kind = OpKind.Input then key.Id |]
    |> Array.distinct
