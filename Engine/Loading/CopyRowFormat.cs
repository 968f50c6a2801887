using System.Buffers.Binary;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Loading;

/// <summary>
/// A <see cref="MappedRow"/> in PostgreSQL's binary COPY format: a field count, then each field as
/// its length (-1 for NULL) and its type's binary send format, all big-endian; optionally a last
/// <c>bigint</c> (a staging table's ordinal).
/// </summary>
/// <remarks>The format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).</remarks>
internal static class CopyRowFormat
{
    private const byte JsonbVersion = 1;
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly int PostgresEpochDay = new DateOnly(2000, 1, 1).DayNumber;

    /// <summary>The bytes <see cref="Encode"/> writes for the row's first <paramref name="width"/> columns.</summary>
    public static int Size(MappedRow row, int width, bool ord)
    {
        var size = 2 + (ord ? 12 : 0);
        for (var i = 0; i < width; i++)
            size += 4 + (row.IsNull(i) ? 0 : row.Types[i] switch
            {
                ColumnType.Text or ColumnType.Uuid or ColumnType.Bytea => row.GetBytes(i).Length,
                ColumnType.Jsonb => 1 + row.GetBytes(i).Length,
                ColumnType.Bigint or ColumnType.Double or ColumnType.Timestamptz or ColumnType.Timestamp => 8,
                ColumnType.Int or ColumnType.Date => 4,
                ColumnType.Boolean => 1,
                ColumnType.Numeric => NumericSize(NumericDigits(row.GetDecimal(i), [])),
                _ => throw new InvalidOperationException($"unknown column type {row.Types[i]}"),
            });
        return size;
    }

    /// <summary>Writes the row's first <paramref name="width"/> columns, then <paramref name="ord"/> if given, at the start of <paramref name="target"/> (at least <see cref="Size"/> bytes).</summary>
    public static void Encode(MappedRow row, int width, long? ord, Span<byte> target)
    {
        var w = new Writer(target);
        BinaryPrimitives.WriteInt16BigEndian(w.Reserve(2), (short)(width + (ord.HasValue ? 1 : 0)));
        for (var i = 0; i < width; i++)
        {
            if (row.IsNull(i))
            {
                BinaryPrimitives.WriteInt32BigEndian(w.Reserve(4), -1);
                continue;
            }
            switch (row.Types[i])
            {
                case ColumnType.Text or ColumnType.Uuid or ColumnType.Bytea: // uuid: 16 bytes in network order, as the row holds them
                    var text = row.GetBytes(i).Span;
                    BinaryPrimitives.WriteInt32BigEndian(w.Reserve(4), text.Length);
                    text.CopyTo(w.Reserve(text.Length));
                    break;
                case ColumnType.Jsonb:
                    var json = row.GetBytes(i).Span;
                    BinaryPrimitives.WriteInt32BigEndian(w.Reserve(4), 1 + json.Length);
                    w.Reserve(1)[0] = JsonbVersion;
                    json.CopyTo(w.Reserve(json.Length));
                    break;
                case ColumnType.Bigint:
                    w.WriteInt64(row.GetInt64(i));
                    break;
                case ColumnType.Double:
                    w.WriteInt64(BitConverter.DoubleToInt64Bits(row.GetDouble(i)));
                    break;
                case ColumnType.Timestamptz: // microseconds since 2000-01-01 UTC
                    w.WriteInt64((row.GetTimestamp(i).Ticks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
                    break;
                case ColumnType.Timestamp: // microseconds since 2000-01-01, no zone
                    w.WriteInt64((row.GetLocalTimestamp(i).Ticks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
                    break;
                case ColumnType.Int:
                    w.WriteInt32((int)row.GetInt64(i));
                    break;
                case ColumnType.Date: // days since 2000-01-01
                    w.WriteInt32(row.GetDate(i).DayNumber - PostgresEpochDay);
                    break;
                case ColumnType.Boolean:
                    BinaryPrimitives.WriteInt32BigEndian(w.Reserve(4), 1);
                    w.Reserve(1)[0] = row.GetBoolean(i) ? (byte)1 : (byte)0;
                    break;
                case ColumnType.Numeric:
                    WriteNumeric(ref w, row.GetDecimal(i));
                    break;
            }
        }
        if (ord is { } o) w.WriteInt64(o);
    }

    private ref struct Writer(Span<byte> target)
    {
        private readonly Span<byte> _target = target;
        private int _used;

        public Span<byte> Reserve(int length)
        {
            var span = _target.Slice(_used, length);
            _used += length;
            return span;
        }

        public void WriteInt64(long value)
        {
            var span = Reserve(12);
            BinaryPrimitives.WriteInt32BigEndian(span, 8);
            BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
        }

        public void WriteInt32(int value)
        {
            var span = Reserve(8);
            BinaryPrimitives.WriteInt32BigEndian(span, 4);
            BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
        }
    }

    // numeric's send format: digit count, weight (of the first digit, in base-10000 positions from
    // the point), sign, display scale, then the digits, each 0–9999, most significant first.
    private static int NumericSize(int digits) => 8 + 2 * digits;

    private static void WriteNumeric(ref Writer w, decimal value)
    {
        Span<short> digits = stackalloc short[NumericMaxDigits];
        var count = NumericDigits(value, digits);
        var size = NumericSize(count);
        BinaryPrimitives.WriteInt32BigEndian(w.Reserve(4), size);
        var target = w.Reserve(size);
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
