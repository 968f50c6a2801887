namespace Ingest.Engine.Sources;

/// <summary>
/// The version of a file a unit read to its end: what the source said of it when it was opened,
/// and the SHA-256 of its bytes when the reading hashed them (<see cref="ImportSource.Hashes"/>).
/// </summary>
public sealed record LoadedVersion(SourceObject Object, byte[]? ContentHash);
