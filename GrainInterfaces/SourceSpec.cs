using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingest.GrainInterfaces;

/// <summary>Where the records of an import come from. One file or object is one unit of work, or a huge one several (<see cref="SplitBytes"/>).</summary>
/// <param name="Kind">The kind of source.</param>
/// <param name="Path">For <see cref="SourceKind.Files"/>: the folder holding the files.</param>
/// <param name="Bucket">For <see cref="SourceKind.S3"/>: the bucket.</param>
/// <param name="Prefix">For <see cref="SourceKind.S3"/>: the key prefix to list under (empty: the whole bucket).</param>
/// <param name="Pattern">A glob (<c>*</c>, <c>?</c>) matched against the file name, or the key after the prefix.</param>
/// <param name="Records">
/// A dotted path to the array of records inside each file. Absent: the file is a top-level JSON array,
/// or newline-delimited JSON when its name ends in <c>.jsonl</c> or <c>.ndjson</c>.
/// </param>
/// <param name="Format">The record format of every unit (<c>json</c>, <c>ndjson</c>); null: by each file's extension.</param>
/// <param name="Compression">The compression of every unit (<c>none</c>, <c>gzip</c>, <c>zstd</c>); null: by extension (<c>.gz</c>, <c>.zst</c>).</param>
/// <param name="ChunkRows">A unit with more records than this commits every this many, with its checkpoint (default 100,000).</param>
/// <param name="Csv">How CSV files are read (delimiter, quoting, header, encoding, nulls); null: the defaults.</param>
/// <param name="SplitBytes">
/// A CSV or NDJSON file larger than this (uncompressed, UTF-8) is loaded as record-aligned byte
/// ranges of about this size, each a unit of its own (default 64 MiB).
/// </param>
/// <param name="Http">For <see cref="SourceKind.Http"/>: the API, its pagination, retries, rate limit and authentication.</param>
/// <param name="Incremental">
/// Read only what changed since earlier imports of the same name (the watermark store, kept by
/// name): for files, skip each file whose current version an earlier import committed completely
/// (all its ranges), and record what this one commits; for a source read by cursor (<see cref="Cursor"/>),
/// read from the highest cursor committed by the last import that completed.
/// </param>
/// <param name="Cursor">For a source read by cursor (an HTTP API), the cursor of an incremental import; null for files.</param>
/// <param name="RabbitMq">For <see cref="SourceKind.RabbitMq"/>: the queue and how it is consumed.</param>
/// <param name="Sql">For <see cref="SourceKind.Sql"/>: the database, the table or query, and how it is split.</param>
public sealed record SourceSpec(
    SourceKind Kind,
    string? Path,
    string? Bucket,
    string? Prefix,
    string Pattern,
    string? Records,
    string? Format = null,
    string? Compression = null,
    int ChunkRows = SourceSpec.DefaultChunkRows,
    CsvSpec? Csv = null,
    long SplitBytes = SourceSpec.DefaultSplitBytes,
    HttpSpec? Http = null,
    bool Incremental = false,
    CursorSpec? Cursor = null,
    RabbitMqSpec? RabbitMq = null,
    SqlSourceSpec? Sql = null)
{
    /// <summary>Whether the import consumes a queue until stopped, rather than ending when its units are loaded.</summary>
    public bool IsContinuous => Kind == SourceKind.RabbitMq;

    /// <summary>
    /// The lower bound this import reads from (<c>ingest.imports.since</c>, fixed when its planning
    /// starts): the committed cursor less its lag, or the initial value; null: none. Not part of what a
    /// user writes, nor of the stored spec: the catalog sets it with the spec it reads for a silo.
    /// </summary>
    [JsonIgnore]
    public JsonElement? Since { get; init; }

    /// <summary>Whether the watermark store keeps this import's files (an incremental import of files or objects, not one read by cursor).</summary>
    [JsonIgnore]
    public bool IncrementalFiles => Incremental && Cursor is null;

    /// <summary>The chunk size of a spec that names none.</summary>
    public const int DefaultChunkRows = 100_000;

    /// <summary>The range size of a spec that names none.</summary>
    public const long DefaultSplitBytes = 64L * 1024 * 1024;

    /// <summary>The record formats <see cref="Format"/> may name.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["json", "ndjson", "csv", "tsv"];

    /// <summary>
    /// Whether the import reads CSV (or TSV) files: <see cref="Format"/> says so, or, without one, a
    /// <see cref="Csv"/> object is given or the pattern ends in <c>.csv</c> or <c>.tsv</c> (before
    /// <c>.gz</c>/<c>.zst</c>). Column paths are then header names, not paths into objects.
    /// </summary>
    public bool IsCsv() => Format is "csv" or "tsv" || (Format is null && (Csv is not null || HasCsvExtension(Pattern)));

    /// <summary>Whether a file name (or pattern) ends in <c>.csv</c> or <c>.tsv</c>, compressed or not.</summary>
    public static bool HasCsvExtension(string name)
    {
        foreach (var compressed in (string[])[".gz", ".zst"])
            if (name.EndsWith(compressed, StringComparison.OrdinalIgnoreCase)) name = name[..^compressed.Length];
        return name.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The compressions <see cref="Compression"/> may name.</summary>
    public static IReadOnlyList<string> Compressions { get; } = ["none", "gzip", "zstd"];
}

/// <summary>The kinds of source an import can read.</summary>
public enum SourceKind
{
    /// <summary>Files in a local folder, selected by a glob.</summary>
    Files,

    /// <summary>Objects in an S3 bucket, selected by prefix and glob.</summary>
    S3,

    /// <summary>Messages of a RabbitMQ queue, consumed continuously.</summary>
    RabbitMq,

    /// <summary>A table or query of a SQL database (PostgreSQL, MySQL, MariaDB).</summary>
    Sql,

    /// <summary>Pages of an HTTP API.</summary>
    Http,
}
