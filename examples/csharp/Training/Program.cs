// Trains the sample's net on the local engine and on an embedded silo and prints what each learnt; the
// trained graph goes to the directory named by the first argument (default adjoint-training/).
using Adjoint.Examples;

return await TrainingSample.MainAsync(Console.Out, args.Length > 0 ? args[0] : "adjoint-training", CancellationToken.None);
