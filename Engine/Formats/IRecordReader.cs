namespace Ingest.Engine.Formats;

/// <summary>Reads one unit's records out of its (decompressed) content, from the offset it was made for.</summary>
public interface IRecordReader
{
    /// <summary>
    /// Yields each record as UTF-8 JSON, valid until the enumeration moves on.
    /// </summary>
    /// <exception cref="SourceDataException">The content is malformed; the message names the file and where.</exception>
    IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream content, CancellationToken cancellationToken = default);

    /// <summary>The offset just past the last record yielded: where a later reader can start.</summary>
    long RecordEnd { get; }

    /// <summary>The bytes read from the content so far, read-ahead included.</summary>
    long BytesRead { get; }

    /// <summary>
    /// What a later reader needs besides <see cref="RecordEnd"/> to start there (a CSV file's header,
    /// delimiter and line); null when the offset is enough.
    /// </summary>
    string? State => null;

    /// <summary>
    /// Why the record last yielded cannot be mapped (a CSV row with too many fields, a broken
    /// quote): it is rejected as it is; null when it can be.
    /// </summary>
    string? Problem => null;

    /// <summary>The record last yielded as the file holds it (UTF-8), when that is not what was yielded; empty otherwise.</summary>
    ReadOnlyMemory<byte> Original => default;

    /// <summary>
    /// The cursor of the record last yielded, as its source computes it (a SQL row's canonical
    /// <c>[cursor, tieBreak]</c>, a JSON array), when the record's own JSON does not hold it in a form
    /// that compares correctly; empty otherwise (the cursor is read from the record).
    /// </summary>
    ReadOnlyMemory<byte> Cursor => default;

    /// <summary>The 1-based line of the file where the record last yielded starts; 0 for a format without lines.</summary>
    long Line => 0;

    /// <summary>The source columns of the record last yielded whose values the reader made NULL (MySQL's zero dates), to be counted.</summary>
    IReadOnlyList<string> Nulled => [];

    /// <summary>
    /// Whether the records yielded are rows of the target's binary COPY, in its column order, instead
    /// of JSON (a PostgreSQL source relayed, <see cref="Sources.Sql.RowRelay"/>); known once the first is read.
    /// </summary>
    bool Encoded => false;
}
