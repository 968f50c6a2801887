using System.Text.Json.Serialization;

namespace Ingest.GrainInterfaces;

/// <summary>
/// An import's progress and totals, as <c>ingest status ID --json</c> prints it.
/// Totals are the import's counters at the time of the query, equal to the sums over its units.
/// </summary>
/// <param name="Id">The import's id.</param>
/// <param name="Name">The spec's name.</param>
/// <param name="State">Where the import is in its life.</param>
/// <param name="Units">Units by state.</param>
/// <param name="Rows">Rows by outcome.</param>
/// <param name="BytesRead">Bytes read from the source by done units.</param>
/// <param name="BytesTotal">Bytes of all units, as listed at planning.</param>
/// <param name="RowsPerSecond">Rows read per second since the import started.</param>
/// <param name="EtaSeconds">Estimated seconds to completion, from the byte rate; null when unknown.</param>
/// <param name="Error">Why the import failed, when it did.</param>
/// <param name="SubmittedAt">When it was submitted.</param>
/// <param name="StartedAt">When it was planned and started running.</param>
/// <param name="FinishedAt">When it reached a final state.</param>
/// <param name="FailedUnits">The failed units with their errors (at most 100).</param>
/// <param name="TraceId">The id of the import's trace (W3C), to look it up in a tracing backend such as Jaeger.</param>
/// <param name="Tables">For a relational target, what done units did to each table, by table name; null for a flat target.</param>
/// <param name="Files">Files skipped by an incremental import and, when asked for (<c>status ID --files</c>), each file's counts.</param>
/// <param name="Quality">Rule violations and filled defaults of done units; null when there were none.</param>
/// <param name="Messages">For a queue: its messages, consumers, backlog and rate; null for other sources.</param>
/// <param name="Archive">What archiving the loaded files to S3 did; null when the import archives nothing.</param>
/// <param name="Notify">What the outbox did with the import's events (<c>notify</c>); null when it notifies nothing.</param>
public sealed record ImportStatus(
    long Id,
    string Name,
    ImportState State,
    UnitCounts Units,
    RowCounts Rows,
    long BytesRead,
    long BytesTotal,
    double RowsPerSecond,
    double? EtaSeconds,
    string? Error,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<FailedUnit> FailedUnits,
    string? TraceId,
    IReadOnlyDictionary<string, TableCounts>? Tables = null,
    FileTotals? Files = null,
    QualityCounts? Quality = null,
    MessageStatus? Messages = null,
    ArchiveCounts? Archive = null,
    NotifyStatus? Notify = null)
{
    /// <summary>Files skipped by an incremental import and, when asked for, each file's counts.</summary>
    public FileTotals Files { get; init; } = Files ?? FileTotals.None;

    /// <summary>
    /// For an incremental import read by cursor, the lower bound it reads from once its planning
    /// started (a JSON null: none, everything is read); absent otherwise.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public System.Text.Json.JsonElement? Since { get; init; }
}

/// <summary>An import's files beyond its units: those an incremental import skipped, and (when asked for) each file's counts.</summary>
/// <param name="Skipped">Files skipped: their current version was committed completely by an earlier import of the name.</param>
/// <param name="Units">Per file loaded (its units: the file, or its byte ranges added up), what it did; only when asked for.</param>
/// <param name="SkippedFiles">The skipped files; only when asked for.</param>
public sealed record FileTotals(
    long Skipped,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<FileCounts>? Units = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<SkippedFile>? SkippedFiles = null)
{
    /// <summary>Nothing skipped, nothing listed.</summary>
    public static FileTotals None { get; } = new(0);
}

/// <summary>A file an incremental import skipped.</summary>
/// <param name="Key">The file name or object key.</param>
/// <param name="Version">Its version as listed (ETag; for a file, size and modification time).</param>
/// <param name="SizeBytes">Its size as listed.</param>
/// <param name="CommittedBy">The import whose load of this version was kept.</param>
public sealed record SkippedFile(string Key, string? Version, long? SizeBytes, long? CommittedBy);

/// <summary>An import's loaded files by what archiving them to S3 (its spec's <c>archive</c>) did.</summary>
/// <param name="Archived">Uploaded.</param>
/// <param name="PreExisting">The same bytes were at their key already: not uploaded again.</param>
/// <param name="Errors">Not archived: another object at the key, or an error retries did not get past (the load stands).</param>
/// <param name="Pending">Being archived now.</param>
public sealed record ArchiveCounts(long Archived, long PreExisting, long Errors, long Pending);

/// <summary>An import's events (its spec's <c>notify</c>) by what the outbox did with them.</summary>
/// <param name="Sent">Published to every target.</param>
/// <param name="Waiting">Not published yet: the next is tried again with a growing pause while its target fails.</param>
/// <param name="GivenUp">Never published: their target still failed once they were older than the silos' <c>INGEST_EVENT_MAX_AGE_SECONDS</c>.</param>
/// <param name="LastError">Why the latest event not sent was not, if one failed.</param>
public sealed record NotifyStatus(long Sent, long Waiting, long GivenUp, string? LastError);

/// <summary>What validation did across an import's done units.</summary>
/// <param name="Violations">Records that broke each rule, by <c>rule.column</c> (e.g. <c>required.name</c>, <c>range.rating</c>).</param>
/// <param name="DefaultsFilled">Values filled by a default, by column.</param>
public sealed record QualityCounts(IReadOnlyDictionary<string, long> Violations, IReadOnlyDictionary<string, long> DefaultsFilled);

/// <summary>An import's units by state.</summary>
public sealed record UnitCounts(int Total, int Done, int Failed, int Running, int Pending, int Cancelled);

/// <summary>An import's rows by outcome.</summary>
/// <param name="Read">Records read from the source.</param>
/// <param name="Inserted">Rows inserted into the target.</param>
/// <param name="Updated">Existing rows whose values changed.</param>
/// <param name="Unchanged">Rows already present with identical values, and duplicates of a key within a unit.</param>
/// <param name="Rejected">Records not loaded because a value did not convert (see <c>ingest.rejects</c>).</param>
/// <param name="Duplicates">With a dedup hash: records whose key exists with the same hash (the unchanged ones), not rewritten.</param>
/// <param name="Kept">With <c>onConflict: keep</c>: records whose key exists, whose row was kept (the unchanged ones).</param>
public sealed record RowCounts(long Read, long Inserted, long Updated, long Unchanged, long Rejected, long Duplicates = 0, long Kept = 0);

/// <summary>What one file did to the target's rows: its unit's counts, or its ranges' added up.</summary>
/// <param name="UnitNo">Its (first) unit's number.</param>
/// <param name="Key">The file name or object key.</param>
/// <param name="State">Its unit's state; for ranges, failed if one failed, done when all are, running once one started, else pending or cancelled.</param>
/// <param name="Rows">Its rows by outcome (duplicates and kept as for the import).</param>
/// <param name="Units">Its units: 1, or the number of its byte ranges.</param>
public sealed record FileCounts(int UnitNo, string Key, UnitState State, RowCounts Rows, int Units = 1)
{
    /// <summary>The state of a file from the states of its units.</summary>
    public static UnitState StateOf(IReadOnlyCollection<UnitState> units) =>
        units.Contains(UnitState.Failed) ? UnitState.Failed
        : units.All(u => u == UnitState.Done) ? UnitState.Done
        : units.Contains(UnitState.Running) || units.Contains(UnitState.Done) && units.Contains(UnitState.Pending) ? UnitState.Running
        : units.Contains(UnitState.Pending) ? UnitState.Pending
        : UnitState.Cancelled;
}

/// <summary>What an import's done units did to one table.</summary>
/// <param name="Inserted">New rows.</param>
/// <param name="Updated">Existing rows whose values changed.</param>
/// <param name="Unchanged">Rows already identical (for the root table, also duplicates of a key within a unit).</param>
/// <param name="Deleted">Child rows deleted because their reloaded parent no longer holds them.</param>
public sealed record TableCounts(long Inserted, long Updated, long Unchanged, long Deleted);

/// <summary>A unit that ended failed, with the reason.</summary>
public sealed record FailedUnit(int UnitNo, string Key, int Attempts, string? Error);
