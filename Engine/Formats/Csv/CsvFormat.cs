using System.Text;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Formats.Csv;

/// <summary>
/// CSV files (<c>csv</c>), and TSV files (<c>tsv</c>: tab-delimited unless <c>source.csv.delimiter</c> says otherwise).
/// <para>
/// Parsed by CsvHelper 34 rather than Sep: CsvHelper parses UTF-8 bytes and gives, for every record,
/// its byte offset in the input, its raw text and the line it starts on, and reports malformed
/// quoting per record; so a checkpoint is an exact byte offset at a record boundary that the parser
/// found, and a bad row is rejected with its line and original text. Sep parses UTF-16 chars (no
/// byte offsets) and has no escape character. Neither reads a backslash that escapes a quote inside
/// quotes; <see cref="EscapedQuoteStream"/> rewrites those pairs in place for CsvHelper's RFC 4180 mode.
/// </para>
/// </summary>
public sealed class CsvFormat(string name, char? delimiter) : IRecordFormat
{
    static CsvFormat() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <summary>Comma-separated values, the delimiter detected unless the spec names it.</summary>
    public static CsvFormat Csv { get; } = new("csv", null);

    /// <summary>Tab-separated values.</summary>
    public static CsvFormat Tsv { get; } = new("tsv", '\t');

    public string Name => name;

    public IRecordReader CreateReader(ImportSource source, string key, UnitCheckpoint from) =>
        new CsvRecordReader(key, source.Csv ?? throw new InvalidOperationException($"{key}: a CSV file is read for a target (ImportSource made with one)"),
            source.Spec.Csv?.Delimiter is { } named ? named[0] : delimiter, from);

    public bool Decodes(SourceSpec source) => EncodingOf(source) is not null;

    public Stream Decode(SourceSpec source, Stream content) => EncodingOf(source) is { } encoding
        ? new Utf8TranscodingStream(content, encoding, detectBom: encoding is UnicodeEncoding)
        : content;

    /// <summary>
    /// A UTF-8 file whose quote, escape and comment are ASCII is cut by a quote-aware scan; its ranges
    /// after the first start with the header, delimiter and field count its first rows gave.
    /// </summary>
    public async ValueTask<RecordSplitter?> SplitterAsync(ImportSource source, string key, Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken = default)
    {
        var options = source.Csv?.Options ?? throw new InvalidOperationException($"{key}: a CSV file is split for a target (ImportSource made with one)");
        if (!Ascii(options.Quote) || !Ascii(options.Escape) || !Ascii(options.Comment)) return null;
        var head = (CsvRecordReader)CreateReader(source, key, UnitCheckpoint.Start);
        await using (var content = await open(cancellationToken))
            await foreach (var _ in head.ReadAsync(content, cancellationToken)) break;
        if (head.Delimiter is not { } found || found > 127) return null;

        byte? quote = options.Quote.Length == 1 ? (byte)options.Quote[0] : null;
        byte? escape = options.Escape == "\\" ? (byte)'\\' : null;
        byte? comment = options.Comment is { Length: 1 } c ? (byte)c[0] : null;
        var scanner = new RecordBoundaryScanner(quote, escape, escapesAnything: quote is null, (byte)found, comment, blankLines: false);
        return new RecordSplitter(scanner, options.SkipRows + (options.Header ? 1 : 0), head.StateAt);
    }

    private static bool Ascii(string? text) => text is null || text.All(char.IsAscii);

    // Null for UTF-8, which the parser reads as it is (a BOM included).
    private static Encoding? EncodingOf(SourceSpec source) => (source.Csv ?? CsvSpec.Default).Encoding switch
    {
        "latin1" => Encoding.Latin1,
        "windows-1252" => Encoding.GetEncoding(1252),
        "utf-16" => Encoding.Unicode,
        _ => null,
    };
}
