using System.Diagnostics;
using Ingest.Engine.Sources.Http;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;

namespace Ingest.Grains;

/// <summary>
/// The schedule of one rate limit key (<see cref="SlidingWindow"/>), leased to the silos in blocks.
/// In memory: a reactivation after its silo died starts an empty window, so the window around a
/// failover may hold up to twice the limit.
/// </summary>
public sealed class RateLimitGrain(ILogger<RateLimitGrain> logger) : Grain, IRateLimitGrain
{
    private static readonly TimeSpan ObserverLife = TimeSpan.FromMinutes(2);
    private readonly SlidingWindow _window = new();
    private readonly Dictionary<IRateLimitObserver, long> _observers = [];

    public Task<RateLease> LeaseAsync(int requests, double perSeconds, int turns, IRateLimitObserver? observer)
    {
        var now = Stopwatch.GetTimestamp();
        _window.Adopt(requests, perSeconds);
        if (observer is not null) _observers[observer] = now;
        var grants = _window.Grant(Math.Clamp(turns, 1, _window.Limit.Requests), now);
        return Task.FromResult(new RateLease([.. grants.Select(at => Stopwatch.GetElapsedTime(now, at))]));
    }

    public Task PauseAsync(TimeSpan duration)
    {
        var now = Stopwatch.GetTimestamp();
        _window.PauseUntil(now + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        logger.LogInformation("rate limit {Key}: paused for {Seconds:F1}s (the API answered 429)", this.GetPrimaryKeyString(), duration.TotalSeconds);
        foreach (var (observer, seen) in _observers.ToList())
        {
            if (Stopwatch.GetElapsedTime(seen, now) > ObserverLife)
            {
                _observers.Remove(observer);
                continue;
            }
            _ = TellAsync(observer, duration);
        }
        return Task.CompletedTask;
    }

    private async Task TellAsync(IRateLimitObserver observer, TimeSpan duration)
    {
        try { await observer.PausedAsync(this.GetPrimaryKeyString(), duration); }
        catch (Exception e) { logger.LogDebug("rate limit {Key}: a silo was not told of a pause ({Error})", this.GetPrimaryKeyString(), e.Message); }
    }
}
