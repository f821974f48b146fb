using Adjoint.Client;

namespace Adjoint.Cli;

/// <summary>
/// Where an evaluating command runs: the embedded silo by default, <c>--local</c> for the local engine,
/// <c>--cluster REDIS</c> for a running cluster.
/// </summary>
internal sealed record ClientChoice(Backend Backend, string? Redis, string ClusterId, int? MaxMessageSize = null)
{
    public static ClientChoice From(bool local, string? cluster, string clusterId, int? maxMessageSize) =>
        cluster is not null ? new(Backend.Cluster, cluster, clusterId, maxMessageSize)
        : local ? new(Backend.Local, null, clusterId, maxMessageSize)
        : new(Backend.Embedded, null, clusterId, maxMessageSize);

    public async Task<AdjointClient> ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend, Redis = Redis, ClusterId = ClusterId, MaxMessageBodySize = MaxMessageSize }, cancellationToken);
        }
        catch (ClusterUnreachableException e)
        {
            throw new UserError(e.Message);
        }
        catch (ArgumentOutOfRangeException e) when (MaxMessageSize is not null)
        {
            throw new UserError($"--max-message-size: {e.Message.Split(" (Parameter")[0]}");
        }
    }
}
