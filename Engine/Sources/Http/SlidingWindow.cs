using System.Diagnostics;

namespace Ingest.Engine.Sources.Http;

/// <summary>
/// The schedule of a sliding-window limit: at most <c>requests</c> in any window of <c>perSeconds</c>.
/// Each grant is placed no earlier than the grant <c>requests</c> before it plus the window and a
/// margin (for the time between a grant and the request reaching the server), and no earlier than
/// a <c>requests</c>-th of that after the grant before it: evenly spaced rather than in bursts,
/// since requests sent together reach the server with more jitter between them than the margin
/// holds on a busy machine. Grants are in time order. Not thread-safe: its owner (a grain, or a
/// gate under a lock) serializes it.
/// </summary>
public sealed class SlidingWindow
{
    private readonly Queue<long> _granted = new();
    private long _last = long.MinValue / 2;
    private long _pausedUntil;

    /// <summary>The limit in force: the lowest rate asked for wins.</summary>
    public (int Requests, double PerSeconds) Limit { get; private set; } = (int.MaxValue, 1);

    /// <summary>Adopts a limit when it is lower than the one in force.</summary>
    public void Adopt(int requests, double perSeconds)
    {
        if (requests / perSeconds < Limit.Requests / Limit.PerSeconds) Limit = (requests, perSeconds);
    }

    /// <summary>
    /// The margin kept per window: 2% of it and 20 ms, for the time between a grant and the request's
    /// arrival (a request that would arrive later is not sent: <see cref="LatenessFor"/>).
    /// </summary>
    public TimeSpan Margin => MarginFor(Limit.PerSeconds);

    /// <summary>The margin of a window of <paramref name="perSeconds"/>.</summary>
    public static TimeSpan MarginFor(double perSeconds) => TimeSpan.FromSeconds(0.02 * perSeconds + 0.02);

    /// <summary>
    /// How long (in <see cref="Stopwatch"/> ticks) after its grant a request may still start to
    /// leave: half the margin, shared by the grant's way to its silo and the request's way to the
    /// socket; the other half is for the request's way to the server.
    /// </summary>
    public static long LatenessFor(double perSeconds) => (long)(MarginFor(perSeconds).TotalSeconds / 2 * Stopwatch.Frequency);

    /// <summary>No grant before <paramref name="until"/> (a timestamp).</summary>
    public void PauseUntil(long until) => _pausedUntil = Math.Max(_pausedUntil, until);

    /// <summary>
    /// Up to <paramref name="count"/> grants (timestamps, in order), within one window of the first
    /// (which may be far ahead when the key is busy or paused).
    /// </summary>
    public List<long> Grant(int count, long now)
    {
        var (requests, per) = Limit;
        var spacing = (long)((per + Margin.TotalSeconds) * Stopwatch.Frequency);
        var window = (long)(per * Stopwatch.Frequency);
        var grants = new List<long>(count);
        while (grants.Count < count)
        {
            var at = Math.Max(now, _pausedUntil);
            if (_granted.Count >= requests) at = Math.Max(at, _granted.Peek() + spacing);
            at = Math.Max(at, _last + spacing / requests);
            if (grants.Count > 0 && at > grants[0] + window) break;
            _last = at;
            _granted.Enqueue(at);
            while (_granted.Count > requests) _granted.Dequeue();
            grants.Add(at);
        }
        return grants;
    }
}
