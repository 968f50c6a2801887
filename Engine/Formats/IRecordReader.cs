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
}
