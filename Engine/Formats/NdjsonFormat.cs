using Ingest.Engine.Json;
using Ingest.Engine.Sources;

namespace Ingest.Engine.Formats;

/// <summary>Newline-delimited JSON: one record per line.</summary>
public sealed class NdjsonFormat : IRecordFormat
{
    public string Name => "ndjson";

    public IRecordReader CreateReader(ImportSource source, string key, UnitCheckpoint from) => new JsonRecordReader(key, null, ndjson: true, from.Offset);

    // A JSON text holds no raw line break (one in a string is escaped), so every line start is a boundary.
    private static readonly RecordSplitter Lines = new(new RecordBoundaryScanner(null, null, false, null, null, blankLines: true), 0, _ => null);

    public ValueTask<RecordSplitter?> SplitterAsync(ImportSource source, string key, Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<RecordSplitter?>(Lines);
}
