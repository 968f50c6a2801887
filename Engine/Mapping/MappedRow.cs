using System.Text;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>
/// One row of column values, as the record mapper produces it and the COPY writer consumes it
/// (or, for a column whose value did not convert, the reason).
/// Values are kept unboxed, and text and JSON as UTF-8 bytes in one buffer the row reuses, so
/// mapping a record allocates nothing once the buffer has grown to the largest record.
/// </summary>
public sealed class MappedRow
{
    private struct Cell
    {
        public bool HasValue;
        public long Integer;   // bigint, int, boolean (0/1), date (day number), timestamptz (UTC ticks)
        public double Double;
        public decimal Decimal;
        public int Start, Length; // text and jsonb, in _bytes
        public string? Rejected;  // why the value did not convert
    }

    private readonly Cell[] _cells;
    private byte[] _bytes;
    private int _used;

    public MappedRow(IReadOnlyList<ColumnType> types, int initialBytes = 1024)
    {
        Types = types.ToArray();
        _cells = new Cell[Types.Length];
        _bytes = new byte[initialBytes];
    }

    /// <summary>The column types, in spec order.</summary>
    public ColumnType[] Types { get; }

    public int Width => _cells.Length;

    public bool IsNull(int column) => !_cells[column].HasValue;

    public long GetInt64(int column) => _cells[column].Integer;

    public double GetDouble(int column) => _cells[column].Double;

    public decimal GetDecimal(int column) => _cells[column].Decimal;

    public bool GetBoolean(int column) => _cells[column].Integer != 0;

    public DateOnly GetDate(int column) => DateOnly.FromDayNumber((int)_cells[column].Integer);

    public DateTime GetTimestamp(int column) => new(_cells[column].Integer, DateTimeKind.Utc);

    /// <summary>The UTF-8 bytes of a text or jsonb value; valid until the row is cleared.</summary>
    public ReadOnlyMemory<byte> GetBytes(int column) => _bytes.AsMemory(_cells[column].Start, _cells[column].Length);

    /// <summary>The value as the CLR type Npgsql would read back (text and jsonb as string); null when NULL.</summary>
    public object? this[int column] => IsNull(column) ? null : Types[column] switch
    {
        ColumnType.Text or ColumnType.Jsonb => Encoding.UTF8.GetString(GetBytes(column).Span),
        ColumnType.Bigint => GetInt64(column),
        ColumnType.Int => (int)GetInt64(column),
        ColumnType.Double => GetDouble(column),
        ColumnType.Numeric => GetDecimal(column),
        ColumnType.Boolean => GetBoolean(column),
        ColumnType.Date => GetDate(column),
        ColumnType.Timestamptz => GetTimestamp(column),
        _ => throw new InvalidOperationException($"unknown column type {Types[column]}"),
    };

    /// <summary>Sets every column to NULL and frees the byte buffer for the next record.</summary>
    public void Clear()
    {
        Array.Clear(_cells);
        _used = 0;
    }

    /// <summary>Why the column's value did not convert; null when it did (or is NULL).</summary>
    public string? RejectReason(int column) => _cells[column].Rejected;

    internal void SetNull(int column) => _cells[column] = default;

    internal void SetRejected(int column, string reason) => _cells[column] = new Cell { Rejected = reason };

    internal void SetInteger(int column, long value) => _cells[column] = new Cell { HasValue = true, Integer = value };

    internal void SetDouble(int column, double value) => _cells[column] = new Cell { HasValue = true, Double = value };

    internal void SetDecimal(int column, decimal value) => _cells[column] = new Cell { HasValue = true, Decimal = value };

    /// <summary>Room for a byte value of at most <paramref name="maxLength"/> bytes; then <see cref="CommitBytes"/>.</summary>
    internal Span<byte> ReserveBytes(int maxLength)
    {
        if (_bytes.Length - _used < maxLength)
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + maxLength));
        return _bytes.AsSpan(_used, maxLength);
    }

    /// <summary>Makes the first <paramref name="length"/> reserved bytes the column's value.</summary>
    internal void CommitBytes(int column, int length)
    {
        _cells[column] = new Cell { HasValue = true, Start = _used, Length = length };
        _used += length;
    }

    internal void SetBytes(int column, ReadOnlySpan<byte> value)
    {
        value.CopyTo(ReserveBytes(value.Length));
        CommitBytes(column, value.Length);
    }

    /// <summary>Copies one column's value (or NULL) into a column of another row, whose type must be the same.</summary>
    public void CopyTo(int column, MappedRow target, int targetColumn)
    {
        var cell = _cells[column];
        if (cell.HasValue && Types[column] is ColumnType.Text or ColumnType.Jsonb)
            target.SetBytes(targetColumn, _bytes.AsSpan(cell.Start, cell.Length));
        else
            target._cells[targetColumn] = cell;
    }

    /// <summary>A hash of every column's value, consistent with <see cref="ValueEquals"/>.</summary>
    public int ValueHash()
    {
        var hash = new HashCode();
        foreach (var cell in _cells)
        {
            hash.Add(cell.HasValue);
            hash.Add(cell.Integer);
            hash.Add(cell.Double);
            hash.Add(cell.Decimal);
            hash.AddBytes(_bytes.AsSpan(cell.Start, cell.Length));
        }
        return hash.ToHashCode();
    }

    /// <summary>Whether both rows hold the same values (rows of the same layout).</summary>
    public bool ValueEquals(MappedRow other)
    {
        for (var i = 0; i < _cells.Length; i++)
        {
            ref readonly var a = ref _cells[i];
            ref readonly var b = ref other._cells[i];
            if (a.HasValue != b.HasValue || a.Integer != b.Integer || !a.Double.Equals(b.Double) || a.Decimal != b.Decimal || a.Rejected != b.Rejected
                || !_bytes.AsSpan(a.Start, a.Length).SequenceEqual(other._bytes.AsSpan(b.Start, b.Length)))
                return false;
        }
        return true;
    }

    /// <summary>A copy that owns its bytes (the benchmark keeps rows to COPY them later).</summary>
    public MappedRow Clone()
    {
        var copy = new MappedRow(Types) { _bytes = _bytes[.._used], _used = _used };
        _cells.CopyTo(copy._cells, 0);
        return copy;
    }
}
