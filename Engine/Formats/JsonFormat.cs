using Ingest.Engine.Json;
using Ingest.Engine.Sources;

namespace Ingest.Engine.Formats;

/// <summary>A JSON document whose records are the elements of an array: at <c>source.records</c>, or the top-level one.</summary>
public sealed class JsonFormat : IRecordFormat
{
    public string Name => "json";

    public IRecordReader CreateReader(ImportSource source, string key, UnitCheckpoint from) => new JsonRecordReader(key, source.Spec.Records, ndjson: false, from.Offset);
}
