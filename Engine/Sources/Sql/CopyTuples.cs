using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// The tuples of a binary <c>COPY … TO STDOUT</c>, as the stream carries them: each a field count
/// and its fields, each a length (−1: NULL) and its bytes. Only the boundaries are read; the values
/// are left as they are, to be written into a binary COPY of the same column types.
/// </summary>
/// <remarks>The format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).</remarks>
public sealed class CopyTuples(Stream copy)
{
    // "PGCOPY\n\377\r\n\0", then the flags and the header extension's length.
    private static ReadOnlySpan<byte> Signature => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    private byte[] _buffer = new byte[256 * 1024];
    private int _start, _end;
    private bool _eof;

    /// <summary>Each tuple (valid until the next is read) and where its field <paramref name="keyAt"/> (its length, then its bytes) starts within it (−1: NULL, or no key asked for).</summary>
    public async IAsyncEnumerable<(ReadOnlyMemory<byte> Tuple, int Key)> ReadAsync(int keyAt, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!await EnsureAsync(Signature.Length + 8, cancellationToken) || !_buffer.AsSpan(_start, Signature.Length).SequenceEqual(Signature))
            throw new InvalidDataException("not a binary COPY stream");
        var extension = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start + Signature.Length + 4));
        _start += Signature.Length + 8;
        if (!await EnsureAsync(extension, cancellationToken)) throw Truncated();
        _start += extension;
        while (true)
        {
            // Mostly the next tuple is in the buffer whole: no await per field.
            var (length, key) = Measure(_buffer.AsSpan(_start, _end - _start), keyAt);
            while (length < 0)
            {
                if (!await EnsureAsync(_end - _start + 1, cancellationToken)) throw Truncated();
                (length, key) = Measure(_buffer.AsSpan(_start, _end - _start), keyAt);
            }
            if (length == 0) yield break;
            yield return (_buffer.AsMemory(_start, length), key);
            _start += length;
        }
    }

    /// <summary>Whether field <paramref name="field"/> of a whole tuple is NULL.</summary>
    public static bool IsNull(ReadOnlySpan<byte> tuple, int field) => Measure(tuple, field).Key < 0;

    // The length of the tuple at the start of `bytes` and where its field keyAt starts (-1: NULL, or
    // none asked for); length 0 for the trailer, -1 when the tuple is not all there yet.
    private static (int Length, int Key) Measure(ReadOnlySpan<byte> bytes, int keyAt)
    {
        if (bytes.Length < 2) return (-1, -1);
        var fields = BinaryPrimitives.ReadInt16BigEndian(bytes);
        if (fields == -1) return (0, -1);
        var length = 2;
        var key = -1;
        for (var i = 0; i < fields; i++)
        {
            if (bytes.Length < length + 4) return (-1, -1);
            var size = BinaryPrimitives.ReadInt32BigEndian(bytes[length..]);
            if (i == keyAt && size >= 0) key = length;
            length += 4 + Math.Max(size, 0);
        }
        return bytes.Length < length ? (-1, -1) : (length, key);
    }

    private static InvalidDataException Truncated() => new("the binary COPY stream ended inside a tuple");

    // At least `count` bytes from _start in the buffer; false when the stream ends first.
    private async ValueTask<bool> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (_eof) return false;
            if (_buffer.Length - _start < count)
            {
                // Moved to the front, into a larger buffer when one tuple outgrows it (a big jsonb document).
                var target = count > _buffer.Length ? new byte[Math.Max(count, 2 * _buffer.Length)] : _buffer;
                _buffer.AsSpan(_start, _end - _start).CopyTo(target);
                (_buffer, _end, _start) = (target, _end - _start, 0);
            }
            var read = await copy.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (read == 0) _eof = true;
            _end += read;
        }
        return true;
    }
}
