using System.Text.Json.Serialization;

namespace Ingest.Engine.Sources;

/// <summary>
/// What one unit reads, as its connector planned it. For files and objects: the key, and the version
/// the listing saw (size, ETag, modification time); a size may be unknown.
/// </summary>
/// <param name="Key">The file or object: what the connector opens, unique within the import.</param>
/// <param name="Size">Its size in bytes as listed; null when the source does not say.</param>
/// <param name="ETag">Its version as listed (an S3 ETag; size and modification time for a file).</param>
/// <param name="Modified">When it was last modified, as listed.</param>
/// <param name="Page">For HTTP pages fanned out at planning: the page's 0-based position; null for a unit that follows its pages in order.</param>
/// <param name="Total">For HTTP pages fanned out at planning: the number of pages the first response announced.</param>
public sealed record UnitDescriptor(string Key, long? Size = null, string? ETag = null, DateTimeOffset? Modified = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Page = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Total = null);
