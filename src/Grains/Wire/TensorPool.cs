// Large tensor buffers recycled within a silo process, so that a steady stream of evaluations of
// large tensors does not allocate (and collect) fresh megabytes per node per evaluation.
namespace Adjoint.Grains;

/// <summary>
/// A process-wide pool of large <c>double[]</c> buffers, by length. A node grain takes its output and
/// VJP buffers from here and gives back only buffers that provably nothing else references any more
/// (see <see cref="NodeGrain"/>): its own z once every successor has sent its VJP term (so has
/// finished reading z), and the λ and VJP terms it received once its backward step is done, unless
/// they were reported. Small buffers are not pooled (gen-0 allocation is cheaper than the pool).
/// </summary>
public static class TensorPool
{
    /// <summary>Buffers with fewer elements than this are neither pooled nor taken from the pool.</summary>
    public static int MinElements { get; set; } = 1 << 14;

    /// <summary>Buffers kept per length.</summary>
    private const int PerLength = 16;

    private static readonly Dictionary<int, Stack<double[]>> Free = [];

    /// <summary>A buffer of <paramref name="length"/> elements whose contents are undefined (every op overwrites it).</summary>
    public static double[] Rent(int length)
    {
        if (length >= MinElements)
        {
            lock (Free)
            {
                if (Free.TryGetValue(length, out var stack) && stack.Count > 0) return stack.Pop();
            }
        }
        return GC.AllocateUninitializedArray<double>(length);
    }

    /// <summary>Gives a buffer back; the caller guarantees that nothing references it any more.</summary>
    public static void Return(double[]? buffer)
    {
        if (buffer is null || buffer.Length < MinElements) return;
        lock (Free)
        {
            if (!Free.TryGetValue(buffer.Length, out var stack)) Free[buffer.Length] = stack = new Stack<double[]>();
            if (stack.Count < PerLength) stack.Push(buffer);
        }
    }
}
