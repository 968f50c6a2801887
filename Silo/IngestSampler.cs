using Ingest.Grains;
using OpenTelemetry.Trace;
using Ingest.Engine;

namespace Ingest.Silo;

/// <summary>
/// Keeps the spans of imports and drops the cluster's own chatter: a span with a parent follows
/// its parent's decision; a root is kept only when it is one of ours (<c>ingest.*</c>). Orleans'
/// membership pings and the Npgsql statements of membership and reminders start roots, so they
/// are dropped, while every statement a unit runs is a child of its unit's span.
/// </summary>
public sealed class IngestSampler : Sampler
{
    public override SamplingResult ShouldSample(in SamplingParameters parameters)
    {
        if (parameters.ParentContext.TraceId != default)
            return new SamplingResult(parameters.ParentContext.TraceFlags.HasFlag(System.Diagnostics.ActivityTraceFlags.Recorded)
                ? SamplingDecision.RecordAndSample : SamplingDecision.Drop);
        return new SamplingResult(parameters.Name.StartsWith(IngestTracing.SpanPrefix, StringComparison.Ordinal)
            ? SamplingDecision.RecordAndSample : SamplingDecision.Drop);
    }
}
