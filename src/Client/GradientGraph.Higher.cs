// Hessian-vector and Jacobian-vector products of a deployed graph, on whatever back end it runs.
namespace Adjoint.Client;

public abstract partial class GradientGraph
{
    private readonly Lock _derivedGate = new();
    private Graph? _parametersAsInputs;
    private readonly Dictionary<string, HessianVector> _hessians = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JacobianVector> _jacobians = new(StringComparer.Ordinal);
    private readonly Dictionary<Graph, Task<GradientGraph>> _derived = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Hessian-vector products Hv = ∇_x ⟨∇_S f, v_S⟩ of the scalar output f at the given inputs and the
    /// parameters' current values: one vector per target S (the keys of <paramref name="vectors"/>,
    /// float64 inputs or parameters), and a product for every float64 input and parameter x (the rows
    /// H[x, S] v_S), by node id. The product is the gradient of a derived graph (the adjoint graph with
    /// ⟨λ_S, v_S⟩ as its output), deployed once per set of targets as a graph of its own under
    /// <c>{Id}.hvp</c>, with the parameters as inputs that each call fills from <see cref="ReadParametersAsync"/>.
    /// Every back end gives the same bits.
    /// </summary>
    /// <exception cref="ArgumentException">A target is not a float64 input or parameter, a vector has
    /// another shape than its node, or an op on the way has no VJP graph (the message names the node).</exception>
    public async Task<IReadOnlyDictionary<string, Tensor>> HessianVectorAsync(
        IReadOnlyDictionary<string, Tensor>? inputs, IReadOnlyDictionary<string, Tensor> vectors, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        var targets = Targets(vectors.Keys);
        var product = Cached(_hessians, string.Join('\n', targets), () => new HessianVector(ParametersAsInputs(), targets));
        var bound = product.Bind(await WithParametersAsync(inputs, cancellationToken), vectors);
        var derived = await DerivedAsync(".hvp", product.Graph, cancellationToken);
        var gradient = await derived.GradientAsync(bound, Adjoints.InputsAndParameters, cancellationToken);
        return product.Collect(gradient.Adjoints);
    }

    /// <summary>
    /// The Jacobian-vector product J v = ∂y/∂S · v_S of the output (a tensor of its shape) at the given
    /// inputs and the parameters' current values, one tangent per target S (float64 inputs or
    /// parameters). By transposing the adjoint graph: the gradient, with respect to the seed, of a derived
    /// graph deployed once per set of targets under <c>{Id}.jvp</c>, as for <see cref="HessianVectorAsync"/>.
    /// </summary>
    public Task<Tensor> JvpAsync(IReadOnlyDictionary<string, Tensor>? inputs, IReadOnlyDictionary<string, Tensor> tangents, CancellationToken cancellationToken = default) =>
        JvpAsync(inputs, tangents, Graph.Output, cancellationToken);

    /// <summary>J v of any float64 node <paramref name="of"/> (see the overload for the output).</summary>
    public async Task<Tensor> JvpAsync(
        IReadOnlyDictionary<string, Tensor>? inputs, IReadOnlyDictionary<string, Tensor> tangents, string of, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tangents);
        ArgumentException.ThrowIfNullOrWhiteSpace(of);
        if (!Graph.Contains(of)) throw new ArgumentException($"no node '{of}' in the graph", nameof(of));
        var targets = Targets(tangents.Keys);
        var product = Cached(_jacobians, of + "\n" + string.Join('\n', targets), () => new JacobianVector(ParametersAsInputs(), of, targets));
        var bound = product.Bind(await WithParametersAsync(inputs, cancellationToken), tangents);
        var derived = await DerivedAsync(".jvp", product.Graph, cancellationToken);
        var gradient = await derived.GradientAsync(bound, Adjoints.InputsAndParameters, cancellationToken);
        return product.Collect(gradient.Adjoints);
    }

    /// <summary>Makes a graph derived from this one ready on the same back end, under its own id.</summary>
    private protected abstract Task<GradientGraph> DeployDerivedAsync(string id, Graph graph, CancellationToken cancellationToken);

    // Sorted, so that the same targets in any order make the same derived graph (and version).
    private static string[] Targets(IEnumerable<string> ids) => [.. ids.Order(StringComparer.Ordinal)];

    private T Cached<T>(Dictionary<string, T> cache, string key, Func<T> make)
    {
        lock (_derivedGate)
        {
            if (!cache.TryGetValue(key, out var value)) cache[key] = value = make();
            return value;
        }
    }

    private Graph ParametersAsInputs()
    {
        lock (_derivedGate) return _parametersAsInputs ??= AdjointGraphModule.parametersAsInputs(Graph);
    }

    // The parameters' current values, then the given inputs (which may set a parameter, as an evaluation's may).
    private async Task<IReadOnlyDictionary<string, Tensor>> WithParametersAsync(IReadOnlyDictionary<string, Tensor>? inputs, CancellationToken cancellationToken)
    {
        var all = new Dictionary<string, Tensor>(await ReadParametersAsync(cancellationToken));
        if (inputs is not null)
            foreach (var (id, value) in inputs) all[id] = value;
        return all;
    }

    // Deployed once per derived graph; a deployment that failed or was cancelled is tried again next time.
    private Task<GradientGraph> DerivedAsync(string suffix, Graph graph, CancellationToken cancellationToken)
    {
        Task<GradientGraph> task;
        lock (_derivedGate)
        {
            if (!_derived.TryGetValue(graph, out task!) || task.IsFaulted || task.IsCanceled)
                _derived[graph] = task = DeployDerivedAsync(Id + suffix, graph, CancellationToken.None);
        }
        return task.WaitAsync(cancellationToken);
    }
}
