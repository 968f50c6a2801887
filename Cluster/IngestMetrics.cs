using System.Diagnostics.Metrics;

namespace Ingest.Cluster;

/// <summary>The node's metrics (meter <c>Ingest</c>), exported by OpenTelemetry when configured.</summary>
public static class IngestMetrics
{
    public const string MeterName = "Ingest";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> UnitsCompleted = Meter.CreateCounter<long>("ingest.units.completed", description: "Units loaded and committed");
    public static readonly Counter<long> UnitsFailed = Meter.CreateCounter<long>("ingest.units.failed", description: "Unit attempts that failed");
    public static readonly Counter<long> RowsRead = Meter.CreateCounter<long>("ingest.rows.read", description: "Records read from sources");
    public static readonly Counter<long> RowsRejected = Meter.CreateCounter<long>("ingest.rows.rejected", description: "Records rejected by mapping");
    public static readonly Counter<long> BytesRead = Meter.CreateCounter<long>("ingest.bytes.read", unit: "By", description: "Bytes read from sources");
    public static readonly Histogram<double> UnitDuration = Meter.CreateHistogram<double>("ingest.unit.duration", unit: "s", description: "Time to load and commit one unit");
}
