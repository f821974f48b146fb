// The `adjoint` command line. Exit codes: 0 ok, 1 a user error with a one-line message, 2 an internal
// error, 3 a check that ran and did not pass.
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

            var silos = new Option<int>("--silos") { Description = "The number of parts (silos).", Required = true };
            var partition = new Command("partition", "Split a graph into parts for the silos of a cluster: nodes, estimated cost and bytes cut per part.") { file, silos };
            partition.SetAction(r => Guard(stderr, () => Task.FromResult(Commands.PartitionGraph(r.GetValue(file)!, r.GetValue(silos), r.GetValue(json), stdout))).Result);

            var output = new Option<string?>("--output", "-o") { Description = "Where to write the DOT file (default: FILE's name with .dot)." };
            var render = new Command("render", "Draw a graph file as Graphviz DOT (and SVG when `dot` is installed).") { file, output };
            render.SetAction(r => Guard(stderr, () => Task.FromResult(Commands.Render(r.GetValue(file)!, r.GetValue(output), r.GetValue(json), stdout))).Result);

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

            var root = new RootCommand("adjoint: gradients of computation graphs by the method of adjoints, locally or on an Orleans cluster.")
            { json, demo, check, grad, partition, render, ops, models };
            foreach (var c in OnnxCommands.Make(json, stdout, command => Guard(stderr, command).Result)) root.Subcommands.Add(c);
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
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
