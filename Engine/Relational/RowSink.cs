using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;

namespace Ingest.Engine.Relational;

/// <summary>
/// The rows of one table waiting for their COPY, each with the ordinal of the record it came
/// from (the last occurrence of a key wins). Row buffers are reused batch after batch. A sink whose
/// rows go to COPY as they are (<see cref="EncodeRecords"/>) holds only the current record's rows;
/// <see cref="EndRecord"/> encodes them.
/// </summary>
public sealed class RowSink(PlanTable table)
{
    private readonly List<MappedRow> _rows = [];
    private readonly Dictionary<int, int> _seen = [];
    private long[] _ords = new long[256];
    private EncodedRows? _encoded;

    public PlanTable Table => table;

    /// <summary>Rows taken since the last <see cref="Clear"/>, encoded or held.</summary>
    public int Count => Held + (_encoded?.Count ?? 0);

    /// <summary>Rows held as <see cref="MappedRow"/>s, which the indexer reaches: all of them, or the current record's when the sink encodes.</summary>
    public int Held { get; private set; }

    /// <summary>The rows encoded so far, when the sink encodes.</summary>
    public EncodedRows? Encoded => _encoded;

    public MappedRow this[int index] => _rows[index];

    public long Ord(int index) => _ords[index];

    /// <summary>
    /// From now on, rows are encoded for a COPY of their first <paramref name="columns"/> (then the
    /// ordinal, when <paramref name="ord"/>) when their record ends; null: rows stay held.
    /// </summary>
    public void EncodeRecords((int Columns, bool Ord)? encoding)
    {
        if (Count > 0) throw new InvalidOperationException("a sink changes how it keeps rows only when empty");
        if (encoding is not { } e) _encoded = null;
        else if (_encoded?.Layout != e) _encoded = new EncodedRows(e.Columns, e.Ord);
    }

    /// <summary>A cleared row at the end of the held rows.</summary>
    public MappedRow Add(long ord)
    {
        if (Held == _rows.Count) _rows.Add(new MappedRow(table.RowTypes, initialBytes: 64));
        if (Held == _ords.Length) Array.Resize(ref _ords, _ords.Length * 2);
        var row = _rows[Held];
        row.Clear();
        _ords[Held++] = ord;
        return row;
    }

    /// <summary>Drops the held rows after the first <paramref name="held"/> (those of a rejected record).</summary>
    public void Truncate(int held) => Held = Math.Min(Held, held);

    /// <summary>The record's rows are complete: a sink that encodes encodes them, and holds none.</summary>
    public void EndRecord()
    {
        if (_encoded is null) return;
        for (var i = 0; i < Held; i++) _encoded.Add(_rows[i], _ords[i]);
        Held = 0;
    }

    /// <summary>
    /// Drops the last row if the batch already holds an identical one: a dimension that most records
    /// reference (a "PC" platform) is then written once per batch, not once per reference.
    /// </summary>
    public void DropIfRepeated()
    {
        var last = Held - 1;
        var hash = _rows[last].ValueHash();
        // An index past Held belonged to a rejected record's row; a hash collision is told apart by comparing.
        if (_seen.TryGetValue(hash, out var earlier) && earlier < last && _rows[earlier].ValueEquals(_rows[last])) Held = last;
        else _seen[hash] = last;
    }

    public void Clear()
    {
        Held = 0;
        _encoded?.Clear();
        _seen.Clear();
    }
}
