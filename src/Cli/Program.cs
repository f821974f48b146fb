// The `adjoint` command line. Exit codes: 0 ok, 1 a user error with a one-line message, 2 an internal
// error, 3 a check that ran and did not pass, 130 a train run stopped by Ctrl-C (saved).
using System.CommandLine;
using Adjoint.Cli;
using Adjoint.Client;

return await Cli.RunAsync(args, Console.Out, Console.Error);

namespace Adjoint.Cli
{
    /// <summary>The parser and the error policy; commands live in <see cref="Commands"/> and <see cref="DemoCommand"/>.</summary>
    public static class Cli
    {
        /// <summary>Parses and runs one command line, writing to the given streams; returns the exit code.</summary>
        public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
        {
            var file = new Argument<string>("FILE") { Description = "A graph file (JSON, see examples/)." };
            var json = new Option<bool>("--json") { Description = "Machine-readable output.", Recursive = true };

            // Where evaluating commands run.
            var local = new Option<bool>("--local") { Description = "Use the local engine in this process instead of the embedded silo." };
            var cluster = new Option<string?>("--cluster") { Description = "Use a running cluster: the Redis connection string of its membership (e.g. 127.0.0.1:6390)." };
            var clusterId = new Option<string>("--cluster-id") { Description = "The cluster's Orleans cluster id.", DefaultValueFactory = _ => "adjoint" };
            var maxMessageSize = new Option<int?>("--max-message-size") { Description = "The largest message in bytes (Orleans' MaxMessageBodySize, default 100 MiB): the embedded silo's, or this client's towards a cluster (give the silos' value)." };
            ClientChoice Backend(ParseResult r) => ClientChoice.From(r.GetValue(local), r.GetValue(cluster), r.GetValue(clusterId)!, r.GetValue(maxMessageSize));
            Command Evaluating(Command c)
            {
                c.Options.Add(local);
                c.Options.Add(cluster);
                c.Options.Add(clusterId);
                c.Options.Add(maxMessageSize);
                return c;
            }

            var step = new Option<double>("--step") { Description = "Finite-difference step.", DefaultValueFactory = _ => 1e-6 };
            var tolerance = new Option<double>("--tolerance") { Description = "Largest relative error that passes.", DefaultValueFactory = _ => 1e-6 };
            var inputs = new Option<string?>("--inputs") { Description = "Input values: a JSON file, or the JSON itself ('{\"x\": [[1], [2]]}'): an object of values by node id, or a list of them for a batch (default: the values in the file)." };
            var check = Evaluating(new Command("check", $"Validate a graph file, evaluate its gradient, check it against finite differences and the local engine, and compute the Lagrangian residuals. Exit code {Commands.CheckFailed} when the check runs but does not pass.")
            { file, inputs, step, tolerance });
            check.SetAction((r, ct) => Guard(stderr, () => Commands.Check(r.GetValue(file)!, r.GetValue(inputs), r.GetValue(step), r.GetValue(tolerance), Backend(r), r.GetValue(json), stdout, ct)));

            var all = new Option<bool>("--all") { Description = "Every node's value and adjoint, not just the inputs' and parameters' adjoints." };
            var anomaly = new Option<bool>("--detect-anomaly") { Description = "Fail at the first node whose value or adjoint is NaN or infinite (runs on the local engine)." };
            var grad = Evaluating(new Command("grad", "Evaluate a graph and print its output and adjoints.") { file, inputs, all, anomaly });
            grad.SetAction((r, ct) => Guard(stderr, () => Commands.Grad(r.GetValue(file)!, r.GetValue(inputs), r.GetValue(all), r.GetValue(anomaly), Backend(r), r.GetValue(json), stdout, ct)));

            var silos = new Option<int?>("--silos") { Description = "The number of parts (silos) to plan for (without --cluster)." };
            var partition = new Command("partition", "Split a graph into parts for the silos of a cluster: nodes, estimated cost and bytes cut per part; with --cluster, deploy it and show the silo each node grain actually runs on next to its part.")
            { file, silos, cluster, clusterId, maxMessageSize };
            partition.SetAction((r, ct) => Guard(stderr, () =>
                r.GetValue(cluster) is not null
                    ? (r.GetValue(silos) is null ? PlacementCommand.Run(r.GetValue(file)!, Backend(r), r.GetValue(json), stdout, ct)
                        : throw new UserError("--silos plans for a number of silos; with --cluster the cluster's own silos decide: give one or the other"))
                    : Task.FromResult(Commands.PartitionGraph(r.GetValue(file)!, r.GetValue(silos) ?? throw new UserError("partition needs --silos N (a plan) or --cluster REDIS (where the nodes run)"), r.GetValue(json), stdout))));

            var batchSize = new Option<int>("--batch") { Description = "Evaluations to run (concurrently, as one batch); the one of median wall time is shown.", DefaultValueFactory = _ => 1 };
            var traceOut = new Option<string?>("--trace") { Description = "Write the batch's node steps as Chrome trace events (JSON) here, for https://ui.perfetto.dev or chrome://tracing." };
            var profile = Evaluating(new Command("profile", "Run an evaluation (or --batch N) with timing on: per node forward and backward time, silo and bytes, the critical path and its share of the wall time, the slowest edges.")
            { file, inputs, batchSize, traceOut });
            profile.SetAction((r, ct) => Guard(stderr, () => ProfileCommand.Run(r.GetValue(file)!, r.GetValue(inputs), r.GetValue(batchSize), r.GetValue(traceOut), Backend(r), r.GetValue(json), stdout, ct)));

            var output = new Option<string?>("--output", "-o") { Description = "Where to write the DOT file (default: FILE's name with .dot)." };
            var adjointGraph = new Option<bool>("--adjoint") { Description = "Draw the adjoint graph instead: the forward nodes and the backward pass as a graph of ops, each λ node named by the node it is the adjoint of." };
            var render = new Command("render", "Draw a graph file as Graphviz DOT (and SVG when `dot` is installed).") { file, output, adjointGraph };
            render.SetAction(r => Guard(stderr, () => Task.FromResult(Commands.Render(r.GetValue(file)!, r.GetValue(output), r.GetValue(adjointGraph), r.GetValue(json), stdout))).Result);

            var vector = new Option<string>("--vector") { Description = "The vector v: an .npz file (one array per node id) or a JSON object of values by node id (a file or the JSON itself); its nodes are the targets unless --wrt names them.", Required = true };
            var tangent = new Option<string>("--tangent") { Description = "The tangent v, given as --vector is for hvp.", Required = true };
            var wrt = new Option<string?>("--wrt") { Description = "The targets (float64 inputs or parameters), comma-separated; the vector file must give each and no other." };
            var of = new Option<string?>("--of") { Description = "The node whose Jacobian is taken (default: the output)." };
            var hvp = Evaluating(new Command("hvp", "Hessian-vector product Hv of the output at the inputs and the current parameters, for every float64 input and parameter (reverse over reverse on the adjoint graph).") { file, vector, wrt, inputs });
            hvp.SetAction((r, ct) => Guard(stderr, () => HigherCommands.Hvp(r.GetValue(file)!, r.GetValue(vector)!, r.GetValue(wrt), r.GetValue(inputs), Backend(r), r.GetValue(json), stdout, ct)));
            var jvp = Evaluating(new Command("jvp", "Jacobian-vector product Jv of the output (or --of NODE) at the inputs and the current parameters (the adjoint graph transposed).") { file, tangent, wrt, of, inputs });
            jvp.SetAction((r, ct) => Guard(stderr, () => HigherCommands.Jvp(r.GetValue(file)!, r.GetValue(tangent)!, r.GetValue(wrt), r.GetValue(of), r.GetValue(inputs), Backend(r), r.GetValue(json), stdout, ct)));

            var outDir = new Option<string>("--out") { Description = "Where to write the loss plot and the graph picture.", DefaultValueFactory = _ => "adjoint-demo" };
            var steps = new Option<int>("--steps") { Description = "Training steps.", DefaultValueFactory = _ => 60 };
            var demo = Evaluating(new Command("demo", "The seed's two-layer net on an embedded silo: distributed gradients checked, then trained, with a loss plot.") { outDir, steps });
            demo.SetAction((r, ct) => Guard(stderr, () => DemoCommand.RunAsync(Path.Combine(AppContext.BaseDirectory, "examples"), r.GetValue(outDir)!, r.GetValue(steps), Backend(r), r.GetValue(json), stdout, ct)));

            // `models …`: what is deployed on a cluster.
            var modelId = new Argument<string>("ID") { Description = "The model (graph) id: what `grad FILE --cluster` deploys FILE's graph under is its file name without extension." };
            var version = new Option<int>("--version") { Description = "The version (default: the latest)." };
            ClientChoice OnCluster(ParseResult r) => ClientChoice.From(false, r.GetValue(cluster), r.GetValue(clusterId)!, r.GetValue(maxMessageSize));
            Command Models(Command c)
            {
                c.Options.Add(cluster);
                c.Options.Add(clusterId);
                c.Options.Add(maxMessageSize);
                return c;
            }
            var modelsList = Models(new Command("list", "Every model deployed on the cluster and its versions."));
            modelsList.SetAction((r, ct) => Guard(stderr, () => ModelsCommand.List(OnCluster(r), r.GetValue(json), stdout, ct)));
            var modelsDescribe = Models(new Command("describe", "A model's versions, nodes, parameters and their sizes, and layout (partitions).") { modelId, version });
            modelsDescribe.SetAction((r, ct) => Guard(stderr, () => ModelsCommand.Describe(r.GetValue(modelId)!, r.GetValue(version), OnCluster(r), r.GetValue(json), stdout, ct)));
            var modelsRead = Models(new Command("read", "A model version's current (trained) parameter values.") { modelId, version });
            modelsRead.SetAction((r, ct) => Guard(stderr, () => ModelsCommand.Read(r.GetValue(modelId)!, r.GetValue(version), OnCluster(r), r.GetValue(json), stdout, ct)));
            var exportTo = new Option<string>("--output", "-o") { Description = "The graph file to write.", Required = true };
            var modelsExport = Models(new Command("export", "Write a model version as a graph file with its trained parameter values (`grad FILE --local` on it equals the cluster).") { modelId, version, exportTo });
            modelsExport.SetAction((r, ct) => Guard(stderr, () => ModelsCommand.Export(r.GetValue(modelId)!, r.GetValue(version), r.GetValue(exportTo)!, OnCluster(r), r.GetValue(json), stdout, ct)));
            var allVersions = new Option<bool>("--all") { Description = "Every version of the model." };
            var modelsUndeploy = Models(new Command("undeploy", "Remove a model version (default: the latest) or --all of them, with their parameter values.") { modelId, version, allVersions });
            modelsUndeploy.SetAction((r, ct) => Guard(stderr, () => ModelsCommand.Undeploy(r.GetValue(modelId)!, r.GetValue(version), r.GetValue(allVersions), OnCluster(r), r.GetValue(json), stdout, ct)));
            var models = new Command("models", "The models deployed on a cluster (--cluster REDIS): list, describe, read, export, undeploy.")
            { modelsList, modelsDescribe, modelsRead, modelsExport, modelsUndeploy };

            var opName = new Argument<string?>("NAME") { Description = "One op (default: all of them).", Arity = ArgumentArity.ZeroOrOne };
            var ops = new Command("ops", "The op catalogue: each op's arity, attributes (types, defaults) and shape rule, from the catalogue itself.") { opName };
            ops.SetAction(r => Guard(stderr, () => Task.FromResult(OpsCommand.Run(r.GetValue(opName), r.GetValue(json), stdout))).Result);

            var model = new Argument<string>("MODEL") { Description = "A graph file whose output is the loss (examples/digits-mlp.json)." };
            var data = new Option<string>("--data") { Description = "The data: CSV (a header naming input ids, x[0] … x[63] for a row's 64 values of input x), .npz/.npy (arrays by input id, rows first) or JSON (a list of --inputs objects). Rows bind inputs along their first dimension.", Required = true };
            var columns = new Option<string?>("--columns") { Description = "For a CSV file without a header: the inputs in column order, 'x:64,label' (the count defaults to the input's values a row)." };
            var predictions = new Option<string?>("--predictions") { Description = "The node holding the predictions to score (default: the loss op's first ancestor)." };
            var target = new Option<string?>("--target") { Description = "The node holding the targets (default: the loss op's second ancestor)." };
            var epochs = new Option<int>("--epochs") { Description = "The epoch to stop after.", DefaultValueFactory = _ => 10 };
            var batchRows = new Option<int?>("--batch") { Description = "Rows per optimizer step (default: the graph's rows per evaluation); a multiple of them." };
            var optimizerName = new Option<string>("--optimizer") { Description = "sgd or adam.", DefaultValueFactory = _ => "adam" };
            optimizerName.AcceptOnlyFromAmong("sgd", "adam");
            var lr = new Option<double?>("--lr") { Description = "The learning rate (default 0.001 for Adam, 0.01 for SGD)." };
            var shuffle = new Option<bool?>("--shuffle") { Description = "Visit the rows in a fresh seeded order each epoch." };
            var seed = new Option<int?>("--seed") { Description = "The seed of the orders and of a --validation fraction (default 0)." };
            var validationData = new Option<string?>("--validation") { Description = "A validation data file, or a fraction (0.2) of --data's rows held out by a seeded choice." };
            var saveTo = new Option<string?>("--save") { Description = "Write the graph with its trained parameters here after every epoch and on Ctrl-C, with the training state beside it (.training.json)." };
            var resume = new Option<bool>("--resume") { Description = "MODEL is a file train --save wrote: continue from its training state (to --epochs)." };
            var plotTo = new Option<string?>("--plot") { Description = "The loss plot PNG (default: beside --save, or MODEL-training.png in the current folder)." };
            var train = Evaluating(new Command("train", $"Train a model on a data file with mini-batches of its rows; Ctrl-C stops after the current step and saves (exit code {TrainCommand.Interrupted}).")
                { model, data, columns, epochs, batchRows, optimizerName, lr, shuffle, seed, validationData, saveTo, resume, plotTo, predictions, target });
            train.SetAction((r, ct) => Guard(stderr, () => TrainCommand.Train(new TrainSettings
            {
                Model = r.GetValue(model)!, Data = r.GetValue(data)!, Columns = r.GetValue(columns), Epochs = r.GetValue(epochs), Batch = r.GetValue(batchRows),
                Optimizer = r.GetValue(optimizerName)!, LearningRate = r.GetValue(lr), Shuffle = r.GetValue(shuffle), Seed = r.GetValue(seed),
                Validation = r.GetValue(validationData), Save = r.GetValue(saveTo), Resume = r.GetValue(resume), Plot = r.GetValue(plotTo),
                Predictions = r.GetValue(predictions), Target = r.GetValue(target),
            }, Backend(r), r.GetValue(json), stdout, stderr, ct)));
            var eval = Evaluating(new Command("eval", "The loss of a model on a data file, and its accuracy (classification) or RMSE and MAE (regression).")
                { model, data, columns, predictions, target });
            eval.SetAction((r, ct) => Guard(stderr, () => TrainCommand.Eval(r.GetValue(model)!, r.GetValue(data)!, r.GetValue(columns), r.GetValue(predictions), r.GetValue(target), Backend(r), r.GetValue(json), stdout, ct)));

            var root = new RootCommand("adjoint: gradients of computation graphs by the method of adjoints, locally or on an Orleans cluster.")
            { json, demo, check, grad, hvp, jvp, train, eval, partition, profile, render, ops, models };
            foreach (var c in OnnxCommands.Make(json, stdout, command => Guard(stderr, command).Result)) root.Subcommands.Add(c);
            var parsed = root.Parse(args);
            if (parsed.CommandResult.Command == train) return await Interruptible(parsed, stdout, stderr);
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        }

        // train: the first Ctrl-C asks the run to stop after its current step and save; a second one
        // cancels at once (System.CommandLine's own handling would cancel the step mid-way).
        private static async Task<int> Interruptible(ParseResult parsed, TextWriter stdout, TextWriter stderr)
        {
            using var hard = new CancellationTokenSource();
            void OnCancel(object? sender, ConsoleCancelEventArgs e)
            {
                if (TrainCommand.StopRequested)
                {
                    hard.Cancel();
                    return;
                }
                e.Cancel = true;
                TrainCommand.StopRequested = true;
                stderr.WriteLine("stopping after the current step (Ctrl-C again to cancel at once)");
            }
            Console.CancelKeyPress += OnCancel;
            try
            {
                return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null }, hard.Token);
            }
            finally
            {
                Console.CancelKeyPress -= OnCancel;
            }
        }

        /// <summary>Turns exceptions into the exit-code policy: what the user can fix is one line and 1.</summary>
        private static async Task<int> Guard(TextWriter stderr, Func<Task<int>> command)
        {
            try
            {
                return await command();
            }
            catch (ResultsTooLargeException e)
            {
                // The cluster's advice names API modes; say it in this command line's flags.
                stderr.WriteLine(e.EvaluationsThatFit == 0
                    ? $"error: {e.Sizes}; ask for fewer results (grad without --all returns only the inputs' and parameters' adjoints) or raise the limit (--max-message-size here, Limits:MaxMessageBodySize on the silos)"
                    : $"error: {e.Sizes}; pass at most {e.EvaluationsThatFit} input sets at a time");
                return 1;
            }
            catch (Exception e) when (e is UserError or GraphFile.GraphFileException or GraphException or EvaluationException
                                          or GraphRejectedException or LimitExceededException or StorageFailedException
                                          or TrainingStepException or ClusterUnreachableException
                                          or FileNotFoundException or DirectoryNotFoundException
                                          or TimeoutException or OperationCanceledException)
            {
                stderr.WriteLine($"error: {e.Message}");
                return 1;
            }
            catch (Exception e)
            {
                stderr.WriteLine($"internal error: {e}");
                return 2;
            }
        }
    }
}
