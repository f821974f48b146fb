// The cap on one message's body (Orleans' MaxMessageBodySize) and what our messages take of it.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using System.Text;

namespace Adjoint.Grains;

/// <summary>
/// The largest message body Orleans sends or accepts (<c>MessagingOptions.MaxMessageBodySize</c>) and
/// estimates of what tensors and work items take of it. Orleans 10 does not tell the caller when a
/// message is over the limit: it logs "Invalid body size", closes the connection, and the call waits for
/// its response timeout (a one-way message is lost). So everything is checked before it is sent: the
/// client checks a batch's inputs and a graph it deploys, the graph grain the graph and (in-memory
/// storage) the states it stores, the coordinator a batch's results, a node the values and terms it
/// sends, and work items travel in messages split to fit. The checks hold wherever the receiver runs, so
/// that a graph behaves the same on one silo (where nothing is serialized) as on many.
/// </summary>
public sealed class MessageSize
{
    /// <summary>Orleans' default limit, 100 MiB.</summary>
    public const int OrleansDefault = 100 * 1024 * 1024;

    /// <summary>The smallest limit the settings accept: room for a header, the envelope and a few items.</summary>
    public const int Minimum = 16 * 1024;

    // What a message spends besides its items (the body's own framing, the method's arguments), and what
    // an item spends besides its tensor (its evaluation's header, slot, field headers). Both generous:
    // a message estimated to fit must fit.
    private const int Envelope = 1024;
    private const int ItemOverhead = 64;
    private const int TensorOverhead = 32;
    // A node id's field in a description (its UTF-16 length counts twice, as for inputs) and its partition.
    private const int IdOverhead = 16;

    /// <summary>A limit of <paramref name="maxBodySize"/> bytes.</summary>
    public MessageSize(int maxBodySize)
    {
        if (maxBodySize < Minimum)
            throw new ArgumentOutOfRangeException(nameof(maxBodySize), $"the message size limit (MaxMessageBodySize) must be at least {Minimum} bytes, got {maxBodySize}");
        Limit = maxBodySize;
    }

    /// <summary>The limit a silo or client is configured with.</summary>
    public static MessageSize Of(IServiceProvider services) =>
        new(services.GetService<IOptions<MessagingOptions>>()?.Value.MaxMessageBodySize ?? OrleansDefault);

    /// <summary>The limit of the client behind a grain factory (Orleans' default when it cannot be told).</summary>
    public static MessageSize Of(IGrainFactory grains) =>
        grains is IClusterClient client ? Of(client.ServiceProvider) : new MessageSize(OrleansDefault);

    /// <summary>MaxMessageBodySize in bytes.</summary>
    public int Limit { get; }

    /// <summary>What the items of one message may take.</summary>
    public long Budget => Limit - Envelope;

    /// <summary>The bytes a tensor of <paramref name="elements"/> doubles takes in a message.</summary>
    public static long TensorBytes(long elements) => 8 * elements + TensorOverhead;

    /// <summary>The bytes an item carrying this tensor (or none) takes in a message.</summary>
    public static long ItemBytes(TensorData? tensor) => ItemOverhead + (tensor is null ? 0 : TensorBytes(tensor.Data.LongLength));

    /// <summary>Whether an item with a tensor of this shape fits in one message.</summary>
    public bool Fits(Shape shape) => ItemOverhead + TensorBytes(shape.LongCount) <= Budget;

    /// <summary>Why a value of this shape cannot travel (the caller names the node).</summary>
    public string TooLarge(string what, Shape shape) =>
        $"{what} of shape {shape} takes {TensorBytes(shape.LongCount)} bytes in a message, more than the message size limit of {Limit} bytes (MaxMessageBodySize)";

    /// <summary>
    /// The items in messages that fit: one array when they all do (the common case), else consecutive
    /// runs. An item too large on its own travels alone; senders check sizes before they get here.
    /// </summary>
    public IEnumerable<T[]> Split<T>(List<T> items, Func<T, long> bytes)
    {
        long total = 0;
        foreach (var item in items) total += bytes(item);
        if (total <= Budget)
        {
            yield return [.. items];
            yield break;
        }
        var start = 0;
        long size = 0;
        for (var i = 0; i < items.Count; i++)
        {
            var b = bytes(items[i]);
            if (i > start && size + b > Budget)
            {
                yield return items.GetRange(start, i - start).ToArray();
                (start, size) = (i, 0);
            }
            size += b;
        }
        yield return items.GetRange(start, items.Count - start).ToArray();
    }

    /// <summary>
    /// The bytes a graph version takes in a message: its JSON (UTF-8, every stored value inline) and, in
    /// a description, each node's id and partition again. Deploy sends it, GetSpec and Describe answer
    /// with it.
    /// </summary>
    public static long GraphBytes(Graph graph, string json) =>
        ItemOverhead + Encoding.UTF8.GetByteCount(json) + graph.Nodes.Sum(n => IdOverhead + 2L * n.Id.Length);

    /// <summary>The bytes a stored graph version takes: its JSON and the partition of each node.</summary>
    public static long StoredGraphBytes(string json, int nodes) =>
        ItemOverhead + Encoding.UTF8.GetByteCount(json) + (long)IdOverhead * nodes;

    /// <summary>
    /// Checks that a graph version travels in one message (see <see cref="GraphBytes"/>), naming its
    /// largest stored value: the client before it deploys, the graph grain before it stores.
    /// </summary>
    /// <exception cref="GraphRejectedException">The graph is over the limit.</exception>
    public void CheckGraph(Graph graph, string json)
    {
        var bytes = GraphBytes(graph, json);
        if (bytes <= Budget) return;
        var largest = graph.Nodes.Where(n => n.Value is not null).MaxBy(n => n.Value.Value.Data.LongLength);
        var value = largest is null ? "" : $" (the largest is node '{largest.Id}', {largest.Value.Value.Shape})";
        throw new GraphRejectedException(
            $"the graph takes {bytes} bytes in a message, its JSON with every stored value inline{value}, more than the message size limit of {Limit} bytes (MaxMessageBodySize)", null);
    }

    /// <summary>The bytes a parameter's value (or gradient) takes in a message that names it.</summary>
    public static long ParameterBytes(string id, long elements) => ItemOverhead + IdOverhead + 2L * id.Length + TensorBytes(elements);

    /// <summary>The bytes a parameter's stored state takes: its value and, once Adam has run, its moments.</summary>
    public static long ParameterStateBytes(params TensorData?[] tensors) => ItemOverhead + tensors.Sum(t => t is null ? 0 : TensorBytes(t.Data.LongLength));

    /// <summary>
    /// The message in which the in-memory grain storage writes a state of <paramref name="stateBytes"/>
    /// to its storage grain (possibly on another silo). Measured on Orleans 10.4.2 at twice the state:
    /// a graph state of about 39 KB (Orleans' binary form) went out as a body of 77,919 bytes, the same
    /// state in Orleans' default JSON form (42 KB) as 83,993 bytes.
    /// </summary>
    public static long MemoryStorageWriteBytes(long stateBytes) => 2 * stateBytes;

    /// <summary>Why a state of <paramref name="stateBytes"/> cannot be written to the in-memory storage, or null.</summary>
    public string? TooLargeToStore(string what, long stateBytes) =>
        MemoryStorageWriteBytes(stateBytes) <= Budget ? null
        : $"{what} would take {MemoryStorageWriteBytes(stateBytes)} bytes in the message that writes it to the in-memory grain storage, more than the message size limit of {Limit} bytes (MaxMessageBodySize)";

    /// <summary>
    /// Checks, before it is sent, that a batch's inputs fit in one message: each tensor (naming the
    /// evaluation and node) and all of them (a tensor used in several input sets counts once, as the
    /// serializer writes it once).
    /// </summary>
    /// <exception cref="ArgumentException">An input, or the batch, is over the limit.</exception>
    public void CheckInputs(IReadOnlyList<IReadOnlyDictionary<string, TensorData>> inputs)
    {
        var seen = new HashSet<TensorData>(ReferenceEqualityComparer.Instance);
        long total = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            foreach (var (id, value) in inputs[i])
            {
                total += ItemOverhead + 2L * id.Length;
                if (!seen.Add(value)) continue;
                if (ItemBytes(value) > Budget)
                    throw new ArgumentException($"evaluation {i}: node '{id}': {TooLarge("a value", value.ShapeOf())}");
                total += TensorBytes(value.Data.LongLength);
            }
        }
        if (total > Budget)
            throw new ArgumentException(
                $"the inputs of this batch of {inputs.Count} evaluations take about {total} bytes in one message, more than the message size limit of {Limit} bytes (MaxMessageBodySize); split it into smaller batches");
    }
}
