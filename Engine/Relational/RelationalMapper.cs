using System.Text;
using System.Text.Json;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Quality;

namespace Ingest.Engine.Relational;

/// <summary>
/// Walks each record into rows for every table of a <see cref="LoadPlan"/>: the record's row,
/// a row per element of each nested collection (with its parent's key), and a row per
/// referenced dimension. A record is taken whole or not at all: when any of its rows is
/// rejected, none of them stay.
/// <para>
/// One reader goes through the record once: the table mappers hand the collections and
/// dimensions they meet back to this mapper (<see cref="INestedMapper"/>), which maps them from
/// the same reader. Only a nested value that a column also reads inside, or a dimension that is
/// the referencing element itself, is read again from its span. A parent's key may come after
/// its collections in the text, so children get it when the whole record has been read.
/// </para>
/// </summary>
public sealed class RelationalMapper : INestedMapper
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    private readonly LoadPlan _plan;
    private readonly RowSink[] _sinks;
    private readonly ElementSpan[][] _spans;
    private readonly int[] _marks;
    private readonly byte[][] _keyScratch;
    private readonly int[] _parentTable;
    private readonly List<int>[] _parentRows; // per child table: the parent's row of each of the record's rows
    private readonly bool[] _rereads; // per table: whether some nested value is read again from its span
    private readonly Frame[] _frames;
    private int _depth;

    private readonly RowValidator? _validator;
    private readonly DateTime _now;
    private QualityTally? _tally;
    private List<RuleViolation>? _violations;
    private long _ordBase;
    private UnitFacts _unit = null!;
    private long _recordIndex;
    private int _units; // units started: the current one's place in its load

    /// <param name="plan">The tables.</param>
    /// <param name="validator">Checks the root's rows, with <paramref name="now"/> for now() defaults, counting into the tally <see cref="StartUnit"/> gives.</param>
    /// <param name="sinks">Empty sinks of the plan's tables, in plan order, to reuse (<see cref="CreateSinks"/>); new ones when null.</param>
    public RelationalMapper(LoadPlan plan, RowValidator? validator = null, DateTime now = default, RowSink[]? sinks = null)
    {
        _plan = plan;
        _validator = validator;
        _now = now;
        _sinks = sinks ?? CreateSinks(plan);
        _spans = plan.Tables.Select(t => new ElementSpan[t.Mapper.SpanCount]).ToArray();
        _marks = new int[_sinks.Length];
        _keyScratch = plan.Tables.Select(_ => new byte[64]).ToArray();
        _parentTable = new int[_sinks.Length];
        _parentRows = plan.Tables.Select(_ => new List<int>()).ToArray();
        foreach (var table in plan.Tables)
        foreach (var child in table.Children)
            _parentTable[child.Table.Index] = table.Index;
        _frames = new Frame[plan.Tables.Count];
        _rereads = plan.Tables.Select(t =>
            t.References.Exists(r => !t.Mapper.MapsInline(r.Span)) || t.Children.Exists(c => !t.Mapper.MapsInline(c.Span))).ToArray();
    }

    /// <summary>The sinks, in plan order; empty them (<see cref="RowSink.Clear"/>) before another mapper reuses them.</summary>
    public IReadOnlyList<RowSink> Sinks => _sinks;

    public static RowSink[] CreateSinks(LoadPlan plan) => plan.Tables.Select(t => new RowSink(t)).ToArray();

    /// <summary>
    /// The root keys a direct load wrote, when it takes repeated keys: a record whose root key is in
    /// them already is set aside there, whole, and <see cref="TryMap"/> returns false without a reject.
    /// </summary>
    public RepeatedKeys? Repeats { get; set; }

    /// <summary>Rows waiting in all sinks.</summary>
    public int Buffered
    {
        get
        {
            var n = 0;
            foreach (var sink in _sinks) n += sink.Count;
            return n;
        }
    }

    /// <summary>What waits in all sinks: the bytes of the rows encoded, and the rows held.</summary>
    public (long EncodedBytes, int Held) Waiting
    {
        get
        {
            var (bytes, held) = (0L, 0);
            foreach (var sink in _sinks)
            {
                bytes += sink.Encoded?.Bytes ?? 0;
                held += sink.Held;
            }
            return (bytes, held);
        }
    }

    /// <summary>
    /// Starts the next unit (of a batch that may share this mapper): its rows order after every earlier
    /// unit's (a dimension key met in both keeps the later attributes), and the checks of its root
    /// rows count into <paramref name="tally"/>.
    /// </summary>
    public void StartUnit(QualityTally? tally)
    {
        _ordBase += 1L << 40; // far above any one file's record count
        _units++;
        _tally = tally;
    }

    /// <summary>
    /// Adds the rows of one record to the sinks, or none of them and says why the record is rejected
    /// (or, with no reject, that it was set aside in <see cref="Repeats"/>).
    /// </summary>
    /// <param name="violations">Collects the validation rules the root row broke, when given (a dry run).</param>
    public bool TryMap(ReadOnlySpan<byte> record, UnitFacts unit, long recordIndex, out RecordReject? reject, List<RuleViolation>? violations = null)
    {
        for (var i = 0; i < _sinks.Length; i++)
        {
            _marks[i] = _sinks[i].Held;
            _parentRows[i].Clear();
        }
        _violations = violations;
        _unit = unit;
        _recordIndex = recordIndex;
        _depth = 0;
        var reader = new Utf8JsonReader(record, ReaderOptions);
        reader.Read();
        if (MapElement(_plan.Root, ref reader, record, parentRow: -1, keyLength: 0, index: -1, out reject))
        {
            var root = _plan.Root;
            if (Repeats is { } repeats && repeats.SetAside(_sinks[root.Index][_marks[root.Index]], root.KeyColumns, _units, recordIndex, record))
            {
                for (var i = 0; i < _sinks.Length; i++) _sinks[i].Truncate(_marks[i]);
                return false;
            }
            CopyParentKeys();
            foreach (var sink in _sinks) sink.EndRecord();
            return true;
        }
        for (var i = 0; i < _sinks.Length; i++) _sinks[i].Truncate(_marks[i]);
        return false;
    }

    // The reader is on the element's first token; it is left on its last.
    private bool MapElement(PlanTable table, ref Utf8JsonReader reader, ReadOnlySpan<byte> json, int parentRow, int keyLength, int index, out RecordReject? reject)
    {
        var sink = _sinks[table.Index];
        var rowIndex = sink.Held;
        var row = sink.Add(_ordBase + _recordIndex);
        if (table.Role == TableRole.Child) _parentRows[table.Index].Add(parentRow);

        var start = (int)reader.TokenStartIndex;
        var spans = _spans[table.Index];
        _frames[_depth++] = new Frame(table, row, rowIndex, keyLength, index);
        var mapped = table.Mapper.TryMap(ref reader, json, row, Facts(table, keyLength, index), spans, this, out reject);
        _depth--;
        if (!mapped) return false;
        var element = json[start..(int)reader.BytesConsumed];
        if (table.Role == TableRole.Root && _validator is not null && !_validator.Check(row, element, _now, _tally!, out reject, _violations)) return false;

        if (_rereads[table.Index] && !MapFromSpans(table, json, element, row, rowIndex, keyLength, index, out reject)) return false;

        foreach (var reference in table.References)
        {
            if (!reference.SurrogateIsKey || !HasNull(row, reference.NaturalKeyCopies)) continue;
            var column = table.Target.Columns[reference.SurrogateColumn].Name;
            var dimension = reference.Dimension.Target;
            reject = new RecordReject(column, $"key column '{column}' has no value: the {dimension.Name} it refers to has no key ({string.Join(", ", dimension.Key)})");
            return false;
        }
        return true;
    }

    // What the walk could not hand over where it stood, read again from its span (or the element itself).
    private bool MapFromSpans(PlanTable table, ReadOnlySpan<byte> json, ReadOnlySpan<byte> element, MappedRow row, int rowIndex, int keyLength, int index,
        out RecordReject? reject)
    {
        reject = null;
        var spans = _spans[table.Index];
        foreach (var reference in table.References)
        {
            if (table.Mapper.MapsInline(reference.Span)) continue;
            var dimElement = reference.Span < 0 ? element : Slice(json, spans[reference.Span]);
            if (dimElement.IsEmpty) continue;
            var reader = new Utf8JsonReader(dimElement, ReaderOptions);
            reader.Read();
            if (!MapDimension(table, reference, ref reader, dimElement, row, Facts(table, keyLength, index), out reject)) return false;
        }
        foreach (var child in table.Children)
        {
            if (table.Mapper.MapsInline(child.Span)) continue;
            var collection = Slice(json, spans[child.Span]);
            if (collection.IsEmpty) continue;
            var reader = new Utf8JsonReader(collection, ReaderOptions);
            reader.Read();
            if (!MapCollection(child, ref reader, collection, rowIndex, out reject)) return false;
        }
        return true;
    }

    private static bool HasNull(MappedRow row, int[] columns)
    {
        foreach (var column in columns)
            if (row.IsNull(column)) return true;
        return false;
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> json, ElementSpan span) => span.IsMissing ? default : json.Slice(span.Start, span.Length);

    bool INestedMapper.TryMapNested(int span, ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out RecordReject? reject)
    {
        var frame = _frames[_depth - 1];
        foreach (var child in frame.Table.Children)
            if (child.Span == span) return MapCollection(child, ref reader, json, frame.RowIndex, out reject);
        foreach (var reference in frame.Table.References)
            if (reference.Span == span) return MapDimension(frame.Table, reference, ref reader, json, frame.Row, Facts(frame.Table, frame.KeyLength, frame.Index), out reject);
        throw new InvalidOperationException($"{frame.Table.Target.Name} has no nested value at span {span}");
    }

    // The reader is on the dimension's element; a null natural key makes no dimension row and leaves the reference NULL.
    private bool MapDimension(PlanTable table, PlanReference reference, ref Utf8JsonReader reader, ReadOnlySpan<byte> json, MappedRow row,
        in ElementFacts facts, out RecordReject? reject)
    {
        var dimension = reference.Dimension;
        var sink = _sinks[dimension.Index];
        var dimRow = sink.Add(_ordBase + _recordIndex);
        if (!dimension.Mapper.TryMap(ref reader, json, dimRow, facts, default, null, out var why))
        {
            reject = new RecordReject(why!.Column, $"{dimension.Target.Name}: {why.Reason}");
            return false;
        }
        reject = null;
        if (HasNull(dimRow, dimension.KeyColumns))
        {
            sink.Truncate(sink.Held - 1);
            return true;
        }
        for (var k = 0; k < reference.NaturalKeyCopies.Length; k++)
            dimRow.CopyTo(dimension.KeyColumns[k], row, reference.NaturalKeyCopies[k]);
        sink.DropIfRepeated();
        return true;
    }

    // The reader is on the collection's first token; it is left on its last.
    private bool MapCollection(PlanChild child, ref Utf8JsonReader reader, ReadOnlySpan<byte> json, int parentRow, out RecordReject? reject)
    {
        var kind = reader.TokenType;
        if (kind is not (JsonTokenType.StartArray or JsonTokenType.StartObject))
        {
            reject = new RecordReject(child.Table.Target.Name, $"{child.Table.Target.Name}: '{child.Path}' holds a {kind}, not an array or an object");
            return false;
        }
        for (var index = 0; reader.Read() && reader.TokenType is not (JsonTokenType.EndArray or JsonTokenType.EndObject); index++)
        {
            var keyLength = 0;
            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                // The property name, still escaped as written, quoted again: a JSON string.
                keyLength = reader.ValueSpan.Length + 2;
                ref var scratch = ref _keyScratch[child.Table.Index];
                if (scratch.Length < keyLength) Array.Resize(ref scratch, Math.Max(keyLength, scratch.Length * 2));
                scratch[0] = (byte)'"';
                reader.ValueSpan.CopyTo(scratch.AsSpan(1));
                scratch[keyLength - 1] = (byte)'"';
                reader.Read();
            }
            if (!MapElement(child.Table, ref reader, json, parentRow, keyLength, index, out var why))
            {
                var at = keyLength == 0 ? $"[{index}]" : $"[{Encoding.UTF8.GetString(_keyScratch[child.Table.Index].AsSpan(0, keyLength))}]";
                reject = new RecordReject(why!.Column, $"{child.Path}{at}: {why.Reason}");
                return false;
            }
        }
        reject = null;
        return true;
    }

    // Each child row gets its parent's key columns, parents first: a grandchild's parent key includes its grandparent's.
    private void CopyParentKeys()
    {
        foreach (var table in _plan.Descendants)
        {
            var parentRows = _parentRows[table.Index];
            var parent = _plan.Tables[_parentTable[table.Index]];
            var sink = _sinks[table.Index];
            var parentSink = _sinks[parent.Index];
            for (var i = 0; i < parentRows.Count; i++)
            {
                var row = sink[_marks[table.Index] + i];
                var parentRow = parentSink[parentRows[i]];
                for (var k = 0; k < table.ParentKeyWidth; k++) parentRow.CopyTo(parent.KeyColumns[k], row, k);
            }
        }
    }

    private ElementFacts Facts(PlanTable table, int keyLength, int index) =>
        new(_unit, _recordIndex, _keyScratch[table.Index].AsSpan(0, keyLength), index);

    /// <summary>An element being mapped: the walk hands its nested values back to it.</summary>
    private readonly record struct Frame(PlanTable Table, MappedRow Row, int RowIndex, int KeyLength, int Index);
}
