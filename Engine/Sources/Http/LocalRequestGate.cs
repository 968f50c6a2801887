using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// A rate limit within one process (the console's <c>validate</c>, tools without a cluster): one
/// sliding window per key. Silos use the cluster's gate instead.
/// </summary>
public sealed class LocalRequestGate : IRequestGate
{
    private readonly ConcurrentDictionary<string, SlidingWindow> _windows = new(StringComparer.Ordinal);

    public async ValueTask<long> WaitAsync(RateLimitSpec limit, CancellationToken cancellationToken = default)
    {
        var window = _windows.GetOrAdd(limit.Key, _ => new SlidingWindow());
        long at;
        lock (window)
        {
            window.Adopt(limit.Requests, limit.PerSeconds);
            at = window.Grant(1, Stopwatch.GetTimestamp())[0];
        }
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
        return at + SlidingWindow.LatenessFor(limit.PerSeconds);
    }

    public ValueTask PauseAsync(RateLimitSpec limit, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        var window = _windows.GetOrAdd(limit.Key, _ => new SlidingWindow());
        lock (window) window.PauseUntil(Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        return ValueTask.CompletedTask;
    }
}
