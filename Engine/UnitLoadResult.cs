using Ingest.Engine.Loading;

namespace Ingest.Engine;

/// <summary>What loading one unit did.</summary>
/// <param name="RowsRead">Records read from the file.</param>
/// <param name="Counts">What the load did to the target.</param>
/// <param name="Rejected">How many records were not loaded.</param>
/// <param name="Rejects">The first of them, each with its reason (at most <see cref="UnitLoader.MaxKeptRejects"/>).</param>
/// <param name="BytesRead">Bytes read from the file.</param>
/// <param name="Quality">Rule violations and filled defaults, when the spec validates and any happened.</param>
/// <param name="Tables">For a relational target, what the load did to each table, by name (the root's counts are <paramref name="Counts"/>).</param>
public sealed record UnitLoadResult(long RowsRead, LoadCounts Counts, long Rejected, IReadOnlyList<RejectedRecord> Rejects, long BytesRead,
    IReadOnlyDictionary<string, LoadCounts>? Tables = null, Quality.QualityTally? Quality = null);

/// <summary>A record that was not loaded: its 0-based index in the file, the column at fault, why, and its JSON.</summary>
public sealed record RejectedRecord(long RecordIndex, string? Column, string Reason, string Raw);
