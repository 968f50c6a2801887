using Ingest.Engine.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats;

/// <summary>Newline-delimited JSON: one record per line.</summary>
public sealed class NdjsonFormat : IRecordFormat
{
    public string Name => "ndjson";

    public IRecordReader CreateReader(SourceSpec source, string key, long offset) => new JsonRecordReader(key, null, ndjson: true, offset);
}
