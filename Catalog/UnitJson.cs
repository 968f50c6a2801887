using System.Text.Json;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.Engine.Quality;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Catalog;

/// <summary>The JSON of a unit's row: its descriptor and checkpoint, and the counts of its tables and of its data quality.</summary>
public static class UnitJson
{
    public static string Descriptor(UnitDescriptor unit) => JsonSerializer.Serialize(unit, ImportSpecJson.Options);

    /// <summary>A unit's descriptor; a unit planned before descriptors were stored is its key and size.</summary>
    public static UnitDescriptor Descriptor(string? json, string key, long? size) =>
        json is null ? new UnitDescriptor(key, size) : JsonSerializer.Deserialize<UnitDescriptor>(json, ImportSpecJson.Options)!;

    public static string Checkpoint(UnitCheckpoint checkpoint) => JsonSerializer.Serialize(checkpoint, ImportSpecJson.Options);

    public static UnitCheckpoint? Checkpoint(string? json) => json is null ? null : JsonSerializer.Deserialize<UnitCheckpoint>(json, ImportSpecJson.Options);

    // An array, so the tables keep their order (a jsonb object sorts its keys).
    public static string? TableCounts(UnitLoadResult result) =>
        result.Tables is null
            ? null
            : JsonSerializer.Serialize(
                result.Tables.Select(t => new { table = t.Key, inserted = t.Value.Inserted, updated = t.Value.Updated, unchanged = t.Value.Unchanged, deleted = t.Value.Deleted }));

    public static IReadOnlyDictionary<string, LoadCounts>? TableCounts(string? json)
    {
        if (json is null) return null;
        var tables = new Dictionary<string, LoadCounts>(StringComparer.Ordinal);
        foreach (var t in JsonDocument.Parse(json).RootElement.EnumerateArray())
            tables[t.GetProperty("table").GetString()!] = new LoadCounts(
                t.GetProperty("inserted").GetInt64(), t.GetProperty("updated").GetInt64(), t.GetProperty("unchanged").GetInt64(), t.GetProperty("deleted").GetInt64());
        return tables;
    }

    public static string? Quality(UnitLoadResult result) =>
        result.Quality is { } q ? JsonSerializer.Serialize(new { violations = q.Violations, defaults = q.DefaultsFilled }) : null;

    public static QualityTally? Quality(string? json)
    {
        if (json is null) return null;
        var tally = new QualityTally();
        var root = JsonDocument.Parse(json).RootElement;
        foreach (var v in root.GetProperty("violations").EnumerateObject()) tally.Violations[v.Name] = v.Value.GetInt64();
        foreach (var d in root.GetProperty("defaults").EnumerateObject()) tally.DefaultsFilled[d.Name] = d.Value.GetInt64();
        return tally;
    }
}
