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
    // 16 bytes a column: a relational load buffers tens of thousands of rows per table.
    private struct Cell
    {
        public bool HasValue;
        public long Value; // bigint, int, boolean (0/1), date (day number), timestamptz (UTC ticks), timestamp (ticks), double (its bits), text, jsonb, uuid and bytea (start << 32 | length in _bytes)
    }

    private readonly Cell[] _cells;
    private decimal[]? _decimals; // numeric values, for rows that have them
    private string?[]? _rejected; // why a value did not convert, once one did not
    private byte[] _bytes;
    private int _used;

    /// <param name="types">The column types; the row keeps the array, which must not change.</param>
    /// <param name="initialBytes">Room for text and jsonb values; it grows as needed.</param>
    public MappedRow(ColumnType[] types, int initialBytes = 1024)
    {
        Types = types;
        _cells = new Cell[Types.Length];
        _bytes = new byte[initialBytes];
    }

    /// <summary>The column types, in spec order.</summary>
    public ColumnType[] Types { get; }

    public int Width => _cells.Length;

    public bool IsNull(int column) => !_cells[column].HasValue;

    public long GetInt64(int column) => _cells[column].Value;

    public double GetDouble(int column) => BitConverter.Int64BitsToDouble(_cells[column].Value);

    public decimal GetDecimal(int column) => _decimals![column];

    public bool GetBoolean(int column) => _cells[column].Value != 0;

    public DateOnly GetDate(int column) => DateOnly.FromDayNumber((int)_cells[column].Value);

    public DateTime GetTimestamp(int column) => new(_cells[column].Value, DateTimeKind.Utc);

    /// <summary>A timestamp without time zone: its wall-clock time.</summary>
    public DateTime GetLocalTimestamp(int column) => new(_cells[column].Value, DateTimeKind.Unspecified);

    /// <summary>A uuid's 16 bytes, big-endian (RFC 4122 order, as PostgreSQL sends them).</summary>
    public Guid GetGuid(int column) => new(GetBytes(column).Span, bigEndian: true);

    /// <summary>The UTF-8 bytes of a text or jsonb value, a uuid's 16 bytes or a bytea's; valid until the row is cleared.</summary>
    public ReadOnlyMemory<byte> GetBytes(int column) => _bytes.AsMemory(Start(_cells[column]), Length(_cells[column]));

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
        ColumnType.Timestamp => GetLocalTimestamp(column),
        ColumnType.Uuid => GetGuid(column),
        ColumnType.Bytea => GetBytes(column).ToArray(),
        _ => throw new InvalidOperationException($"unknown column type {Types[column]}"),
    };

    /// <summary>Sets every column to NULL and frees the byte buffer for the next record.</summary>
    public void Clear()
    {
        Array.Clear(_cells);
        if (_rejected is not null) Array.Clear(_rejected);
        _used = 0;
    }

    /// <summary>Why the column's value did not convert; null when it did (or is NULL).</summary>
    public string? RejectReason(int column) => _rejected?[column];

    internal void SetNull(int column) => Set(column, default);

    internal void SetRejected(int column, string reason)
    {
        _cells[column] = default;
        (_rejected ??= new string?[Width])[column] = reason;
    }

    internal void SetInteger(int column, long value) => Set(column, new Cell { HasValue = true, Value = value });

    internal void SetDouble(int column, double value) => SetInteger(column, BitConverter.DoubleToInt64Bits(value));

    internal void SetDecimal(int column, decimal value)
    {
        (_decimals ??= new decimal[Width])[column] = value;
        Set(column, new Cell { HasValue = true });
    }

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
        Set(column, new Cell { HasValue = true, Value = (long)_used << 32 | (uint)length });
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
        if (!cell.HasValue) target.SetNull(targetColumn);
        else if (Types[column].IsBytes()) target.SetBytes(targetColumn, Bytes(cell));
        else if (Types[column] is ColumnType.Numeric) target.SetDecimal(targetColumn, _decimals![column]);
        else target.Set(targetColumn, cell);
    }

    // A value (or NULL) replaces the column's earlier value and verdict: a field given twice takes the last.
    private void Set(int column, Cell cell)
    {
        _cells[column] = cell;
        if (_rejected is not null) _rejected[column] = null;
    }

    private static int Start(Cell cell) => (int)(cell.Value >> 32);

    private static int Length(Cell cell) => (int)(uint)cell.Value;

    private ReadOnlySpan<byte> Bytes(Cell cell) => _bytes.AsSpan(Start(cell), Length(cell));

    /// <summary>A hash of every column's value, consistent with <see cref="ValueEquals"/>.</summary>
    public int ValueHash()
    {
        var hash = new HashCode();
        for (var i = 0; i < _cells.Length; i++)
        {
            var cell = _cells[i];
            hash.Add(cell.HasValue);
            if (!cell.HasValue) continue;
            if (Types[i].IsBytes()) hash.AddBytes(Bytes(cell));
            else if (Types[i] is ColumnType.Numeric) hash.Add(_decimals![i]);
            else hash.Add(cell.Value);
        }
        return hash.ToHashCode();
    }

    /// <summary>Whether both rows hold the same values (rows of the same layout).</summary>
    public bool ValueEquals(MappedRow other)
    {
        for (var i = 0; i < _cells.Length; i++)
        {
            var (a, b) = (_cells[i], other._cells[i]);
            if (a.HasValue != b.HasValue || RejectReason(i) != other.RejectReason(i)) return false;
            if (!a.HasValue) continue;
            var same = Types[i] switch
            {
                ColumnType.Text or ColumnType.Jsonb or ColumnType.Uuid or ColumnType.Bytea => Bytes(a).SequenceEqual(other.Bytes(b)),
                ColumnType.Numeric => _decimals![i] == other._decimals![i],
                _ => a.Value == b.Value,
            };
            if (!same) return false;
        }
        return true;
    }

    /// <summary>A copy that owns its bytes (the benchmark keeps rows to COPY them later).</summary>
    public MappedRow Clone()
    {
        var copy = new MappedRow(Types, initialBytes: 0) { _bytes = _bytes[.._used], _used = _used, _decimals = _decimals?.ToArray(), _rejected = _rejected?.ToArray() };
        _cells.CopyTo(copy._cells, 0);
        return copy;
    }
}
