using System.Diagnostics.Metrics;

namespace Ingest.Engine.Sources.Http;

/// <summary>The HTTP sources' instruments, on the product's meter (<c>Ingest</c>).</summary>
public static class HttpMetrics
{
    private static readonly Meter Meter = new("Ingest");

    /// <summary>Requests sent by HTTP sources, retries included.</summary>
    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("ingest.http.requests");

    /// <summary>Requests of HTTP sources that were retried (a timeout, a 5xx, a 429, a lost connection).</summary>
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("ingest.http.retries");

    /// <summary>Rate-limited requests not sent because they would have left after their turn (a busy silo); each took a new turn.</summary>
    public static readonly Counter<long> MissedTurns = Meter.CreateCounter<long>("ingest.http.missed_turns");
}
