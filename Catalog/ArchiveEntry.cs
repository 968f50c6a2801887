namespace Ingest.Catalog;

/// <summary>What the registry (<c>ingest.archive</c>) holds of a file archived at a key: which file, its content (size, SHA-256, type), and the import that registered it.</summary>
public sealed record ArchiveEntry(string Bucket, string Key, string File, long Size, string Sha256, string ContentType, long ImportId);
