using System.Text;

namespace Ingest.Engine.Formats.Csv;

/// <summary>
/// A file in another encoding (latin1, windows-1252, UTF-16 by its byte order mark) read as UTF-8,
/// which the CSV parser reads. The BOM is dropped. Offsets in it are offsets in the UTF-8 text, so
/// a unit in such a file resumes by decoding from the start (<see cref="IRecordFormat.Decodes"/>).
/// </summary>
internal sealed class Utf8TranscodingStream : ReadOnlyStream
{
    private const int Chars = 16 * 1024;

    private readonly StreamReader _reader;
    private readonly Encoder _encoder = new UTF8Encoding(false).GetEncoder();
    private readonly char[] _chars = new char[Chars];
    private readonly byte[] _bytes = new byte[Encoding.UTF8.GetMaxByteCount(Chars)];
    private int _start, _end;
    private bool _ended;

    /// <param name="detectBom">Whether a UTF-16 (or UTF-8) byte order mark decides the encoding.</param>
    public Utf8TranscodingStream(Stream inner, Encoding encoding, bool detectBom) =>
        _reader = new StreamReader(inner, encoding, detectBom, bufferSize: 64 * 1024, leaveOpen: false);

    public override int Read(Span<byte> buffer)
    {
        while (_start == _end && !_ended) Encode(_reader.Read(_chars));
        return Take(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_start == _end && !_ended) Encode(await _reader.ReadAsync(_chars.AsMemory(), cancellationToken));
        return Take(buffer.Span);
    }

    // A surrogate pair split between two reads is completed by the encoder on the next one.
    private void Encode(int chars)
    {
        _ended = chars == 0;
        _start = 0;
        _end = _encoder.GetBytes(_chars, 0, chars, _bytes, 0, flush: _ended);
    }

    private int Take(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _end - _start);
        _bytes.AsSpan(_start, n).CopyTo(buffer);
        _start += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _reader.Dispose();
        base.Dispose(disposing);
    }
}
