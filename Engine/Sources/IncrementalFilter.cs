namespace Ingest.Engine.Sources;

/// <summary>
/// Which listed files an incremental import loads, from what the watermark store holds of them: a
/// file whose current version earlier imports of the name committed completely (entries of that
/// version covering all its bytes: every chunk and byte range) is skipped; anything less loads
/// again. A local file whose size is the same but whose modification time is not is hashed: the same
/// bytes are skipped (its entries take the new version), other bytes load.
/// </summary>
public sealed class IncrementalFilter(ImportSource source)
{
    /// <summary>Judges <paramref name="file"/> by <paramref name="entries"/>, the store's entries of its key.</summary>
    public async Task<FileVerdict> JudgeAsync(UnitDescriptor file, IReadOnlyList<FileWatermark> entries, CancellationToken cancellationToken = default)
    {
        if (entries.Count == 0 || file.ETag is null) return FileVerdict.Load;
        var current = entries.Where(e => e.Version == file.ETag).ToList();
        if (FileWatermark.Cover(current, file.Size)) return new FileVerdict(true, current.Max(e => e.ImportId), []);

        // Only the modification time may have changed: the bytes say whether the file did.
        if (source.VersionTracksContent || file.Size is not { } size || !FileWatermark.Cover(entries, size)
            || entries.Any(e => e.Size != size || e.ContentHash is null))
            return FileVerdict.Load;
        var refreshed = new List<FileWatermark>(entries.Count);
        foreach (var entry in entries)
        {
            if (entry.Version == file.ETag) continue;
            byte[] hash;
            SourceObject now;
            try
            {
                (hash, now) = await source.HashAsync(file, entry.RangeStart, entry.RangeEnd, cancellationToken);
            }
            catch (SourceDataException)
            {
                // Gone since it was listed: it loads, and its unit says so, as for any file removed after the listing.
                return FileVerdict.Load;
            }
            // Changed again since it was listed, or other bytes: it loads.
            if (now.ETag != file.ETag || !hash.AsSpan().SequenceEqual(entry.ContentHash)) return FileVerdict.Load;
            refreshed.Add(entry with { Version = file.ETag, Modified = now.Modified });
        }
        return new FileVerdict(true, entries.Max(e => e.ImportId), refreshed);
    }
}
