using System.Runtime.CompilerServices;
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

    /// <summary>
    /// Whether readings hash the bytes they read (<see cref="UnitReading.Version"/>): for an
    /// incremental import of a source whose versions do not track content (local files).
    /// </summary>
    public bool Hashes => spec.IncrementalFiles && !connector.VersionTracksContent;

    /// <summary>Whether a version of this source's units (an ETag) changes with their content.</summary>
    public bool VersionTracksContent => connector.VersionTracksContent;

    /// <summary>The bound an incremental import read by cursor reads within, as its connector decides it (<see cref="ISourceConnector.SinceAsync"/>).</summary>
    public Task<System.Text.Json.JsonElement> SinceAsync(System.Text.Json.JsonElement? committed, bool full, string name, CancellationToken cancellationToken = default) =>
        connector.SinceAsync(spec, committed, full, name, cancellationToken);

    /// <summary>Where the units are, for messages.</summary>
    public string Describe() => connector.Describe(spec);

    /// <summary>The files, as the connector lists them; a SQL source's units, checked against the target.</summary>
    public IAsyncEnumerable<UnitDescriptor> PlanAsync(CancellationToken cancellationToken = default) =>
        connector is IRecordConnector records ? records.PlanAsync(spec, target, cancellationToken) : connector.PlanAsync(spec, cancellationToken);

    /// <summary>
    /// The records a chunk of the unit commits: <see cref="SourceSpec.ChunkRows"/>; all of them for a
    /// SQL source's unit without a key range, which has no order to resume in.
    /// </summary>
    public long ChunkRows(UnitDescriptor unit) => connector is IRecordConnector && unit.Keys is null ? long.MaxValue : spec.ChunkRows;

    /// <summary>
    /// The units of a file as listed: the file whole, or, when it is larger than
    /// <see cref="SourceSpec.SplitBytes"/> and its format can cut it (CSV and NDJSON, uncompressed,
    /// UTF-8), its record-aligned byte ranges, yielded as one pass over it finds them. The ranges
    /// name the version that pass read; each is read only in that version.
    /// </summary>
    public async IAsyncEnumerable<UnitDescriptor> SplitAsync(UnitDescriptor file, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var splitter = await SplitterAsync(file, cancellationToken);
        if (splitter is null)
        {
            yield return file;
            yield break;
        }
        await using var opened = await OpenListedAsync(file, cancellationToken);
        if (opened is null)
        {
            // Gone or rewritten since it was listed: loaded whole, and its unit says what it finds.
            yield return file;
            yield break;
        }
        var read = file with { Size = opened.Info.Size, Modified = opened.Info.Modified };
        // One range held back: a file that turns out to be one range is loaded whole.
        UnitRange? held = null;
        await foreach (var range in splitter.RangesAsync(new BoundedStream(opened.Content, opened.Info.Size), spec.SplitBytes, cancellationToken))
        {
            if (held is not null) yield return read with { Range = held };
            else if (range.End == opened.Info.Size)
            {
                yield return read;
                yield break;
            }
            held = range;
        }
        if (held is not null) yield return read with { Range = held };
    }

    /// <summary>A file's bytes as the source holds them (still compressed), in the version its units read, for archiving.</summary>
    /// <exception cref="SourceDataException">The file is gone, or changed since.</exception>
    public async Task<OpenedObject> OpenRawAsync(UnitDescriptor file, CancellationToken cancellationToken = default)
    {
        var opened = await connector.OpenAsync(spec, file with { Range = null }, 0, file.ETag, cancellationToken);
        if (file.ETag is null || opened.Info.ETag == file.ETag) return opened;
        await opened.DisposeAsync();
        throw new SourceDataException($"{file.Key}: changed since it was loaded (version {file.ETag}, now {opened.Info.ETag})");
    }

    // The file in the version listed; null when it is no longer that.
    private async Task<OpenedObject?> OpenListedAsync(UnitDescriptor file, CancellationToken cancellationToken)
    {
        OpenedObject opened;
        try { opened = await connector.OpenAsync(spec, file, 0, file.ETag, cancellationToken); }
        catch (SourceDataException) { return null; }
        if (opened.Info.ETag == file.ETag) return opened;
        await opened.DisposeAsync();
        return null;
    }

    private async Task<RecordSplitter?> SplitterAsync(UnitDescriptor file, CancellationToken cancellationToken)
    {
        if (file.Range is not null || file.Size is not { } size || size <= spec.SplitBytes) return null;
        var format = FormatOf(file.Key);
        if (ContentCompressions.Of(spec, file.Key) != ContentCompression.None || format.Decodes(spec)) return null;
        try
        {
            return await format.SplitterAsync(this, file.Key,
                async ct => (await OpenListedAsync(file, ct) ?? throw new SourceDataException($"{file.Key}: changed while it was being split")).Content, cancellationToken);
        }
        catch (SourceDataException)
        {
            return null; // its unit fails with the same error
        }
    }

    /// <summary>The error for a unit whose content is not the version its checkpoint (or its range) was read from.</summary>
    public static SourceDataException Changed(UnitDescriptor unit, UnitCheckpoint checkpoint, string? now)
    {
        var versions = $"version {checkpoint.ETag}, now {now ?? "another"}";
        var committed = checkpoint.Records - unit.First.Records;
        if (unit.Range is null)
            return new SourceDataException($"{unit.Key}: changed since its first {committed} records were loaded ({versions}); " +
                                           "those records stay loaded, the rest cannot be read from where they stopped");
        return new SourceDataException($"{unit.Name}: the file changed since it was split into ranges ({versions}); " +
                                       (committed > 0 ? $"the first {committed} records of this range stay loaded, " : "") +
                                       "the rest of the range is not read from another version (load the file again in a new import)");
    }

    // A fetched page, read from its start; read again from memory when only its commit is retried.
    private UnitReading Page(UnitDescriptor unit, OpenedObject page, UnitCheckpoint from) =>
        new(unit, page, page.Content, ContentCompression.None, FormatOf(page.Info.Key).CreateReader(this, page.Info.Key, UnitCheckpoint.Start), from, paged: true)
        {
            Again = () => Page(unit, new OpenedObject(new MemoryStream(page.Fetched!, writable: false), page.Info) { Fetched = page.Fetched, Then = page.Then, Warnings = page.Warnings }, from),
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
    /// Opens a unit where <paramref name="checkpoint"/> says its committed records end (at its start,
    /// or its range's, when null), ready to yield the records after them up to its end.
    /// </summary>
    /// <exception cref="SourceDataException">The file is gone, or changed since the checkpoint was committed.</exception>
    public Task<UnitReading> OpenAsync(UnitDescriptor unit, UnitCheckpoint? checkpoint, CancellationToken cancellationToken = default) =>
        OpenAsync(unit, checkpoint, encoded: false, cancellationToken);

    /// <summary>Opens a unit at a checkpoint (its start when null).</summary>
    /// <param name="encoded">Whether the caller takes rows of the target's binary COPY (<see cref="UnitReading.Encoded"/>) where the source can give them.</param>
    public async Task<UnitReading> OpenAsync(UnitDescriptor unit, UnitCheckpoint? checkpoint, bool encoded, CancellationToken cancellationToken = default)
    {
        checkpoint ??= unit.First;
        if (connector is HttpConnector http) return Page(unit, await http.OpenPageAsync(spec, unit, checkpoint, cancellationToken), checkpoint);
        if (connector is IRecordConnector records)
            return new UnitReading(unit, new OpenedObject(Stream.Null, new SourceObject(unit.Key, 0)), Stream.Null, ContentCompression.None,
                records.CreateReader(spec, target, unit, checkpoint, encoded), checkpoint);
        var compression = ContentCompressions.Of(spec, unit.Key);
        var format = FormatOf(unit.Key);
        // Compressed (or decoded) content cannot be entered in the middle: it is decompressed from the start and skipped.
        // Hashed content is read from the unit's start (its range's) so that the hash covers all of its bytes.
        var rawOffset = compression != ContentCompression.None || format.Decodes(spec) ? 0 : Hashes ? unit.First.Offset : checkpoint.Offset;
        // A unit reads one version of its file: the one its checkpoint, or its range, was read from.
        var version = checkpoint.Offset > 0 || unit.Range is not null ? checkpoint.ETag : null;
        var opened = await connector.OpenAsync(spec, unit, rawOffset, version, cancellationToken);
        if (version is not null && opened.Info.ETag != version)
        {
            await opened.DisposeAsync();
            throw Changed(unit, checkpoint, opened.Info.ETag);
        }
        var content = unit.Range is { } range ? new BoundedStream(opened.Content, range.End - rawOffset) : opened.Content;
        var digest = Hashes ? new DigestStream(content) : null;
        var reading = new UnitReading(unit, opened, format.Decode(spec, compression.Decompress(digest ?? content)), compression,
            format.CreateReader(this, unit.Key, checkpoint), checkpoint, digest);
        try
        {
            if (rawOffset != checkpoint.Offset) await reading.SkipAsync(checkpoint.Offset - rawOffset, cancellationToken);
            return reading;
        }
        catch
        {
            await reading.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The SHA-256 of a unit's bytes from <paramref name="start"/> to <paramref name="end"/> (its end
    /// when null) as the source holds them now, and what the source says of that version.
    /// </summary>
    /// <exception cref="SourceDataException">The file is gone.</exception>
    public async Task<(byte[] Hash, SourceObject Now)> HashAsync(UnitDescriptor unit, long start, long? end, CancellationToken cancellationToken = default)
    {
        await using var opened = await connector.OpenAsync(spec, unit, start, null, cancellationToken);
        await using var digest = new DigestStream(opened.Content);
        return (await digest.FinishAsync(end - start, cancellationToken), opened.Info);
    }
}
