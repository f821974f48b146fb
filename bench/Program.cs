// The local engine's benchmark: every figure is timed against a reference run in the same process,
// measured alternately with it, repeated, and summarised by medians.
using Adjoint.Bench;

if (args.Length != 1 || args[0] != "local")
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench -- local");
    return 2;
}
return Local.Run(Console.Out);
