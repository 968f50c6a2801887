using Ingest.Engine.Formats;
using Ingest.Engine.Formats.Csv;
using Ingest.Engine.Sources.Http;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources;

/// <summary>
/// An import's source: its connector, which plans units and opens them, and the record format of
/// each unit (<c>source.format</c>, else by the key's extension once any compression's is taken
/// off: <c>.jsonl</c>/<c>.ndjson</c> are NDJSON, anything else JSON; in a CSV import
/// (<see cref="SourceSpec.IsCsv"/>) <c>.tsv</c> is TSV, anything else CSV).
/// </summary>
/// <param name="target">
/// The target the records are mapped to, when they are read to be loaded: a CSV import reads the
/// fields its columns name (<see cref="CsvLayout"/>), and its mappers use <see cref="Target"/>.
/// </param>
public sealed class ImportSource(ISourceConnector connector, IReadOnlyDictionary<string, IRecordFormat> formats, SourceSpec spec, TargetSpec? target = null)
{
    private readonly CsvLayout? _csv = target is not null && spec.IsCsv() ? new CsvLayout(spec, target) : null;

    public SourceSpec Spec => spec;

    /// <summary>The target as the mappers read the records this source yields (for CSV, with paths into the records the CSV reader makes).</summary>
    public TargetSpec Target => _csv?.Target ?? target ?? throw new InvalidOperationException("this source was made for planning, without a target");

    /// <summary>What a CSV import's readers yield of each row; null for JSON, or a source made for planning.</summary>
    public CsvLayout? Csv => _csv;

    /// <summary>Whether a unit's content is fetched whole when it is opened (HTTP pages): a batch opens its units before its transaction.</summary>
    public bool Fetches => connector is HttpConnector;

    /// <summary>Where the units are, for messages.</summary>
    public string Describe() => connector.Describe(spec);

    /// <summary>The units, as the connector lists them.</summary>
    public IAsyncEnumerable<UnitDescriptor> PlanAsync(CancellationToken cancellationToken = default) => connector.PlanAsync(spec, cancellationToken);

    /// <summary>The error for a unit whose content is not the version its checkpoint was read from.</summary>
    public static SourceDataException Changed(UnitDescriptor unit, UnitCheckpoint checkpoint, string? now) => new(
        $"{unit.Key}: changed since its first {checkpoint.Records} records were loaded (version {checkpoint.ETag}, now {now ?? "another"}); " +
        "those records stay loaded, the rest cannot be read from where they stopped");

    // A fetched page, read from its start; read again from memory when only its commit is retried.
    private UnitReading Page(OpenedObject page, UnitCheckpoint from) =>
        new(page, page.Content, ContentCompression.None, FormatOf(page.Info.Key).CreateReader(this, page.Info.Key, UnitCheckpoint.Start), from, paged: true)
        {
            Again = () => Page(new OpenedObject(new MemoryStream(page.Fetched!, writable: false), page.Info) { Fetched = page.Fetched, Then = page.Then, Warnings = page.Warnings }, from),
        };

    /// <summary>The error for a source in which nothing matches: a wrong pattern must not look like an empty success.</summary>
    public SourceDataException NothingMatches() => new($"no files match '{spec.Pattern}' in {Describe()}", kind: ErrorKind.Import);

    /// <summary>The record format of <paramref name="key"/>.</summary>
    public IRecordFormat FormatOf(string key)
    {
        if (spec.Format is { } name) return formats[name];
        var plain = ContentCompressions.StripExtension(key);
        if (spec.IsCsv()) return formats[plain.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) ? "tsv" : "csv"];
        var ndjson = plain.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || plain.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);
        return formats[ndjson ? "ndjson" : "json"];
    }

    /// <summary>
    /// Opens a unit where <paramref name="checkpoint"/> says its committed records end (at its start
    /// when null), ready to yield the records after them.
    /// </summary>
    /// <exception cref="SourceDataException">The file is gone, or changed since the checkpoint was committed.</exception>
    public async Task<UnitReading> OpenAsync(UnitDescriptor unit, UnitCheckpoint? checkpoint, CancellationToken cancellationToken = default)
    {
        checkpoint ??= UnitCheckpoint.Start;
        if (connector is HttpConnector http) return Page(await http.OpenPageAsync(spec, unit, checkpoint, cancellationToken), checkpoint);
        var compression = ContentCompressions.Of(spec, unit.Key);
        var format = FormatOf(unit.Key);
        // Compressed (or decoded) content cannot be entered in the middle: it is decompressed from the start and skipped.
        var rawOffset = compression == ContentCompression.None && !format.Decodes(spec) ? checkpoint.Offset : 0;
        var resumed = checkpoint.Offset > 0;
        var opened = await connector.OpenAsync(spec, unit, rawOffset, resumed ? checkpoint.ETag : null, cancellationToken);
        if (resumed && checkpoint.ETag is not null && opened.Info.ETag != checkpoint.ETag)
        {
            await opened.DisposeAsync();
            throw Changed(unit, checkpoint, opened.Info.ETag);
        }
        var reading = new UnitReading(opened, format.Decode(spec, compression.Decompress(opened.Content)), compression,
            format.CreateReader(this, unit.Key, checkpoint), checkpoint);
        try
        {
            if (rawOffset != checkpoint.Offset) await reading.SkipAsync(checkpoint.Offset, cancellationToken);
            return reading;
        }
        catch
        {
            await reading.DisposeAsync();
            throw;
        }
    }
}
