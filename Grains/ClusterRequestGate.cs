using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.Engine.Sources.Http;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;

namespace Ingest.Grains;

/// <summary>
/// A silo's gate for rate-limited HTTP requests: the turns of each key are leased from its
/// <see cref="IRateLimitGrain"/> in blocks as large as the requests waiting here, then used at their
/// times. A turn is used at its time or not at all (one missed by more than a quarter of the
/// window's margin, waiting for it or woken late, is dropped), and a lease answered slower than half the margin is dropped whole:
/// its times are that uncertain. A pause (a 429) drops the turns held, here and on every silo told.
/// Imports without a rate limit never come here.
/// </summary>
public sealed class ClusterRequestGate(IGrainFactory grains, ILogger<ClusterRequestGate> logger) : IRequestGate, IRateLimitObserver
{
    private sealed class Key
    {
        public readonly Queue<long> Turns = new();
        public readonly SemaphoreSlim Leasing = new(1, 1);
        public int Waiting;
        public long PausedUntil;
    }

    private readonly ConcurrentDictionary<string, Key> _keys = new(StringComparer.Ordinal);
    private IRateLimitObserver? _self;
    private bool _selfTried;

    public async ValueTask WaitAsync(RateLimitSpec limit, CancellationToken cancellationToken = default)
    {
        var key = _keys.GetOrAdd(limit.Key, _ => new Key());
        var margin = SlidingWindow.MarginFor(limit.PerSeconds);
        var late = (long)(margin.TotalSeconds / 4 * Stopwatch.Frequency);
        Interlocked.Increment(ref key.Waiting);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Take(key, late) is { } at)
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
                    var now = Stopwatch.GetTimestamp();
                    if (Volatile.Read(ref key.PausedUntil) > now) continue; // paused meanwhile: the turn is void
                    if (now - at > late) continue; // woken too late (a busy machine): sent now, it could crowd the next window
                    return;
                }
                await key.Leasing.WaitAsync(cancellationToken);
                try
                {
                    lock (key.Turns) if (key.Turns.Count > 0) continue; // another waiter leased meanwhile
                    var self = await SelfAsync();
                    var sent = Stopwatch.GetTimestamp();
                    var lease = await grains.GetGrain<IRateLimitGrain>(limit.Key).LeaseAsync(limit.Requests, limit.PerSeconds, Math.Max(1, Volatile.Read(ref key.Waiting)), self);
                    var received = Stopwatch.GetTimestamp();
                    if (Stopwatch.GetElapsedTime(sent, received) > margin / 2)
                    {
                        logger.LogDebug("rate limit {Key}: a lease took {Ms:F0} ms; its {Turns} turns are dropped", limit.Key, Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds, lease.Delays.Length);
                        continue;
                    }
                    // Timed from the answer: a turn is never used before the grain's time for it.
                    lock (key.Turns)
                        foreach (var delay in lease.Delays) key.Turns.Enqueue(received + (long)(delay.TotalSeconds * Stopwatch.Frequency));
                }
                finally
                {
                    key.Leasing.Release();
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref key.Waiting);
        }
    }

    public async ValueTask PauseAsync(RateLimitSpec limit, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        Pause(limit.Key, duration);
        await grains.GetGrain<IRateLimitGrain>(limit.Key).PauseAsync(duration).WaitAsync(cancellationToken);
    }

    public Task PausedAsync(string key, TimeSpan duration)
    {
        Pause(key, duration);
        return Task.CompletedTask;
    }

    private void Pause(string name, TimeSpan duration)
    {
        var key = _keys.GetOrAdd(name, _ => new Key());
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long seen;
        do seen = Volatile.Read(ref key.PausedUntil);
        while (until > seen && Interlocked.CompareExchange(ref key.PausedUntil, until, seen) != seen);
        lock (key.Turns) key.Turns.Clear();
    }

    // The next turn still usable; turns whose time passed by more than `late` are dropped.
    private static long? Take(Key key, long late)
    {
        var now = Stopwatch.GetTimestamp();
        lock (key.Turns)
        {
            while (key.Turns.TryDequeue(out var at))
                if (at >= now - late) return at;
        }
        return null;
    }

    // This silo as an observer of pauses; without one, a pause reaches it through its next lease.
    // Made off any grain's turn (a grain may not make one): on the thread pool.
    private async Task<IRateLimitObserver?> SelfAsync()
    {
        if (_selfTried) return _self;
        try { _self = await Task.Run(() => grains.CreateObjectReference<IRateLimitObserver>(this)); }
        catch (Exception e) { logger.LogWarning("rate limits: pauses are not pushed to this silo ({Error}); it learns them at its next lease", e.Message); }
        _selfTried = true;
        return _self;
    }
}
