using System.Diagnostics;

namespace Ingest.Engine;

/// <summary>
/// The product's spans (source <c>Ingest</c>). Every import has one trace: the client's submit span
/// is its root, its context is stored with the import (<c>trace_parent</c>), and planning and every
/// unit, on whichever silo and after any reactivation, start their spans under it.
/// </summary>
public static class IngestTracing
{
    public const string SourceName = "Ingest";

    /// <summary>Every span of ours is named with this prefix (the silos' sampler keeps such roots, and drops Orleans' and Npgsql's own).</summary>
    public const string SpanPrefix = "ingest.";

    public static ActivitySource Source { get; } = new(SourceName);

    /// <summary>Starts a span under the import's stored trace context (a root when it has none).</summary>
    public static Activity? StartUnder(string? traceParent, string name, long importId, int? unitNo = null, ActivityKind kind = ActivityKind.Internal)
    {
        ActivityContext.TryParse(traceParent, null, isRemote: true, out var parent);
        var activity = Source.StartActivity(SpanPrefix + name, kind, parent);
        activity?.SetTag("ingest.import_id", importId);
        if (unitNo is not null) activity?.SetTag("ingest.unit_no", unitNo);
        return activity;
    }

    /// <summary>
    /// Whether <c>OTEL_RESOURCE_ATTRIBUTES</c> names a <c>service.instance.id</c>: the user's value then
    /// wins over the program's own (OpenTelemetry's convention).
    /// </summary>
    public static bool UserSetsInstanceId =>
        (Environment.GetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES") ?? "").Split(',')
        .Any(pair => pair.Split('=', 2) is [var key, { Length: > 0 }] && key.Trim() == "service.instance.id");

    /// <summary>A fresh, sampled W3C traceparent, for an import submitted while nothing records spans.</summary>
    public static string NewTraceParent() =>
        $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

    /// <summary>The trace id of a W3C traceparent, or null.</summary>
    public static string? TraceIdOf(string? traceParent) =>
        ActivityContext.TryParse(traceParent, null, out var context) ? context.TraceId.ToHexString() : null;
}
