namespace Ingest.Engine.Sources;

/// <summary>
/// What the watermark store keeps of a file, or of a byte range of it, that a unit of an
/// incremental import read to its end and committed: the version it read.
/// </summary>
/// <param name="Key">The file or object, as the connector names it.</param>
/// <param name="RangeStart">Where the unit's bytes start in the file: 0 for a whole file.</param>
/// <param name="RangeEnd">Where they end (exclusive); null: at the end of the file.</param>
/// <param name="Version">The ETag read (for a local file, its size and modification time).</param>
/// <param name="Size">The whole file's size.</param>
/// <param name="Modified">Its modification time.</param>
/// <param name="ContentHash">The SHA-256 of the range's bytes, kept when the source's versions do not track content.</param>
/// <param name="ImportId">The import that committed it.</param>
/// <param name="CommittedAt">When it committed; null until it has.</param>
public sealed record FileWatermark(string Key, long RangeStart, long? RangeEnd, string Version, long? Size, DateTimeOffset? Modified,
    byte[]? ContentHash, long ImportId, DateTimeOffset? CommittedAt = null)
{
    /// <summary>
    /// The entry of a unit that read <paramref name="unit"/> to its end, as <paramref name="version"/>:
    /// the whole file, or the byte range the unit read of it; null when the source named no version.
    /// </summary>
    public static FileWatermark? Of(UnitDescriptor unit, LoadedVersion version, long importId) =>
        version.Object.ETag is { } etag
            ? new FileWatermark(unit.Key, unit.Range?.Start ?? 0, unit.Range?.End, etag, version.Object.Size, version.Object.Modified, version.ContentHash, importId)
            : null;

    /// <summary>
    /// Whether <paramref name="entries"/> (of one file) cover all of its <paramref name="size"/> bytes
    /// (all of it when the size is unknown only through a range that runs to the end).
    /// </summary>
    public static bool Cover(IEnumerable<FileWatermark> entries, long? size)
    {
        long reached = 0;
        var any = false;
        foreach (var entry in entries.OrderBy(e => e.RangeStart))
        {
            if (entry.RangeStart > reached) return false;
            if (entry.RangeEnd is not { } end) return true;
            reached = Math.Max(reached, end);
            any = true;
        }
        return any && size is { } s && reached >= s;
    }
}
