using System.Text;
using System.Text.Json;
using Ingest.Engine.Mapping;
using Ingest.Engine.Quality;

namespace Ingest.Engine.Relational;

/// <summary>
/// Walks each record into rows for every table of a <see cref="LoadPlan"/>: the record's row,
/// a row per element of each nested collection (with its parent's key), and a row per
/// referenced dimension. A record is taken whole or not at all: when any of its rows is
/// rejected, none of them stay.
/// </summary>
public sealed class RelationalMapper
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    private readonly LoadPlan _plan;
    private readonly RowSink[] _sinks;
    private readonly ElementSpan[][] _spans;
    private readonly int[] _marks;
    private readonly byte[][] _keyScratch;

    private readonly RowValidator? _validator;
    private readonly DateTime _now;
    private QualityTally? _tally;
    private List<RuleViolation>? _violations;
    private long _ordBase;

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
    }

    /// <summary>The sinks, in plan order; empty them (<see cref="RowSink.Clear"/>) before another mapper reuses them.</summary>
    public IReadOnlyList<RowSink> Sinks => _sinks;

    public static RowSink[] CreateSinks(LoadPlan plan) => plan.Tables.Select(t => new RowSink(t)).ToArray();

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

    /// <summary>
    /// Starts the next unit (of a batch that may share this mapper): its rows order after every earlier
    /// unit's (a dimension key met in both keeps the later attributes), and the checks of its root
    /// rows count into <paramref name="tally"/>.
    /// </summary>
    public void StartUnit(QualityTally? tally)
    {
        _ordBase += 1L << 40; // far above any one file's record count
        _tally = tally;
    }

    /// <summary>Adds the rows of one record to the sinks, or none of them and says why the record is rejected.</summary>
    /// <param name="violations">Collects the validation rules the root row broke, when given (a dry run).</param>
    public bool TryMap(ReadOnlySpan<byte> record, UnitFacts unit, long recordIndex, out RecordReject? reject, List<RuleViolation>? violations = null)
    {
        for (var i = 0; i < _sinks.Length; i++) _marks[i] = _sinks[i].Count;
        _violations = violations;
        if (MapElement(_plan.Root, record, null, null, unit, recordIndex, default, -1, out reject)) return true;
        for (var i = 0; i < _sinks.Length; i++) _sinks[i].Truncate(_marks[i]);
        return false;
    }

    private bool MapElement(PlanTable table, ReadOnlySpan<byte> element, PlanTable? parent, MappedRow? parentRow, UnitFacts unit, long recordIndex,
        ReadOnlySpan<byte> keyJson, int index, out RecordReject? reject)
    {
        var row = _sinks[table.Index].Add(_ordBase + recordIndex);
        // The parent's key columns, wherever they sit in its row, lead the child's row.
        for (var k = 0; k < table.ParentKeyWidth; k++) parentRow!.CopyTo(parent!.KeyColumns[k], row, k);

        var spans = _spans[table.Index];
        if (!table.Mapper.TryMap(element, row, new ElementFacts(unit, recordIndex, keyJson, index), spans, out reject)) return false;
        if (parent is null && _validator is not null && !_validator.Check(row, element, _now, _tally!, out reject, _violations)) return false;

        foreach (var reference in table.References)
        {
            if (!MapReference(table, reference, element, spans, row, new ElementFacts(unit, recordIndex, keyJson, index), out reject)) return false;
        }

        foreach (var child in table.Children)
        {
            var span = spans[child.Span];
            if (span.IsMissing) continue;
            if (!MapCollection(child, element.Slice(span.Start, span.Length), table, row, unit, recordIndex, out reject)) return false;
        }
        return true;
    }

    private bool MapReference(PlanTable table, PlanReference reference, ReadOnlySpan<byte> element, ElementSpan[] spans, MappedRow row,
        in ElementFacts facts, out RecordReject? reject)
    {
        reject = null;
        var dimension = reference.Dimension;
        var dimElement = element;
        if (reference.Span >= 0)
        {
            var span = spans[reference.Span];
            dimElement = span.IsMissing ? default : element.Slice(span.Start, span.Length);
        }
        var sink = _sinks[dimension.Index];
        var hasKey = false;
        if (!dimElement.IsEmpty)
        {
            var dimRow = sink.Add(_ordBase + facts.RecordIndex);
            if (!dimension.Mapper.TryMap(dimElement, dimRow, facts, default, out var why))
            {
                reject = new RecordReject(why!.Column, $"{dimension.Target.Name}: {why.Reason}");
                return false;
            }
            hasKey = Array.TrueForAll(dimension.KeyColumns, k => !dimRow.IsNull(k));
            if (!hasKey) sink.Truncate(sink.Count - 1); // a null natural key: no dimension row, and the reference is NULL
            else
            {
                for (var k = 0; k < reference.NaturalKeyCopies.Length; k++)
                    dimRow.CopyTo(dimension.KeyColumns[k], row, reference.NaturalKeyCopies[k]);
                sink.DropIfRepeated();
            }
        }
        if (!hasKey && reference.SurrogateIsKey)
        {
            var column = table.Target.Columns[reference.SurrogateColumn].Name;
            reject = new RecordReject(column, $"key column '{column}' has no value: the {dimension.Target.Name} it refers to has no key ({string.Join(", ", dimension.Target.Key)})");
            return false;
        }
        return true;
    }

    private bool MapCollection(PlanChild child, ReadOnlySpan<byte> collection, PlanTable parent, MappedRow parentRow, UnitFacts unit, long recordIndex, out RecordReject? reject)
    {
        var reader = new Utf8JsonReader(collection, ReaderOptions);
        reader.Read();
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
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            var item = collection[start..(int)reader.BytesConsumed];
            var keyJson = _keyScratch[child.Table.Index].AsSpan(0, keyLength);
            if (!MapElement(child.Table, item, parent, parentRow, unit, recordIndex, keyJson, index, out var why))
            {
                var at = keyLength == 0 ? $"[{index}]" : $"[{Encoding.UTF8.GetString(keyJson)}]";
                reject = new RecordReject(why!.Column, $"{child.Path}{at}: {why.Reason}");
                return false;
            }
        }
        reject = null;
        return true;
    }
}
