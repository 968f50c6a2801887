using Ingest.Engine.Loading;

namespace Ingest.Engine;

/// <summary>What loading one unit, or one chunk of it, did.</summary>
/// <param name="RowsRead">Records read from the file.</param>
/// <param name="Counts">What the load did to the target.</param>
/// <param name="Rejected">How many records were not loaded.</param>
/// <param name="Rejects">The first of them, each with its reason (at most <see cref="UnitLoader.MaxKeptRejects"/>).</param>
/// <param name="BytesRead">Bytes read from the file.</param>
/// <param name="Quality">Rule violations and filled defaults, when the spec validates and any happened.</param>
/// <param name="Tables">For a relational target, what the load did to each table, by name (the root's counts are <paramref name="Counts"/>).</param>
public sealed record UnitLoadResult(long RowsRead, LoadCounts Counts, long Rejected, IReadOnlyList<RejectedRecord> Rejects, long BytesRead,
    IReadOnlyDictionary<string, LoadCounts>? Tables = null, Quality.QualityTally? Quality = null)
{
    /// <summary>Where the unit stands after this load when records remain (a chunk); null when it read the unit to its end.</summary>
    public Sources.UnitCheckpoint? Checkpoint { get; init; }

    /// <summary>The version of the file the unit read, once it read it to its end; null while records remain.</summary>
    public Sources.LoadedVersion? Version { get; init; }

    /// <summary>
    /// For an incremental import read by cursor, the greatest cursor among the records read
    /// (<see cref="Sources.RecordCursor"/>); null otherwise, or when no record had one.
    /// </summary>
    public System.Text.Json.JsonElement? Cursor { get; init; }

    private static readonly IReadOnlyDictionary<string, LoadCounts> Empty = new Dictionary<string, LoadCounts>();

    /// <summary>Nothing loaded yet.</summary>
    public static UnitLoadResult None { get; } = new(0, default, 0, [], 0);

    /// <summary>
    /// What this load and a <paramref name="later"/> one did together (a unit's committed chunks and
    /// its next one): counts added, the later one's rejects (each chunk stores its own), checkpoint and version, the greater cursor.
    /// </summary>
    public UnitLoadResult Plus(UnitLoadResult later)
    {
        var tables = Sum(Tables, later.Tables);
        Quality.QualityTally? quality = null;
        if (Quality is not null || later.Quality is not null)
        {
            quality = new Quality.QualityTally();
            quality.Add(Quality);
            quality.Add(later.Quality);
        }
        return new UnitLoadResult(RowsRead + later.RowsRead, Counts + later.Counts, Rejected + later.Rejected, later.Rejects,
            BytesRead + later.BytesRead, tables, quality) { Checkpoint = later.Checkpoint, Version = later.Version, Cursor = Sources.RecordCursor.Max(Cursor, later.Cursor) };
    }

    /// <summary>This load with more done to the target in the same transaction (records it set aside, merged after it).</summary>
    public UnitLoadResult Adding(LoadCounts counts, IReadOnlyDictionary<string, LoadCounts>? tables = null) =>
        this with { Counts = Counts + counts, Tables = Sum(Tables, tables) };

    private static Dictionary<string, LoadCounts>? Sum(IReadOnlyDictionary<string, LoadCounts>? a, IReadOnlyDictionary<string, LoadCounts>? b)
    {
        if (a is null && b is null) return null;
        var sum = new Dictionary<string, LoadCounts>(StringComparer.Ordinal);
        foreach (var (table, counts) in (a ?? Empty).Concat(b ?? Empty)) sum[table] = sum.GetValueOrDefault(table) + counts;
        return sum;
    }
}

/// <summary>A record that was not loaded: its 0-based index in the file, the column at fault, why, and its JSON.</summary>
public sealed record RejectedRecord(long RecordIndex, string? Column, string Reason, string Raw);
