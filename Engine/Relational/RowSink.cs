using Ingest.Engine.Mapping;

namespace Ingest.Engine.Relational;

/// <summary>
/// The rows of one table waiting for their COPY, each with the ordinal of the record it came
/// from (the last occurrence of a key wins). Row buffers are reused batch after batch.
/// </summary>
public sealed class RowSink(PlanTable table)
{
    private readonly List<MappedRow> _rows = [];
    private readonly Dictionary<int, int> _seen = [];
    private long[] _ords = new long[256];

    public PlanTable Table => table;

    public int Count { get; private set; }

    public MappedRow this[int index] => _rows[index];

    public long Ord(int index) => _ords[index];

    /// <summary>A cleared row at the end of the batch.</summary>
    public MappedRow Add(long ord)
    {
        if (Count == _rows.Count) _rows.Add(new MappedRow(table.RowTypes, initialBytes: 64));
        if (Count == _ords.Length) Array.Resize(ref _ords, _ords.Length * 2);
        var row = _rows[Count];
        row.Clear();
        _ords[Count++] = ord;
        return row;
    }

    /// <summary>Drops the rows after the first <paramref name="count"/> (those of a rejected record).</summary>
    public void Truncate(int count) => Count = Math.Min(Count, count);

    /// <summary>
    /// Drops the last row if the batch already holds an identical one: a dimension that most records
    /// reference (a "PC" platform) is then written once per batch, not once per reference.
    /// </summary>
    public void DropIfRepeated()
    {
        var last = Count - 1;
        var hash = _rows[last].ValueHash();
        // An index past Count belonged to a rejected record's row; a hash collision is told apart by comparing.
        if (_seen.TryGetValue(hash, out var earlier) && earlier < last && _rows[earlier].ValueEquals(_rows[last])) Count = last;
        else _seen[hash] = last;
    }

    public void Clear()
    {
        Count = 0;
        _seen.Clear();
    }
}
