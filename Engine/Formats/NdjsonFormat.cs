using Ingest.Engine.Json;
using Ingest.Engine.Sources;

namespace Ingest.Engine.Formats;

/// <summary>Newline-delimited JSON: one record per line.</summary>
public sealed class NdjsonFormat : IRecordFormat
{
    public string Name => "ndjson";

    public IRecordReader CreateReader(ImportSource source, string key, UnitCheckpoint from) => new JsonRecordReader(key, null, ndjson: true, from.Offset);
}
