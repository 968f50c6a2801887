using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// Where the requests of HTTP sources with a <c>rateLimit</c> wait for their turn: every request
/// (planning, retries, validation) passes it. A silo's gate shares the limit with the whole cluster.
/// </summary>
public interface IRequestGate
{
    /// <summary>
    /// Waits until a request may be sent under <paramref name="limit"/>; returns the latest
    /// <see cref="System.Diagnostics.Stopwatch"/> timestamp at which it may still start to leave
    /// (<see cref="RequestTurn"/>).
    /// </summary>
    ValueTask<long> WaitAsync(RateLimitSpec limit, CancellationToken cancellationToken = default);

    /// <summary>Holds every sender of <paramref name="limit"/>'s key for <paramref name="duration"/> (a 429's <c>Retry-After</c>).</summary>
    ValueTask PauseAsync(RateLimitSpec limit, TimeSpan duration, CancellationToken cancellationToken = default);
}
