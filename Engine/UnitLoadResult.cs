using Ingest.Engine.Loading;

namespace Ingest.Engine;

/// <summary>What loading one unit did.</summary>
/// <param name="RowsRead">Records read from the file.</param>
/// <param name="Counts">What the load did to the target.</param>
/// <param name="Rejects">Records that were not loaded, each with its reason.</param>
/// <param name="BytesRead">Bytes read from the file.</param>
public sealed record UnitLoadResult(long RowsRead, LoadCounts Counts, IReadOnlyList<RejectedRecord> Rejects, long BytesRead);

/// <summary>A record that was not loaded: its 0-based index in the file, the column at fault, why, and its JSON.</summary>
public sealed record RejectedRecord(long RecordIndex, string? Column, string Reason, string Raw);
