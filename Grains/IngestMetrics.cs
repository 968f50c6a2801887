using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Ingest.Grains;

/// <summary>The silo's metrics (meter <c>Ingest</c>), exported by OpenTelemetry when configured.</summary>
public static class IngestMetrics
{
    public const string MeterName = "Ingest";

    private static readonly Meter Meter = new(MeterName);

    // Import grains active on this silo, each with its queue depth and units in flight.
    private static readonly ConcurrentDictionary<long, Func<(int Queued, int InFlight)>> Imports = new();

    public static readonly Counter<long> UnitsCompleted = Meter.CreateCounter<long>("ingest.units.completed", description: "Units loaded and committed");
    public static readonly Counter<long> UnitsFailed = Meter.CreateCounter<long>("ingest.units.failed", description: "Unit attempts that failed");
    public static readonly Counter<long> RowsRead = Meter.CreateCounter<long>("ingest.rows.read", description: "Records read from sources");
    public static readonly Counter<long> RowsRejected = Meter.CreateCounter<long>("ingest.rows.rejected", description: "Records rejected by mapping");
    public static readonly Counter<long> BytesRead = Meter.CreateCounter<long>("ingest.bytes.read", unit: "By", description: "Bytes read from sources");
    public static readonly Histogram<double> UnitDuration = Meter.CreateHistogram<double>("ingest.unit.duration", unit: "s", description: "Time to load and commit one unit");
    public static readonly Counter<long> ImportReloads = Meter.CreateCounter<long>("ingest.import.reloads", description: "Times an import grain reloaded all its open units from the database");
    public static readonly UpDownCounter<int> SiloUnitsInFlight = Meter.CreateUpDownCounter<int>("ingest.silo.units_in_flight", description: "Units this silo is loading or waiting to load");

    static IngestMetrics()
    {
        Meter.CreateObservableGauge("ingest.import.queue_depth", () => Observe(i => i.Queued), description: "Units of an import waiting to be handed out");
        Meter.CreateObservableGauge("ingest.import.units_in_flight", () => Observe(i => i.InFlight), description: "Units of an import handed out and not yet ended");
    }

    /// <summary>Reports an import grain's queue and in-flight counts while it is active on this silo; dispose to stop.</summary>
    public static IDisposable TrackImport(long importId, Func<(int Queued, int InFlight)> counts)
    {
        Imports[importId] = counts;
        return new Untrack(importId, counts);
    }

    private static IEnumerable<Measurement<int>> Observe(Func<(int Queued, int InFlight), int> pick) =>
        Imports.Select(i => new Measurement<int>(pick(i.Value()), new KeyValuePair<string, object?>("import_id", i.Key)));

    private sealed class Untrack(long importId, Func<(int, int)> counts) : IDisposable
    {
        public void Dispose() => Imports.TryRemove(KeyValuePair.Create(importId, counts));
    }
}
