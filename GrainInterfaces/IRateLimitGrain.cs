namespace Ingest.GrainInterfaces;

/// <summary>
/// One rate limit key (<c>source.rateLimit.key</c>) across the cluster: it keeps the sliding window's
/// schedule and leases turns to silos in blocks, each with the delay after which it may be used, so
/// that a silo asks once for the requests it has waiting rather than once per request.
/// </summary>
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>
    /// Up to <paramref name="turns"/> turns under the limit (the lowest one asked for by any import
    /// of the key wins), within one window of the first. <paramref name="observer"/> is told of pauses.
    /// </summary>
    Task<RateLease> LeaseAsync(int requests, double perSeconds, int turns, IRateLimitObserver? observer);

    /// <summary>No turn before <paramref name="duration"/> from now (a 429's <c>Retry-After</c>); every silo that leased lately is told.</summary>
    Task PauseAsync(TimeSpan duration);
}

/// <summary>A silo's gate, told when a key is paused so that it drops the turns it holds.</summary>
public interface IRateLimitObserver : IGrainObserver
{
    /// <summary>No turn of <paramref name="key"/> before <paramref name="duration"/> from now.</summary>
    Task PausedAsync(string key, TimeSpan duration);
}

/// <summary>Turns leased: each may be used once, this long after the lease was answered.</summary>
[GenerateSerializer, Immutable, Alias("ingest.RateLease")]
public sealed record RateLease([property: Id(0)] TimeSpan[] Delays);
