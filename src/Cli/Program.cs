// The `adjoint` command line. Exit codes: 0 ok, 1 a user error with a one-line message, 2 an internal error.
using System.CommandLine;
using Adjoint;
using Adjoint.Cli;

return Cli.Run(args, Console.Out, Console.Error);

namespace Adjoint.Cli
{
    /// <summary>The parser and the error policy; commands live in <see cref="Commands"/>.</summary>
    public static class Cli
    {
        /// <summary>Parses and runs one command line, writing to the given streams; returns the exit code.</summary>
        public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
        {
            var file = new Argument<string>("FILE") { Description = "A graph file (JSON, see examples/)." };
            var json = new Option<bool>("--json") { Description = "Machine-readable output.", Recursive = true };

            var step = new Option<double>("--step") { Description = "Finite-difference step.", DefaultValueFactory = _ => 1e-6 };
            var tolerance = new Option<double>("--tolerance") { Description = "Largest relative error that passes.", DefaultValueFactory = _ => 1e-6 };
            var check = new Command("check", "Validate a graph file, check its gradient against finite differences, and compute the Lagrangian residuals.")
            { file, step, tolerance };
            check.SetAction(r => Guard(stderr, () => Commands.Check(r.GetValue(file)!, r.GetValue(step), r.GetValue(tolerance), r.GetValue(json), stdout)));

            var inputs = new Option<string?>("--inputs") { Description = "A JSON object of input values by node id (default: the values in the file)." };
            var all = new Option<bool>("--all") { Description = "Every node's value and adjoint, not just the inputs' and parameters'." };
            var anomaly = new Option<bool>("--detect-anomaly") { Description = "Fail at the first node whose value or adjoint is NaN or infinite." };
            var grad = new Command("grad", "Evaluate a graph and print its output and adjoints.") { file, inputs, all, anomaly };
            grad.SetAction(r => Guard(stderr, () => Commands.Grad(r.GetValue(file)!, r.GetValue(inputs), r.GetValue(all), r.GetValue(anomaly), r.GetValue(json), stdout)));

            var output = new Option<string?>("--output", "-o") { Description = "Where to write the DOT file (default: FILE's name with .dot)." };
            var render = new Command("render", "Draw a graph file as Graphviz DOT (and SVG when `dot` is installed).") { file, output };
            render.SetAction(r => Guard(stderr, () => Commands.Render(r.GetValue(file)!, r.GetValue(output), r.GetValue(json), stdout)));

            var root = new RootCommand("adjoint: gradients of computation graphs by the method of adjoints.") { json, check, grad, render };
            var parsed = root.Parse(args);
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        }

        /// <summary>Turns exceptions into the exit-code policy: what the user can fix is one line and 1.</summary>
        private static int Guard(TextWriter stderr, Func<int> command)
        {
            try
            {
                return command();
            }
            catch (Exception e) when (e is UserError or GraphFile.GraphFileException or GraphException or EvaluationException or FileNotFoundException or DirectoryNotFoundException)
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
