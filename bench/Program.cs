// Benchmark entry: the first argument names the suite. Every figure is timed against a reference run
// in the same process (these machines are noisy), measured alternately with it, summarised by medians.
using Adjoint.Bench;

return args.FirstOrDefault() switch
{
    // local P4 (or P1,P4): a subset of the figures.
    "local" => Local.Run(Console.Out, only: args.Skip(1).FirstOrDefault()?.Split(',').ToHashSet()),
    // ops O1,O2: a subset of the figures.
    "ops" => Ops.Run(Console.Out, only: args.Skip(1).FirstOrDefault()?.Split(',').ToHashSet()),
    // hvp: P-hvp, HVP ÷ gradient on the two-layer net and a 10^5-node scalar DAG.
    "hvp" => Hvp.Run(Console.Out),
    "distributed" => await Distributed.Run(Console.Out, tcp: args.Skip(1).Contains("--tcp"),
        // --only P7,P8: a subset of the figures (for profiling one of them).
        only: args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault()?.Split(',').ToHashSet()),
    "distributed-large" => await Distributed.Large(Console.Out,
        args.Length > 1 ? int.Parse(args[1]) : 10_000, args.Length > 2 ? short.Parse(args[2]) : (short)3),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench -- local [P1,P4] | hvp | ops [O1,O2] | distributed [--tcp] [--only P6,P7,P8,P9] | distributed-large [nodes] [silos]");
    return 2;
}
