namespace Ingest.Engine.Sources;

/// <summary>One file or object as the source says it is now: its key, size, ETag and modification time.</summary>
/// <param name="Page">For an HTTP page: its number (<c>meta: page</c>).</param>
/// <param name="Status">For an HTTP page: its HTTP status.</param>
/// <param name="FetchedAt">For an HTTP page: when it was fetched.</param>
public sealed record SourceObject(string Key, long Size, string? ETag = null, DateTimeOffset? Modified = null,
    long? Page = null, int? Status = null, DateTimeOffset? FetchedAt = null);
