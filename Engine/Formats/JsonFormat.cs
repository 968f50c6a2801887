using Ingest.Engine.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats;

/// <summary>A JSON document whose records are the elements of an array: at <c>source.records</c>, or the top-level one.</summary>
public sealed class JsonFormat : IRecordFormat
{
    public string Name => "json";

    public IRecordReader CreateReader(SourceSpec source, string key, long offset) => new JsonRecordReader(key, source.Records, ndjson: false, offset);
}
