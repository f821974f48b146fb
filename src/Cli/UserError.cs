namespace Adjoint.Cli;

/// <summary>A mistake in what the user asked for (exit code 1), as opposed to a bug (exit code 2).</summary>
internal sealed class UserError(string message) : Exception(message);
