using System.Buffers;
using System.Runtime.CompilerServices;

namespace Ingest.Engine.Formats;

/// <summary>A place in a file where a line starts outside any quoted field: a range of it may start there.</summary>
/// <param name="Offset">The byte the line starts at.</param>
/// <param name="Records">The records before it (rows of a CSV file, header and skipped rows included; values of an NDJSON file).</param>
/// <param name="Lines">The line breaks before it (CR LF, CR and LF each count once, quoted ones too).</param>
/// <param name="End">Whether it is the end of the file rather than a line start.</param>
public readonly record struct RecordBoundary(long Offset, long Records, long Lines, bool End = false);

/// <summary>
/// Finds where a file whose records end at line breaks can be cut, in one sequential pass that
/// knows quoting: a line break inside a quoted field ends nothing, which is what finding "the next
/// newline" after an offset gets wrong. It reads CSV as <see cref="Csv.CsvRecordReader"/> does: a
/// quote opens a field only at the field's start (elsewhere it is text), a doubled quote inside one
/// is a quote, an escape pairs with a quote or an escape after it, empty lines and comment lines
/// hold no record. The search jumps between the bytes that matter (vectorised), so it runs at
/// about the speed the file is read.
/// </summary>
/// <param name="quote">The quote; null when fields are not quoted.</param>
/// <param name="escape">An escape other than the doubled quote (<c>\</c>); null when there is none.</param>
/// <param name="escapesAnything">Whether the escape makes any next byte text (unquoted files: a line break too), rather than only a quote or an escape.</param>
/// <param name="delimiter">The field delimiter, which a quote must follow to open a field; null: only at a record's start.</param>
/// <param name="comment">The byte that starts a comment line; null when there are none.</param>
/// <param name="blankLines">Whether a line of spaces and tabs only holds no record (JSON), rather than a record of one field.</param>
public sealed class RecordBoundaryScanner(byte? quote, byte? escape, bool escapesAnything, byte? delimiter, byte? comment, bool blankLines)
{
    private const int BlockBytes = 1024 * 1024;
    private const byte Lf = (byte)'\n', Cr = (byte)'\r';

    private readonly byte? _quote = quote, _escape = escape, _delimiter = delimiter, _comment = comment;
    private readonly bool _escapesAnything = escapesAnything, _blankLines = blankLines;
    private readonly SearchValues<byte> _inRecord = SearchValues.Create([Lf, Cr, .. Present(quote, escape)]);
    private readonly SearchValues<byte> _inQuotes = SearchValues.Create(Present(quote, escape));

    /// <summary>
    /// Yields a boundary at the first line start at or past each multiple of <paramref name="every"/>
    /// bytes from the last one, then the end of the content.
    /// </summary>
    public async IAsyncEnumerable<RecordBoundary> ScanAsync(Stream content, long every, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BlockBytes);
        var pass = new Pass(this, every);
        var found = new List<RecordBoundary>();
        try
        {
            while (true)
            {
                var n = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
                if (n == 0) break;
                pass.Scan(buffer.AsSpan(0, n), found);
                foreach (var boundary in found) yield return boundary;
                found.Clear();
            }
            yield return pass.End();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private enum Where { LineStart, Blank, Comment, Record, Quoted }

    /// <summary>One pass over a file: where it is, what it has counted, and the byte last seen.</summary>
    private sealed class Pass(RecordBoundaryScanner scanner, long every)
    {
        private readonly long _every = every;
        private Where _where = Where.LineStart;
        private bool _quoteSeen;   // a quote inside quotes: it closes them unless a quote follows
        private bool _escapeSeen;  // an escape: the byte after it may be text
        private bool _crBefore;    // the last block ended with a CR, not yet counted
        private byte _previous = Lf;
        private long _blockStart;  // the offset of the block being scanned
        private long _records;
        private long _lines;       // before the block being scanned
        private long _next = every; // the offset the next boundary must reach

        public void Scan(ReadOnlySpan<byte> block, List<RecordBoundary> found)
        {
            var i = 0;
            // A UTF-8 byte order mark is not part of the first line's text.
            if (_blockStart == 0 && block.StartsWith("\uFEFF"u8)) i = 3;
            while (i < block.Length)
            {
                if (_escapeSeen)
                {
                    _escapeSeen = false;
                    if (scanner._escapesAnything || block[i] == scanner._escape || block[i] == scanner._quote) i++;
                    continue;
                }
                if (_quoteSeen)
                {
                    _quoteSeen = false;
                    if (block[i] == scanner._quote) { i++; continue; } // doubled: a quote in the field
                    _where = Where.Record;                              // closed
                    continue;
                }
                var b = block[i];
                switch (_where)
                {
                    case Where.LineStart:
                        if (b is Lf or Cr) { i = LineBreak(block, i, found); continue; }
                        if (b == scanner._comment) { _where = Where.Comment; i++; continue; }
                        if (scanner._blankLines && b is (byte)' ' or (byte)'\t') { _where = Where.Blank; i++; continue; }
                        _records++;
                        _where = Where.Record;
                        _previous = Lf; // the record's first field starts here
                        continue;
                    case Where.Blank:
                        if (b is (byte)' ' or (byte)'\t') { i++; continue; }
                        if (b is Lf or Cr) { i = LineBreak(block, i, found); continue; }
                        _records++;
                        _where = Where.Record;
                        continue;
                    case Where.Comment:
                    {
                        var end = block[i..].IndexOfAny(Lf, Cr);
                        if (end < 0) { i = block.Length; continue; }
                        i = LineBreak(block, i + end, found);
                        continue;
                    }
                    case Where.Record:
                    {
                        var at = block[i..].IndexOfAny(scanner._inRecord);
                        if (at < 0) { i = block.Length; continue; }
                        var j = i + at;
                        var before = j > i ? block[j - 1] : _previous;
                        var c = block[j];
                        if (c is Lf or Cr) { i = LineBreak(block, j, found); continue; }
                        if (c == scanner._escape) _escapeSeen = true;
                        else if (before == scanner._delimiter || before == Lf) _where = Where.Quoted; // a quote that opens a field
                        i = j + 1;
                        _previous = c;
                        continue;
                    }
                    case Where.Quoted:
                    {
                        var at = block[i..].IndexOfAny(scanner._inQuotes);
                        if (at < 0) { i = block.Length; continue; }
                        var j = i + at;
                        if (block[j] == scanner._escape) _escapeSeen = true;
                        else _quoteSeen = true;
                        i = j + 1;
                        continue;
                    }
                }
            }
            if (block.Length > 0 && _where != Where.Record) _previous = Lf;
            else if (block.Length > 0) _previous = block[^1];
            _lines += Lines(block, _crBefore, out _crBefore);
            _blockStart += block.Length;
        }

        /// <summary>The end of the content, with everything counted.</summary>
        public RecordBoundary End() => new(_blockStart, _records, _lines + (_crBefore ? 1 : 0), End: true);

        // A line break outside quotes ends the line (and its record); past an LF a range may start.
        private int LineBreak(ReadOnlySpan<byte> block, int at, List<RecordBoundary> found)
        {
            _where = Where.LineStart;
            if (block[at] == Lf && _blockStart + at + 1 >= _next)
            {
                var offset = _blockStart + at + 1;
                found.Add(new RecordBoundary(offset, _records, _lines + Lines(block[..(at + 1)], _crBefore, out _)));
                _next = offset + _every;
            }
            return at + 1;
        }
    }

    private static byte[] Present(params byte?[] bytes) => bytes.Where(b => b is not null).Select(b => b!.Value).ToArray();

    // Line breaks in a block: each LF, and each CR not followed by an LF. A CR ending the block is
    // counted with the next block (crAfter), which knows whether an LF follows.
    private static long Lines(ReadOnlySpan<byte> block, bool crBefore, out bool crAfter)
    {
        crAfter = false;
        long lines = block.Count(Lf);
        if (crBefore && (block.IsEmpty || block[0] != Lf)) lines++;
        for (var from = 0; from < block.Length;)
        {
            var cr = block[from..].IndexOf(Cr);
            if (cr < 0) break;
            var at = from + cr;
            if (at + 1 == block.Length) crAfter = true;
            else if (block[at + 1] != Lf) lines++;
            from = at + 1;
        }
        return lines;
    }
}
