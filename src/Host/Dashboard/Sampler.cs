// Samples the cluster once a second for the live web view: silos, running batches, evaluations/s; and fans each sample out to the open event streams.
using System.Threading.Channels;
using Adjoint.Grains;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adjoint.Host;

/// <summary>
/// One sample a second, whoever watches: a few grain calls (the registry, the membership table, one
/// board per silo) however many pages are open. Evaluations/s is the growth of the silos' completion
/// counters between samples; a silo seen for the first time (or restarted, its counter reset) adds
/// nothing to that sample. The last <see cref="HistoryLength"/> rates are kept for a page that opens later.
/// </summary>
public sealed class Sampler(ClusterView view, NodeTimes times, IHostApplicationLifetime lifetime, ILogger<Sampler> log) : BackgroundService
{
    /// <summary>Samples of evaluations/s kept (two minutes).</summary>
    public const int HistoryLength = 120;
    /// <summary>Open event streams at most; one more is refused (503).</summary>
    public const int MaxSubscribers = 32;

    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private readonly Queue<RatePoint> _history = new();
    private readonly Dictionary<string, long> _lastCompleted = [];
    private readonly List<Channel<Sample>> _subscribers = [];
    private volatile Sample? _latest;

    /// <summary>The latest sample (null before the first).</summary>
    public Sample? Latest => _latest;

    /// <summary>The rates kept, oldest first.</summary>
    public RatePoint[] History()
    {
        lock (_history) return [.. _history];
    }

    /// <summary>A stream of samples, or null when <see cref="MaxSubscribers"/> are open. A slow reader
    /// loses old samples, never holds up the others.</summary>
    public ChannelReader<Sample>? Subscribe(CancellationToken closed)
    {
        var channel = Channel.CreateBounded<Sample>(new BoundedChannelOptions(4) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_subscribers)
        {
            if (_subscribers.Count >= MaxSubscribers) return null;
            _subscribers.Add(channel);
        }
        closed.Register(() =>
        {
            lock (_subscribers) _subscribers.Remove(channel);
            channel.Writer.TryComplete();
        });
        if (_latest is { } latest) channel.Writer.TryWrite(latest);
        return channel.Reader;
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The silo's grains answer once it has started.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                Publish(await Take());
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The cluster may be between states (a silo leaving): the next sample tries again.
                log.LogDebug(e, "dashboard sample failed");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<Sample> Take()
    {
        var silos = view.Silos();
        var boards = view.Boards();
        var graphs = view.Graphs();
        var now = DateTime.UtcNow;
        long completed = 0, delta = 0;
        foreach (var board in await boards)
        {
            completed += board.Completed;
            if (_lastCompleted.TryGetValue(board.Silo, out var last) && board.Completed >= last) delta += board.Completed - last;
            _lastCompleted[board.Silo] = board.Completed;
        }
        var seconds = _latest is { } previous ? Math.Max(1e-3, (now - previous.Time).TotalSeconds) : Period.TotalSeconds;
        var rate = new RatePoint(now, delta / seconds);
        lock (_history)
        {
            _history.Enqueue(rate);
            while (_history.Count > HistoryLength) _history.Dequeue();
        }
        var batches = (await boards).SelectMany(b => b.Batches).OrderBy(b => b.Started).ToList();
        return new Sample(now, rate.PerSecond, completed, batches, await silos,
            [.. (await graphs).Select(g => $"{g.Id}@{string.Join(",", g.Versions.Select(v => $"{v.Version}.{v.Partitions}"))}")],
            times.Read());
    }

    private void Publish(Sample sample)
    {
        _latest = sample;
        lock (_subscribers)
            foreach (var s in _subscribers) s.Writer.TryWrite(sample);
    }
}

/// <summary>Evaluations completed per second over the cluster at a time.</summary>
public sealed record RatePoint(DateTime Time, double PerSecond);

/// <summary>
/// One sample: evaluations/s and the total completed, the running batches of every silo, the silos, a
/// stamp per deployed graph ("id@version.partitions,…": the page reloads a graph whose stamp changes),
/// and the mean node step time per op measured in this process.
/// </summary>
public sealed record Sample(DateTime Time, double PerSecond, long Completed, IReadOnlyList<BatchSummary> Batches,
    IReadOnlyList<SiloView> Silos, IReadOnlyList<string> Graphs, IReadOnlyDictionary<string, OpTime> OpTimes);
