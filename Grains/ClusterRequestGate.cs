using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.Engine.Sources.Http;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;

namespace Ingest.Grains;

/// <summary>
/// A silo's gate for rate-limited HTTP requests: the turns of each key are leased from its
/// <see cref="IRateLimitGrain"/> in blocks as large as the requests waiting here, then used at their
/// times. A turn is waited for from the lease's answer (never before the grain's time for it) and
/// must leave by its time counted from the lease's request plus the window's lateness budget
/// (<see cref="SlidingWindow.LatenessFor"/>): the lease's way back and the request's way from here
/// to the socket share that budget, and a turn that overruns it is dropped, here or at the socket
/// (<see cref="RequestTurn"/>). A pause (a 429) drops the turns held, here and on every silo told.
/// Imports without a rate limit never come here.
/// </summary>
public sealed class ClusterRequestGate(IGrainFactory grains, ILogger<ClusterRequestGate> logger) : IRequestGate, IRateLimitObserver
{
    private readonly record struct Turn(long At, long LeaveBy);

    private sealed class Key
    {
        public readonly Queue<Turn> Turns = new();
        public readonly SemaphoreSlim Leasing = new(1, 1);
        public int Waiting;
        public long PausedUntil;
    }

    private readonly ConcurrentDictionary<string, Key> _keys = new(StringComparer.Ordinal);
    private IRateLimitObserver? _self;
    private bool _selfTried;

    public async ValueTask<long> WaitAsync(RateLimitSpec limit, CancellationToken cancellationToken = default)
    {
        var key = _keys.GetOrAdd(limit.Key, _ => new Key());
        var late = SlidingWindow.LatenessFor(limit.PerSeconds);
        Interlocked.Increment(ref key.Waiting);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Take(key) is { } turn)
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), turn.At);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
                    var now = Stopwatch.GetTimestamp();
                    if (Volatile.Read(ref key.PausedUntil) > now) continue; // paused meanwhile: the turn is void
                    if (now > turn.LeaveBy) continue; // woken too late (a busy machine): sent now, it could crowd the next window
                    return turn.LeaveBy;
                }
                await key.Leasing.WaitAsync(cancellationToken);
                try
                {
                    lock (key.Turns) if (key.Turns.Count > 0) continue; // another waiter leased meanwhile
                    var self = await SelfAsync();
                    var sent = Stopwatch.GetTimestamp();
                    var lease = await grains.GetGrain<IRateLimitGrain>(limit.Key).LeaseAsync(limit.Requests, limit.PerSeconds, Math.Max(1, Volatile.Read(ref key.Waiting)), self);
                    var received = Stopwatch.GetTimestamp();
                    // The grain's time for a turn lies between the two ends of the call: waited for from the later, due from the earlier.
                    var dropped = 0;
                    lock (key.Turns)
                        foreach (var delay in lease.Delays)
                        {
                            var ticks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
                            var leased = new Turn(received + ticks, sent + ticks + late);
                            if (leased.LeaveBy > leased.At) key.Turns.Enqueue(leased);
                            else dropped++;
                        }
                    if (dropped > 0)
                        logger.LogDebug("rate limit {Key}: a lease took {Ms:F0} ms; {Turns} turns are dropped", limit.Key, Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds, dropped);
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

    // The next turn still usable; turns already due to have left are dropped.
    private static Turn? Take(Key key)
    {
        var now = Stopwatch.GetTimestamp();
        lock (key.Turns)
        {
            while (key.Turns.TryDequeue(out var turn))
                if (turn.LeaveBy >= now) return turn;
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
