// Which failures mean "a silo went away" (worth a retry once the cluster has settled) rather than a fault
// of the call itself.
namespace Adjoint.Grains;

internal static class SiloLoss
{
    /// <summary>The call failed because the silo holding its grain (or the gateway to it) is stopping or
    /// dead, or its message was rejected on the way; so does any inner exception.</summary>
    public static bool Is(Exception e) =>
        e is SiloUnavailableException or OrleansMessageRejectionException
        || (e.InnerException is { } inner && Is(inner));
}
