// Benchmark entry: the first argument names the suite.
using Adjoint.Bench;

return args.FirstOrDefault() switch
{
    "distributed" => await Distributed.Run(Console.Out, tcp: args.Skip(1).Contains("--tcp")),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench -- distributed [--tcp]");
    return 2;
}
