/// Newton–CG against Adam on digits 3 vs 8: iterations to the optimum's loss (within 1e-6) and final losses.
module Adjoint.Examples.Program

open System
open System.IO
open Adjoint.Examples.NewtonCg

/// examples/data/digits-train.csv, found from the working directory or the program's own.
let private defaultData () =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then None
        else
            let p = Path.Combine(dir.FullName, "examples", "data", "digits-train.csv")
            if File.Exists p then Some p else up dir.Parent
    match up (DirectoryInfo Environment.CurrentDirectory) with
    | Some p -> Some p
    | None -> up (DirectoryInfo AppContext.BaseDirectory)

[<EntryPoint>]
let main argv =
    let path = if argv.Length > 0 then Some argv[0] else defaultData ()
    match path with
    | None ->
        eprintfn "error: no digits CSV given and examples/data/digits-train.csv not found"
        1
    | Some path when not (File.Exists path) ->
        eprintfn $"error: no file '{path}'"
        1
    | Some path ->
        let a, b = (if argv.Length > 2 then int argv[1], int argv[2] else 3, 8)
        let x, s = loadDigits path a b Int32.MaxValue
        let problem = logistic x s 1e-3
        let newton = newtonCg problem 50 50 1e-10
        let best = List.last newton.Losses
        let adamRun = adam problem 0.05 20000 (best + 1e-6)
        let show (trace: Trace) =
            match iterationsTo best 1e-6 trace with
            | Some k -> string k
            | None -> $"> {trace.Losses.Length - 1}"
        printfn $"logistic regression, digits {a} vs {b}: {x.Shape.Dim 0} rows, {x.Shape.Dim 1} features, α = 1e-3"
        printfn $"Newton-CG: {show newton} iterations to within 1e-6 of the optimum, final loss {best:R} ({newton.Gradients} gradients, {newton.Hvps} HVPs)"
        printfn $"Adam (lr 0.05): {show adamRun} iterations to within 1e-6, final loss {List.last adamRun.Losses:R} ({adamRun.Gradients} gradients)"
        0
