/// What a trained model's predictions score: accuracy for classification, RMSE and MAE for
/// regression, found from the loss op at the graph's output (or named by the user).
module Adjoint.Metrics

open System

/// What the predictions are scored as.
type Task =
    /// Predictions [B, C] of class scores, targets int64 labels [B] or probabilities [B, C]: accuracy.
    | Classification = 0
    /// Predictions and targets of one shape [B, …]: root-mean-square and mean absolute error.
    | Regression = 1

/// The nodes holding the predictions and the targets, and how to score them.
type Scoring = { Predictions: string; Target: string; Task: Task }

/// The node ids to score: the loss op's ancestors when the output is cross_entropy,
/// softmax_cross_entropy or mse (predictions first, target second), or the ones given. None when
/// neither names them or their shapes fit no task.
let scoring (graph: Graph) (predictions: string option) (target: string option) : Scoring option =
    let output = graph.Node graph.Output
    let isLoss = [ "cross_entropy"; "softmax_cross_entropy"; "mse" ] |> List.contains output.Op.Name
    let pick given k =
        match given with
        | Some id ->
            if not (graph.Contains id) then invalidArg "id" $"no node '{id}' in the graph"
            Some id
        | None -> if isLoss && output.Ancestors.Length > k then Some output.Ancestors[k] else None
    match pick predictions 0, pick target 1 with
    | Some p, Some t ->
        let ps, ts = graph.ShapeOf p, graph.ShapeOf t
        let classes =
            ps.Rank = 2
            && ((ts.Rank = 1 && ts.Dim 0 = ps.Dim 0 && graph.ElementTypeOf t = ElementType.Int64)
                || (ts = ps && output.Op.Name <> "mse"))
        if classes then Some { Predictions = p; Target = t; Task = Task.Classification }
        elif ps = ts && ps.Rank >= 1 then Some { Predictions = p; Target = t; Task = Task.Regression }
        else None
    | _ -> None

/// Sums over the real rows of evaluations, to be finished into a score.
type Tally =
    { Rows: int
      Correct: int
      Elements: int64
      SquaredError: double
      AbsoluteError: double }

    static member Zero = { Rows = 0; Correct = 0; Elements = 0L; SquaredError = 0.0; AbsoluteError = 0.0 }

// The first index of the largest value in row r of a [rows, width] tensor (torch.argmax's choice).
let private argmax (t: Tensor) (r: int) (width: int) =
    let mutable best = 0
    for c in 1 .. width - 1 do
        if t.Data[r * width + c] > t.Data[r * width + best] then best <- c
    best

/// Adds the first `rows` rows of one evaluation's predictions and targets to a tally.
let add (task: Task) (predictions: Tensor) (target: Tensor) (rows: int) (tally: Tally) : Tally =
    let b = predictions.Shape.Dim 0
    let width = predictions.Count / b
    match task with
    | Task.Classification ->
        let mutable correct = 0
        for r in 0 .. rows - 1 do
            let label = if target.Shape.Rank = 1 then int target.Data[r] else argmax target r width
            if argmax predictions r width = label then correct <- correct + 1
        { tally with Rows = tally.Rows + rows; Correct = tally.Correct + correct }
    | _ ->
        let mutable sq = tally.SquaredError
        let mutable ab = tally.AbsoluteError
        for k in 0 .. rows * width - 1 do
            let e = predictions.Data[k] - target.Data[k]
            sq <- sq + e * e
            ab <- ab + abs e
        { tally with Rows = tally.Rows + rows; Elements = tally.Elements + int64 (rows * width); SquaredError = sq; AbsoluteError = ab }

/// The fraction of rows classified correctly.
let accuracy (tally: Tally) = if tally.Rows = 0 then nan else double tally.Correct / double tally.Rows

/// √(mean squared error) over every element of the real rows.
let rmse (tally: Tally) = if tally.Elements = 0L then nan else Math.Sqrt(tally.SquaredError / double tally.Elements)

/// The mean absolute error over every element of the real rows.
let mae (tally: Tally) = if tally.Elements = 0L then nan else tally.AbsoluteError / double tally.Elements
