namespace Ingest.Engine.Formats.Csv;

/// <summary>
/// Lets the RFC 4180 parser read files that escape a quote with a backslash (<c>\"</c>) instead of
/// doubling it, as MySQL's and PostgreSQL's <c>ESCAPE '\'</c> exports do: each escape pair
/// becomes the doubled quote the parser reads (<c>\"</c> → <c>""</c>), and an escaped escape
/// (<c>\\</c>) is left as it is and turned into one character in the field's value
/// (<see cref="Unescape"/>). Nothing here finds fields or records; pairs are read left to right,
/// so <c>\\"</c> is an escaped backslash before a closing quote. Every byte stays where it was, so
/// the parser's offsets are the file's.
/// </summary>
internal sealed class EscapedQuoteStream(Stream inner, byte escape, byte quote) : ReadOnlyStream
{
    // An escape that ended the last read: its pair's second byte has not been read yet.
    private bool _held;

    /// <summary>A field's value with each escaped escape made one (<c>\\</c> → <c>\</c>); the same span when it has none.</summary>
    public static ReadOnlySpan<byte> Unescape(ReadOnlySpan<byte> value, byte escape, ref byte[]? scratch)
    {
        var first = value.IndexOf(escape);
        if (first < 0) return value;
        if (scratch is null || scratch.Length < value.Length) scratch = new byte[Math.Max(value.Length, 256)];
        value[..first].CopyTo(scratch);
        var n = first;
        for (var i = first; i < value.Length; i++)
        {
            scratch[n++] = value[i];
            if (value[i] == escape && i + 1 < value.Length && value[i + 1] == escape) i++;
        }
        return scratch.AsSpan(0, n);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        var start = Hold(buffer);
        return Rewrite(buffer, start + inner.Read(buffer[start..]), start);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        var start = Hold(buffer.Span);
        var length = start + await inner.ReadAsync(buffer[start..], cancellationToken);
        return Rewrite(buffer.Span, length, start);
    }

    // Puts a held escape back at the start of the buffer.
    private int Hold(Span<byte> buffer)
    {
        if (!_held) return 0;
        _held = false;
        buffer[0] = escape;
        return 1;
    }

    private int Rewrite(Span<byte> buffer, int length, int held)
    {
        if (length == held) return length; // the end: a last lone escape stays as it is
        var i = 0;
        while (i < length)
        {
            var next = buffer[i..length].IndexOf(escape);
            if (next < 0) break;
            i += next;
            if (i + 1 == length)
            {
                // Its pair's second byte is in the next read (a buffer of one byte can only pass it on).
                if (length == 1) return 1;
                _held = true;
                return length - 1;
            }
            if (buffer[i + 1] == quote) buffer[i] = quote;
            i += 2;
        }
        return length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}
