// Hessian-vector and Jacobian-vector products through the facade (README "Higher-order derivatives").
using Adjoint.Client;

namespace Adjoint.Examples;

/// <summary>The README's higher-order snippet on the seed's two-layer net, on any back end.</summary>
public static class HigherSample
{
    /// <summary>Hv (v in W2's direction) for every input and parameter, and J v of the loss.</summary>
    public static async Task<(IReadOnlyDictionary<string, Tensor> Hv, Tensor Jv)> ProductsAsync(AdjointClient client, Graph graph, CancellationToken ct)
    {
        // <higher>
        var net = await client.DeployAsync("two-layer", graph, ct);
        var v = new Dictionary<string, Tensor> { ["W2"] = Tensor.OfRows([[1.0], [0.0], [0.0], [0.0]]) };
        var hv = await net.HessianVectorAsync(null, v, ct);   // H[x, W2] v for every input and parameter x, at the current parameters
        var jv = await net.JvpAsync(null, v, ct);             // J v = ∂loss/∂W2 · v (derived graphs 'two-layer.hvp', '.jvp' on silos)
        // </higher>
        return (hv, jv);
    }
}
