using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>One import in a report: its rows loaded (inserted and updated), rejects and duration.</summary>
public sealed record ReportedImport(long Id, string Name, ImportState State, long RowsLoaded, long Rejected, double? DurationSeconds,
    DateTimeOffset SubmittedAt, DateTimeOffset? FinishedAt);

/// <summary>
/// The catalog over a period (<c>ingest report</c>): imports by state, the success rate (completed
/// of those ended), rows loaded per target table, and the most recent, slowest and most rejecting imports;
/// what archiving did for them, when any archives (<see cref="Archive"/>, as <c>status</c> counts one import's).
/// </summary>
public sealed record OverviewReport(DateTimeOffset Since, IReadOnlyDictionary<ImportState, int> ByState, double? SuccessRate,
    IReadOnlyDictionary<string, long> RowsByTable, IReadOnlyList<ReportedImport> Recent, IReadOnlyList<ReportedImport> Slowest,
    IReadOnlyList<ReportedImport> MostRejects, ArchiveCounts? Archive = null);

/// <summary>An event of an import's timeline.</summary>
public sealed record TimelineEvent(DateTimeOffset At, string Kind, int? UnitNo, string? Silo, string? Message);

/// <summary>Rows read per second in one step of an import's run, from the units that ended in it.</summary>
public sealed record RatePoint(DateTimeOffset At, double RowsPerSecond);

/// <summary>Failed units that share a cause (their error without the file's name), with the first few.</summary>
public sealed record ErrorGroup(string Cause, int Units, IReadOnlyList<string> Examples);

/// <summary>Rejects that share a reason (without the line and the values), with the first few as they were kept.</summary>
public sealed record RejectGroup(string? Column, string Reason, long Count, IReadOnlyList<ImportCatalog.Reject> Examples);

/// <summary>A loaded file that was not archived: its first unit, the key it was to go to (null when none could be made) and why.</summary>
public sealed record ArchiveFailure(int UnitNo, string File, string? Bucket, string? Key, string? Error);

/// <summary>
/// One import in depth (<c>ingest report ID</c>): its status (with each file's counts), throughput,
/// the spec it ran (placeholders as written), its timeline, its errors by cause, its rejects by
/// reason, the files that were not archived, and its rows per second over its run (<see cref="Throughput"/>:
/// up to 60 steps from its start to its end or now, each counting the rows of the units that ended done in it).
/// </summary>
public sealed record ImportReport(ImportStatus Status, double RowsPerSecond, double UnitsPerHour, JsonElement Spec,
    IReadOnlyList<TimelineEvent> Timeline, IReadOnlyList<ErrorGroup> Errors, IReadOnlyList<RejectGroup> Rejects,
    IReadOnlyList<ArchiveFailure> ArchiveFailures, IReadOnlyList<RatePoint> Throughput);
