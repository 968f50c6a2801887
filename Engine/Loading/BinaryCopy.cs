using System.Buffers.Binary;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Engine.Loading;

/// <summary>
/// A <c>COPY … FROM STDIN (FORMAT BINARY)</c> of <see cref="MappedRow"/>s, on the caller's
/// connection. Rows are encoded here in PostgreSQL's binary COPY format (a header; per row a field
/// count, then each field as its length and its type's binary send format) into a buffer that goes
/// out through Npgsql's raw COPY stream. Npgsql's row importer binds every value as a parameter,
/// and that took the silos a fifth of their CPU on nested loads.
/// <para>
/// Writing → Completed, or Disposed without completing: the COPY is cancelled, and the caller's
/// transaction must be rolled back.
/// </para>
/// </summary>
/// <remarks>The format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).</remarks>
public sealed class BinaryCopy : IAsyncDisposable
{
    // "PGCOPY\n\377\r\n\0", then a flags field and a header extension length, both 0.
    private static ReadOnlySpan<byte> Header => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private const int BufferBytes = 64 * 1024;
    private const byte JsonbVersion = 1;
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly int PostgresEpochDay = new DateOnly(2000, 1, 1).DayNumber;

    private readonly NpgsqlRawCopyStream _stream;
    private byte[] _buffer = new byte[BufferBytes];
    private int _used;
    private bool _done;

    private BinaryCopy(NpgsqlRawCopyStream stream)
    {
        _stream = stream;
        Header.CopyTo(_buffer);
        _used = Header.Length;
    }

    /// <summary>Rows written so far.</summary>
    public long Rows { get; private set; }

    /// <param name="connection">An open connection, inside the caller's transaction.</param>
    /// <param name="copy">The COPY statement, <c>FROM STDIN (FORMAT BINARY)</c>, with its column list.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<BinaryCopy> BeginAsync(NpgsqlConnection connection, string copy, CancellationToken cancellationToken = default) =>
        new(await connection.BeginRawBinaryCopyAsync(copy, cancellationToken));

    /// <summary>Writes a row: its columns (the first <paramref name="columns"/>, or all), then an optional <c>bigint</c> (a staging table's ordinal).</summary>
    public ValueTask WriteAsync(MappedRow row, long? ord = null, int? columns = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        var width = columns ?? row.Width;
        var size = RowSize(row, width, ord.HasValue);
        if (_buffer.Length - _used >= size)
        {
            Encode(row, width, ord);
            return ValueTask.CompletedTask;
        }
        return FlushThenWriteAsync(row, width, ord, size, cancellationToken);
    }

    private async ValueTask FlushThenWriteAsync(MappedRow row, int width, long? ord, int size, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        if (size > _buffer.Length) _buffer = new byte[size]; // one row larger than the buffer: a big jsonb document
        Encode(row, width, ord);
    }

    /// <summary>Ends the COPY; PostgreSQL's error for any row (a unique violation, say) is thrown here.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (_buffer.Length - _used < 2) await FlushAsync(cancellationToken);
        BinaryPrimitives.WriteInt16BigEndian(Reserve(2), -1); // the trailer
        await FlushAsync(cancellationToken);
        _done = true;
        await _stream.DisposeAsync();
    }

    /// <summary>Cancels the COPY if it was not completed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_done) return;
        _done = true;
        try { await _stream.CancelAsync(); }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or OperationCanceledException or IOException) { /* the transaction is rolled back anyway */ }
        await _stream.DisposeAsync();
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(_buffer.AsMemory(0, _used), cancellationToken);
        _used = 0;
    }

    private Span<byte> Reserve(int length)
    {
        var span = _buffer.AsSpan(_used, length);
        _used += length;
        return span;
    }

    private static int RowSize(MappedRow row, int width, bool ord)
    {
        var size = 2 + (ord ? 12 : 0);
        for (var i = 0; i < width; i++)
            size += 4 + (row.IsNull(i) ? 0 : row.Types[i] switch
            {
                ColumnType.Text => row.GetBytes(i).Length,
                ColumnType.Jsonb => 1 + row.GetBytes(i).Length,
                ColumnType.Bigint or ColumnType.Double or ColumnType.Timestamptz => 8,
                ColumnType.Int or ColumnType.Date => 4,
                ColumnType.Boolean => 1,
                ColumnType.Numeric => NumericSize(NumericDigits(row.GetDecimal(i), [])),
                _ => throw new InvalidOperationException($"unknown column type {row.Types[i]}"),
            });
        return size;
    }

    private void Encode(MappedRow row, int width, long? ord)
    {
        BinaryPrimitives.WriteInt16BigEndian(Reserve(2), (short)(width + (ord.HasValue ? 1 : 0)));
        for (var i = 0; i < width; i++)
        {
            if (row.IsNull(i))
            {
                BinaryPrimitives.WriteInt32BigEndian(Reserve(4), -1);
                continue;
            }
            switch (row.Types[i])
            {
                case ColumnType.Text:
                    var text = row.GetBytes(i).Span;
                    BinaryPrimitives.WriteInt32BigEndian(Reserve(4), text.Length);
                    text.CopyTo(Reserve(text.Length));
                    break;
                case ColumnType.Jsonb:
                    var json = row.GetBytes(i).Span;
                    BinaryPrimitives.WriteInt32BigEndian(Reserve(4), 1 + json.Length);
                    Reserve(1)[0] = JsonbVersion;
                    json.CopyTo(Reserve(json.Length));
                    break;
                case ColumnType.Bigint:
                    WriteInt64(row.GetInt64(i));
                    break;
                case ColumnType.Double:
                    WriteInt64(BitConverter.DoubleToInt64Bits(row.GetDouble(i)));
                    break;
                case ColumnType.Timestamptz: // microseconds since 2000-01-01 UTC
                    WriteInt64((row.GetTimestamp(i).Ticks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
                    break;
                case ColumnType.Int:
                    WriteInt32((int)row.GetInt64(i));
                    break;
                case ColumnType.Date: // days since 2000-01-01
                    WriteInt32(row.GetDate(i).DayNumber - PostgresEpochDay);
                    break;
                case ColumnType.Boolean:
                    BinaryPrimitives.WriteInt32BigEndian(Reserve(4), 1);
                    Reserve(1)[0] = row.GetBoolean(i) ? (byte)1 : (byte)0;
                    break;
                case ColumnType.Numeric:
                    WriteNumeric(row.GetDecimal(i));
                    break;
            }
        }
        if (ord is { } o) WriteInt64(o);
        Rows++;
    }

    private void WriteInt64(long value)
    {
        var span = Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
    }

    private void WriteInt32(int value)
    {
        var span = Reserve(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
    }

    // numeric's send format: digit count, weight (of the first digit, in base-10000 positions from
    // the point), sign, display scale, then the digits, each 0–9999, most significant first.
    private static int NumericSize(int digits) => 8 + 2 * digits;

    private void WriteNumeric(decimal value)
    {
        Span<short> digits = stackalloc short[NumericMaxDigits];
        var count = NumericDigits(value, digits);
        var size = NumericSize(count);
        BinaryPrimitives.WriteInt32BigEndian(Reserve(4), size);
        var target = Reserve(size);
        var scale = value.Scale;
        // The digits right of the point fill whole groups of four: ceil(scale / 4) of them.
        var weight = count - 1 - (scale + 3) / 4;
        BinaryPrimitives.WriteInt16BigEndian(target, (short)count);
        BinaryPrimitives.WriteInt16BigEndian(target[2..], (short)(count == 0 ? 0 : weight));
        BinaryPrimitives.WriteUInt16BigEndian(target[4..], decimal.IsNegative(value) && count > 0 ? (ushort)0x4000 : (ushort)0);
        BinaryPrimitives.WriteInt16BigEndian(target[6..], (short)scale);
        for (var i = 0; i < count; i++) BinaryPrimitives.WriteInt16BigEndian(target[(8 + 2 * i)..], digits[count - 1 - i]);
    }

    // A decimal's 96-bit mantissa, padded to a scale that is a multiple of 4, is under 10^32: at most 8 digits.
    private const int NumericMaxDigits = 8;

    // The base-10000 digits of |value|, least significant first (into digits, when it has room); returns their count.
    private static int NumericDigits(decimal value, Span<short> digits)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var mantissa = (UInt128)(uint)bits[2] << 64 | (UInt128)(uint)bits[1] << 32 | (uint)bits[0];
        for (var pad = (4 - value.Scale % 4) % 4; pad > 0; pad--) mantissa *= 10;
        var count = 0;
        for (; mantissa != 0; mantissa /= 10_000, count++)
            if (count < digits.Length) digits[count] = (short)(mantissa % 10_000);
        return count;
    }
}
