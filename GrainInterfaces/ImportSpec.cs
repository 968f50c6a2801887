namespace Ingest.GrainInterfaces;

/// <summary>
/// What a user submits: where the records are, where they go, and how the import behaves.
/// Parsed and validated by <see cref="ImportSpecParser"/>; immutable afterwards.
/// </summary>
/// <param name="Name">A human-readable name for the import (shown by <c>list</c> and <c>status</c>).</param>
/// <param name="Source">Where the records are read from.</param>
/// <param name="Target">The table the records are loaded into, and how fields map to columns.</param>
/// <param name="Parallelism">The most units of this import in flight at once across the whole cluster.</param>
/// <param name="Retry">How often a failing unit is attempted, and how long to wait between attempts.</param>
/// <param name="Priority">When the silos' slots are all busy, units of imports with a higher priority start first (default 0; may be negative).</param>
/// <param name="Schedule">A cron expression: registered with <c>ingest schedule add</c>, the cluster submits the import at each time it names.</param>
/// <param name="TimeZone">The time zone <paramref name="Schedule"/> is read in (an IANA name); null: UTC.</param>
/// <param name="Notify">Where the import's events are published; null: nowhere.</param>
/// <param name="Archive">Where each loaded file's raw bytes are copied in S3, with a registry; null: nowhere.</param>
public sealed record ImportSpec(
    string Name,
    SourceSpec Source,
    TargetSpec Target,
    int Parallelism,
    RetrySpec Retry,
    int Priority = 0,
    string? Schedule = null,
    string? TimeZone = null,
    IReadOnlyList<NotifySpec>? Notify = null,
    ArchiveSpec? Archive = null)
{
    /// <summary>The parallelism of a spec that names none.</summary>
    public const int DefaultParallelism = 4;
}
