using System.Text.Json.Serialization;

namespace Ingest.Engine.Sources;

/// <summary>
/// What one unit reads, as its connector planned it. For files and objects: the key, and the version
/// the listing saw (size, ETag, modification time); a size may be unknown. A huge file's unit reads
/// one of its byte ranges; a SQL source's unit, the table or query whole, or one of its key ranges.
/// </summary>
/// <param name="Key">The file or object: what the connector opens.</param>
/// <param name="Size">Its size in bytes as listed; null when the source does not say.</param>
/// <param name="ETag">Its version as listed (an S3 ETag; size and modification time for a file).</param>
/// <param name="Modified">When it was last modified, as listed.</param>
/// <param name="Range">The part of the file this unit reads; null: all of it.</param>
/// <param name="Keys">For a SQL source split by a key: the key range this unit reads.</param>
/// <param name="Page">For HTTP pages fanned out at planning: the page's 0-based position; null for a unit that follows its pages in order.</param>
/// <param name="Total">For HTTP pages fanned out at planning: the number of pages the first response announced.</param>
public sealed record UnitDescriptor(string Key, long? Size = null, string? ETag = null, DateTimeOffset? Modified = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] UnitRange? Range = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] KeyRange? Keys = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Page = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Total = null)
{
    /// <summary>The unit's name, unique within its import: the key, followed by the byte range for a part of a file.</summary>
    [JsonIgnore]
    public string Name => Range is { } r ? $"{Key} [{r.Start}-{r.End})" : Key;

    /// <summary>The bytes it reads: its range's, or the file's size.</summary>
    [JsonIgnore]
    public long? Length => Range is { } r ? r.End - r.Start : Size;

    /// <summary>Where its reading starts when nothing of it is committed: the file's start, or its range's, in the version planned.</summary>
    [JsonIgnore]
    public UnitCheckpoint First => Range is { } r ? new UnitCheckpoint(r.Records, r.Start, ETag, r.State) : UnitCheckpoint.Start;
}
