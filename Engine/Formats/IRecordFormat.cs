using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats;

/// <summary>
/// What a unit's bytes hold, for one format (<c>json</c>, <c>ndjson</c>), whatever the connector
/// that brings them. Registered by name (<see cref="Sources.SourceServiceCollectionExtensions.AddIngestSources"/>).
/// </summary>
public interface IRecordFormat
{
    /// <summary>The name <c>source.format</c> gives it.</summary>
    string Name { get; }

    /// <summary>
    /// A reader of the records of <paramref name="key"/> from <paramref name="offset"/>: 0, or the
    /// <see cref="IRecordReader.RecordEnd"/> a reader of the same content reached.
    /// </summary>
    IRecordReader CreateReader(SourceSpec source, string key, long offset);
}
