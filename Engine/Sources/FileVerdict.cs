namespace Ingest.Engine.Sources;

/// <summary>What an incremental import does with a listed file (and every unit of it).</summary>
/// <param name="Skip">Whether its current version was committed completely by an earlier import of the name.</param>
/// <param name="CommittedBy">When skipped, the import whose commit it keeps (the latest, if several).</param>
/// <param name="Refreshed">
/// Entries that take the file's current version: a local file touched since, whose bytes were
/// hashed and found the same. Empty otherwise.
/// </param>
public sealed record FileVerdict(bool Skip, long? CommittedBy, IReadOnlyList<FileWatermark> Refreshed)
{
    /// <summary>The file loads.</summary>
    public static FileVerdict Load { get; } = new(false, null, []);
}
