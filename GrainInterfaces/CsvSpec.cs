namespace Ingest.GrainInterfaces;

/// <summary>How the CSV files of an import are read (<c>source.csv</c>).</summary>
/// <param name="Delimiter">The field delimiter, one ASCII character; null: detected from the first lines of each file (<c>,</c> <c>;</c> tab <c>|</c>), tab for <c>.tsv</c>.</param>
/// <param name="Quote">The quote character; empty: fields are never quoted.</param>
/// <param name="Escape">
/// What escapes a quote inside a quoted field: the quote itself (RFC 4180, <c>""</c>, the default)
/// or <c>\</c> (<c>\"</c>, and <c>\\</c> for a backslash). Without a quote, <c>\</c> escapes the
/// character after it (a delimiter, a line break, itself).
/// </param>
/// <param name="Header">Whether the first row (after <paramref name="SkipRows"/>) names the fields (default true).</param>
/// <param name="Encoding">The files' encoding: <c>utf-8</c> (a BOM or none), <c>latin1</c>, <c>windows-1252</c> or <c>utf-16</c> (by its BOM).</param>
/// <param name="SkipRows">Rows before the header (or the first record) that are not data, such as a report's title.</param>
/// <param name="Comment">Lines that start with this character are skipped; null: none.</param>
/// <param name="NullValues">Unquoted field texts that mean NULL (default: the empty field); a quoted field is never NULL.</param>
public sealed record CsvSpec(
    string? Delimiter = null,
    string Quote = "\"",
    string? Escape = null,
    bool Header = true,
    string Encoding = "utf-8",
    int SkipRows = 0,
    string? Comment = null,
    IReadOnlyList<string>? NullValues = null)
{
    /// <summary>The defaults: RFC 4180, a header, UTF-8, the empty field NULL.</summary>
    public static CsvSpec Default { get; } = new();

    /// <summary>The encodings <see cref="Encoding"/> may name.</summary>
    public static IReadOnlyList<string> Encodings { get; } = ["utf-8", "latin1", "windows-1252", "utf-16"];

    /// <summary>Unquoted field texts that mean NULL.</summary>
    public IReadOnlyList<string> NullValues { get; init; } = NullValues ?? [""];
}
