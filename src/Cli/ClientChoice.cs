using Adjoint.Client;

namespace Adjoint.Cli;

/// <summary>
/// Where an evaluating command runs: the embedded silo by default, <c>--local</c> for the local engine,
/// <c>--cluster REDIS</c> for a running cluster.
/// </summary>
internal sealed record ClientChoice(Backend Backend, string? Redis, string ClusterId)
{
    public static ClientChoice From(bool local, string? cluster, string clusterId) =>
        cluster is not null ? new(Backend.Cluster, cluster, clusterId)
        : local ? new(Backend.Local, null, clusterId)
        : new(Backend.Embedded, null, clusterId);

    public async Task<AdjointClient> ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await AdjointClient.ConnectAsync(new AdjointClientOptions { Backend = Backend, Redis = Redis, ClusterId = ClusterId }, cancellationToken);
        }
        catch (ClusterUnreachableException e)
        {
            throw new UserError(e.Message);
        }
    }
}
