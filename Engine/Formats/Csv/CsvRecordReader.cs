using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using CsvHelper;
using Ingest.Engine.Sources;

namespace Ingest.Engine.Formats.Csv;

/// <summary>
/// Streams the rows of one CSV file as the JSON records <see cref="CsvLayout"/> describes, parsed by
/// CsvHelper: RFC 4180 quoting (delimiters, doubled quotes and line breaks inside quotes, CRLF or
/// LF), a backslash escape, comments, rows skipped before the header.
/// <para>
/// An unquoted field whose text is one of <c>nullValues</c> is NULL; a quoted one never is. A row
/// with another number of fields than the header (or, without one, the first row), or a broken
/// quote, or bytes that are not UTF-8, is yielded with a <see cref="Problem"/> and rejected whole.
/// A header that lacks a mapped name, or has duplicate or blank names, fails the file.
/// </para>
/// <para>
/// A row ends where CsvHelper says its text ends (its offset and length), before its line break:
/// that is <see cref="RecordEnd"/>. A reader started there sees the line break as an empty line,
/// which it skips, then the next row; <see cref="State"/> carries the header, the delimiter and the
/// line count it needs.
/// </para>
/// </summary>
public sealed class CsvRecordReader : IRecordReader, ITextFields
{
    private const int MaxRecordBytes = 256 * 1024 * 1024;
    private static readonly byte[] Empty = "{}"u8.ToArray();
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    private readonly string _name;
    private readonly CsvLayout _layout;
    private readonly long _startOffset;
    private readonly bool _resumed;
    private readonly JsonEncodedText[] _keys;
    private readonly string[] _fieldKeys; // the layout's keys, then the line's when a column keeps it
    private readonly byte[] _lineText = new byte[20];
    private bool _deferred;
    private bool _written;
    private readonly byte[][] _nulls;
    private readonly byte? _quote;
    private readonly byte? _backslash; // quoted fields whose quotes a backslash escapes
    private readonly ArrayBufferWriter<byte> _json = new(1024);
    private readonly Utf8JsonWriter _writer;

    private char? _delimiter;
    private string[]? _header;
    private int _fields = -1; // fields a row must have; -1 until the header or the first row says
    private int[] _slots = [];
    private JsonEncodedText[] _rowKeys = [];
    private long _lineBase; // lines before the first line of the stream read
    private long _endLineBase; // the same for a reader started at RecordEnd
    private byte[]? _scratch;
    private CsvReader? _csv;
    private readonly string? _initialState;

    /// <param name="name">The file's name, for messages.</param>
    /// <param name="layout">What the import reads of each row.</param>
    /// <param name="delimiter">The delimiter the spec or the format names; null: detected.</param>
    /// <param name="from">Where the stream starts: the file's start, or a checkpoint a reader of it committed.</param>
    public CsvRecordReader(string name, CsvLayout layout, char? delimiter, UnitCheckpoint from)
    {
        _name = name;
        _layout = layout;
        _delimiter = delimiter;
        _startOffset = from.Offset;
        RecordEnd = from.Offset;
        _resumed = from.Offset > 0;
        _keys = layout.EncodedKeys();
        _fieldKeys = [.. layout.Keys, .. layout.Line ? [CsvLayout.LineKey] : Array.Empty<string>()];
        _nulls = layout.Options.NullValues.Select(Encoding.UTF8.GetBytes).ToArray();
        var options = layout.Options;
        _quote = options.Quote.Length == 1 ? (byte)options.Quote[0] : null;
        _backslash = _quote is not null && options.Escape == "\\" ? (byte)'\\' : null;
        _writer = new Utf8JsonWriter(_json, WriterOptions);
        if (_resumed)
        {
            var state = from.State is { } json ? JsonSerializer.Deserialize<ResumeState>(json) : null;
            if (state is null) throw new SourceDataException($"{name}: its checkpoint at byte {from.Offset} does not say how to read on (header, delimiter, line)");
            (_delimiter, _header, _fields, _lineBase) = (state.Delimiter, state.Header, state.Fields, state.Line);
            _endLineBase = state.Line;
            Resolve();
        }
        _initialState = from.State;
    }

    public long RecordEnd { get; private set; }

    public long BytesRead => _counted?.Count ?? 0;

    /// <summary>What a reader started at <see cref="RecordEnd"/> needs: the delimiter, the header, the fields a row has, the lines before it.</summary>
    public string? State => RecordEnd == _startOffset ? _initialState : JsonSerializer.Serialize(new ResumeState(_delimiter, _header, _fields, _endLineBase));

    public string? Problem { get; private set; }

    /// <summary>The delimiter given or detected; null until a row is read.</summary>
    internal char? Delimiter => _delimiter;

    /// <summary>What a reader started at a line needs, after <paramref name="lines"/> line breaks, once this one has read the header (or first row).</summary>
    internal string StateAt(long lines) => JsonSerializer.Serialize(new ResumeState(_delimiter, _header, _fields, lines));

    public long Line { get; private set; }

    /// <summary>The row's text as the file holds it (decoded to UTF-8), read while the parser is still on it.</summary>
    public ReadOnlyMemory<byte> Original => _csv is { } csv ? csv.RawRecord.ToArray() : default;

    private CountingStream? _counted;

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream content, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        _counted = new CountingStream(content);
        Stream input = _backslash is { } escape ? new EscapedQuoteStream(_counted, escape, _quote!.Value) : _counted;
        string? malformed = null;
        var csvOptions = Options(m => malformed ??= Describe(m.Reason));
        await using var csv = CsvReader.Create(input, csvOptions, leaveOpen: true);
        _csv = csv;
        var skip = _resumed ? 0 : _layout.Options.SkipRows;
        var header = !_resumed && _layout.Options.Header;
        try
        {
            while (true)
            {
                bool more;
                try { more = await csv.ReadAsync(cancellationToken); }
                catch (CsvFormatException e) { throw new SourceDataException($"{_name}: {e.Message}", e); }
                if (!more) yield break;
                var problem = malformed;
                malformed = null;
                var line = _lineBase + csv.LineNumber;
                _delimiter ??= csv.Separator;
                var raw = csv.RawRecord;
                RecordEnd = _startOffset + csv.ByteOffset + raw.Length;
                _endLineBase = line + LineBreaks(raw) - 1;
                if (skip > 0)
                {
                    skip--;
                    continue;
                }
                if (header)
                {
                    ReadHeader(csv, line, problem);
                    header = false;
                    continue;
                }
                if (_fields < 0)
                {
                    _fields = csv.FieldCount;
                    Resolve();
                }
                Line = line;
                Problem = problem
                          ?? (csv.FieldCount != _fields ? $"{csv.FieldCount} fields, but {(_header is null ? "the first row has" : "the header has")} {_fields}" : null)
                          ?? (Utf8.IsValid(raw) ? null : "not valid UTF-8 text (if the file is latin1 or windows-1252, say so in source.csv.encoding)");
                if (Problem is not null)
                {
                    yield return Empty;
                    continue;
                }
                if (_deferred)
                {
                    _written = false;
                    yield return default;
                    continue;
                }
                Write(csv, line);
                yield return _json.WrittenMemory;
            }
        }
        finally
        {
            _csv = null;
        }
    }

    private CsvReaderOptions Options(Action<CsvMalformedRecord> onMalformed)
    {
        var spec = _layout.Options;
        return new CsvReaderOptions
        {
            HasHeader = false, // read here, to skip rows before it and to tell a blank or repeated name
            Separator = _delimiter,
            Mode = _quote is not null ? CsvMode.Rfc4180 : spec.Escape == "\\" ? CsvMode.Escape : CsvMode.NoEscape,
            Quote = _quote is { } quote ? (char)quote : '"',
            Escape = '\\',
            CommentPrefix = spec.Comment is { } comment ? comment[0] : null,
            SkipEmptyLines = true,
            AllowLineBreaksInQuotes = true,
            TrimWhitespace = false,
            TrackLineNumbers = true,
            MaxRecordSize = MaxRecordBytes,
            MalformedData = CsvMalformedDataHandling.Recover,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            MissingField = CsvMissingFieldHandling.ReturnEmpty,
            OnMalformedRecord = onMalformed,
        };
    }

    // A stray quote inside an unquoted field (5'10") is text, as PostgreSQL's COPY reads it.
    private static string? Describe(CsvMalformedReason reason) => reason switch
    {
        CsvMalformedReason.StrayQuote => null,
        CsvMalformedReason.TextAfterClosingQuote => "a broken quote: text after the closing quote of a field",
        CsvMalformedReason.UnterminatedQuote => "a broken quote: a quoted field is never closed, so the rest of the file is this one row",
        CsvMalformedReason.TrailingEscape => "the file ends with an escape character",
        _ => $"malformed ({reason})",
    };

    private void ReadHeader(CsvReader csv, long line, string? problem)
    {
        if (problem is not null) throw new SourceDataException($"{_name}: its header (line {line}) is malformed: {problem}");
        var names = new string[csv.FieldCount];
        for (var i = 0; i < names.Length; i++) names[i] = csv.GetString(i);
        _header = names;
        _fields = names.Length;
        if (!_layout.ByPosition)
        {
            var blank = names.Select((n, i) => (n, i)).Where(x => string.IsNullOrWhiteSpace(x.n)).Select(x => $"field {x.i + 1}").ToList();
            var repeated = names.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1 && !string.IsNullOrWhiteSpace(g.Key)).Select(g => $"'{g.Key}'").ToList();
            if (blank.Count + repeated.Count > 0)
                throw new SourceDataException($"{_name}: its header (line {line}) has {string.Join(" and ", new[] {
                    repeated.Count > 0 ? $"names given twice ({string.Join(", ", repeated)})" : null,
                    blank.Count > 0 ? $"blank names ({string.Join(", ", blank)})" : null }.Where(s => s is not null))}; name the fields by position ('field') to read it");
            var missing = _layout.Names.Where(n => !names.Contains(n, StringComparer.Ordinal)).ToList();
            if (missing.Count > 0)
                throw new SourceDataException($"{_name}: its header (line {line}) lacks the mapped column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(m => $"'{m}'"))} " +
                                              $"(it has {string.Join(", ", names.Select(n => $"'{n}'"))}); names are matched exactly");
        }
        Resolve();
    }

    // Which field each key reads, and the names the whole row is written with.
    private void Resolve()
    {
        _slots = _layout.ByPosition
            ? _layout.Positions.Select(p => p - 1).ToArray()
            : _layout.Names.Select(n => Array.IndexOf(_header ?? [], n)).ToArray();
        if (_layout.WholeRow && _header is not null && !_layout.ByPosition)
            _rowKeys = _header.Select(h => JsonEncodedText.Encode(h, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)).ToArray();
    }

    private void Write(CsvReader csv, long line)
    {
        _json.ResetWrittenCount();
        _writer.Reset(_json);
        _writer.WriteStartObject();
        for (var k = 0; k < _keys.Length; k++) WriteField(csv, _keys[k], _slots[k]);
        if (_layout.Line) _writer.WriteNumber(CsvLayout.LineKey, line);
        if (_layout.WholeRow)
        {
            _writer.WriteStartObject(CsvLayout.RowKey);
            for (var i = 0; i < csv.FieldCount; i++) WriteField(csv, RowKey(i), i);
            _writer.WriteEndObject();
        }
        _writer.WriteEndObject();
        _writer.Flush();
    }

    private JsonEncodedText RowKey(int field)
    {
        if (field < _rowKeys.Length) return _rowKeys[field];
        // By position (or without a header): "1", "2", …
        _rowKeys = Enumerable.Range(1, Math.Max(field + 1, _fields)).Select(i => JsonEncodedText.Encode(i.ToString())).ToArray();
        return _rowKeys[field];
    }

    public IReadOnlyList<string> Keys => _fieldKeys;

    public bool TryGet(int key, out ReadOnlySpan<byte> text)
    {
        if (key < _keys.Length) return TryGetField(_csv!, _slots[key], out text);
        Utf8Formatter.TryFormat(Line, _lineText, out var written);
        text = _lineText.AsSpan(0, written);
        return true;
    }

    public void DeferJson() => _deferred = true;

    public ReadOnlyMemory<byte> Json()
    {
        if (!_written)
        {
            Write(_csv!, Line);
            _written = true;
        }
        return _json.WrittenMemory;
    }

    private void WriteField(CsvReader csv, JsonEncodedText key, int field)
    {
        if (TryGetField(csv, field, out var value)) _writer.WriteString(key, value);
        else _writer.WriteNull(key);
    }

    // A field's text, unquoted and unescaped; false when it is NULL (an unquoted null value) or the row lacks it.
    private bool TryGetField(CsvReader csv, int field, out ReadOnlySpan<byte> text)
    {
        text = default;
        if (field < 0 || field >= csv.FieldCount) return false;
        var raw = csv.GetRawSpan(field);
        var quoted = _quote is { } quote && raw.Length > 0 && raw[0] == quote;
        if (!quoted && IsNull(raw)) return false;
        text = csv.GetSpan(field);
        if (_backslash is { } escape) text = EscapedQuoteStream.Unescape(text, escape, ref _scratch);
        return true;
    }

    private bool IsNull(ReadOnlySpan<byte> raw)
    {
        foreach (var text in _nulls)
            if (raw.SequenceEqual(text)) return true;
        return false;
    }

    // Line breaks inside a row's text (quoted ones): CR LF, CR and LF each count once.
    private static int LineBreaks(ReadOnlySpan<byte> raw)
    {
        var breaks = raw.Count((byte)'\n');
        for (var i = raw.IndexOf((byte)'\r'); i >= 0; i = raw[(i + 1)..].IndexOf((byte)'\r') is var next and >= 0 ? i + 1 + next : -1)
            if (i + 1 >= raw.Length || raw[i + 1] != '\n') breaks++;
        return breaks;
    }

    /// <summary>The checkpoint's state after the row read last.</summary>
    private sealed record ResumeState(char? Delimiter, string[]? Header, int Fields, long Line);

    /// <summary>Counts the bytes read from the content.</summary>
    private sealed class CountingStream(Stream inner) : ReadOnlyStream
    {
        public long Count { get; private set; }

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Counted(await inner.ReadAsync(buffer, cancellationToken));

        private int Counted(int n)
        {
            Count += n;
            return n;
        }
    }
}
