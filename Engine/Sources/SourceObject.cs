namespace Ingest.Engine.Sources;

/// <summary>One file or object as the source says it is now: its key, size, ETag and modification time.</summary>
public sealed record SourceObject(string Key, long Size, string? ETag = null, DateTimeOffset? Modified = null);
