using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats;

/// <summary>
/// What a unit's bytes hold, for one format (<c>json</c>, <c>ndjson</c>, <c>csv</c>, <c>tsv</c>),
/// whatever the connector that brings them. Registered by name (<see cref="Sources.SourceServiceCollectionExtensions.AddIngestSources"/>).
/// </summary>
public interface IRecordFormat
{
    /// <summary>The name <c>source.format</c> gives it.</summary>
    string Name { get; }

    /// <summary>
    /// A reader of the records of <paramref name="key"/> from <paramref name="from"/>: the start, or
    /// a checkpoint whose offset (and state) a reader of the same content reached.
    /// </summary>
    IRecordReader CreateReader(ImportSource source, string key, UnitCheckpoint from);

    /// <summary>
    /// Whether the content must be decoded (<see cref="Decode"/>) before it is read, as a text in
    /// another encoding than UTF-8 is: offsets are then positions in the decoded content, and a
    /// unit resumes by decoding from the start, as a compressed one does.
    /// </summary>
    bool Decodes(SourceSpec source) => false;

    /// <summary>The content as the reader reads it; it owns <paramref name="content"/>.</summary>
    Stream Decode(SourceSpec source, Stream content) => content;

    /// <summary>
    /// How a file of this format is cut into record-aligned ranges, when it can be (its records end at
    /// line breaks); null when its files are loaded whole. <paramref name="open"/> opens the file at
    /// its start, in the version being planned, for what the splitter must read first (a CSV header).
    /// </summary>
    /// <exception cref="SourceDataException">The file cannot be read as this format (a bad header): it is loaded whole, and fails there.</exception>
    ValueTask<RecordSplitter?> SplitterAsync(ImportSource source, string key, Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<RecordSplitter?>(null);
}
