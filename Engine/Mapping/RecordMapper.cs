using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Ingest.Engine.Formats;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>
/// Turns a JSON element (a record, or an element of a nested collection) into the columns of a
/// row, following each column's dotted path (a numeric segment indexes an array; <c>$</c> is the
/// element itself). A missing or null field is NULL; a value that does not convert rejects the
/// record, naming the column and why. Columns may also hold a constant, the unit's metadata, or
/// a map element's key (<c>$key</c>) and position (<c>$index</c>).
/// <para>
/// The element is read once, token by token, straight from its UTF-8 bytes: the column paths form
/// a tree, the walk descends only into the fields some column needs, and each value is converted
/// where it stands. When a field occurs twice in one object, the last one wins. The walk also
/// notes where the nested values that other tables read (<see cref="ElementSpan"/>) lie, and hands
/// such a value to an <see cref="INestedMapper"/> where it stands when no column reads inside it.
/// </para>
/// </summary>
public sealed class RecordMapper
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    private enum Source { Path, Constant, Meta, ElementKey, ElementIndex, Hash }

    private readonly ColumnSpec[] _columns;
    private readonly Source[] _sources;
    private readonly byte[]?[] _constants;
    private readonly bool[] _isKey;
    private readonly int[] _hashFirstSpan;
    private readonly int _allSpans;
    private readonly int _offset;
    private readonly string[] _spanPaths;
    private readonly bool[] _inline;
    private readonly PathNode _root = new(null);

    /// <param name="columns">The columns this mapper fills.</param>
    /// <param name="key">The columns that must have a value, or the record is rejected.</param>
    /// <param name="offset">Where the first of <paramref name="columns"/> sits in the row (columns before it are the caller's).</param>
    /// <param name="spans">Dotted paths of the nested values other tables read, whose positions <see cref="TryMap(ReadOnlySpan{byte}, MappedRow, in ElementFacts, Span{ElementSpan}, out RecordReject?)"/> reports, in this order.</param>
    public RecordMapper(IReadOnlyList<ColumnSpec> columns, IReadOnlyList<string> key, int offset = 0, IReadOnlyList<string>? spans = null)
    {
        _columns = columns.ToArray();
        _offset = offset;
        _isKey = _columns.Select(c => key.Contains(c.Name)).ToArray();
        _sources = new Source[_columns.Length];
        _constants = new byte[]?[_columns.Length];
        _hashFirstSpan = new int[_columns.Length];
        SpanCount = spans?.Count ?? 0;
        _spanPaths = spans?.ToArray() ?? [];
        _inline = new bool[SpanCount];
        for (var s = 0; s < SpanCount; s++)
        {
            var node = Node(spans![s]);
            node.Spans.Add(s);
            if (node.Nested < 0) node.Nested = s;
        }
        // A hash column's fields are spans of the mapper's own, after the caller's.
        _allSpans = SpanCount;
        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            if (column.Hash is { } fields)
            {
                _sources[i] = Source.Hash;
                _hashFirstSpan[i] = _allSpans;
                foreach (var field in fields) Node(field).Spans.Add(_allSpans++);
            }
            else if (column.Meta is not null) _sources[i] = Source.Meta;
            else if (column.Value is not null) (_sources[i], _constants[i]) = (Source.Constant, JsonSerializer.SerializeToUtf8Bytes(column.Value));
            else if (column.Path == "$key") _sources[i] = Source.ElementKey;
            else if (column.Path == "$index") _sources[i] = Source.ElementIndex;
            else Node(column.Path!).Columns.Add(i);
        }
        // A nested value is handed over where it stands when it is the only one at its path and no
        // column reads inside it (the walk would have to descend into it too).
        for (var s = 0; s < SpanCount; s++)
        {
            var node = Node(_spanPaths[s]);
            if (node == _root || node.HasChildren || node.Spans.Count(slot => slot < SpanCount) != 1) continue;
            node.Inline = s;
            _inline[s] = true;
        }
    }

    /// <summary>How many spans <see cref="TryMap(ReadOnlySpan{byte}, MappedRow, in ElementFacts, Span{ElementSpan}, out RecordReject?)"/> reports.</summary>
    public int SpanCount { get; }

    /// <summary>
    /// Whether a walk with an <see cref="INestedMapper"/> hands the span's value to it; otherwise the
    /// caller maps it from the span after the walk.
    /// </summary>
    public bool MapsInline(int span) => span >= 0 && _inline[span];

    // A map's value is the element itself: $value is $, $value.a is a.
    private PathNode Node(string path)
    {
        if (path.StartsWith("$value", StringComparison.Ordinal)) path = path.Length == 6 ? "$" : path[7..];
        var node = _root;
        if (path != "$")
            foreach (var segment in path.Split('.')) node = node.Child(segment);
        return node;
    }

    /// <summary>A row buffer for this mapper's columns, to be reused record after record.</summary>
    public MappedRow CreateRow() => new(_columns.Select(c => c.Type).ToArray());

    /// <summary>Fills <paramref name="row"/> from one record's JSON, or returns the column and reason that reject the record.</summary>
    public bool TryMap(ReadOnlySpan<byte> record, MappedRow row, out RecordReject? reject)
    {
        row.Clear();
        return TryMap(record, row, default, default, out reject);
    }

    /// <summary>
    /// Fills this mapper's columns of <paramref name="row"/> (NULL until then) from one element,
    /// and reports in <paramref name="spans"/> where the span paths' values lie in it (length 0: absent).
    /// Returns false, with the column and reason, when the element's record must be rejected.
    /// </summary>
    public bool TryMap(ReadOnlySpan<byte> element, MappedRow row, in ElementFacts facts, Span<ElementSpan> spans, out RecordReject? reject)
    {
        var reader = new Utf8JsonReader(element, ReaderOptions);
        reader.Read();
        return TryMap(ref reader, element, row, facts, spans, null, out reject);
    }

    /// <summary>
    /// Fills this mapper's columns of <paramref name="row"/> from the element <paramref name="reader"/>
    /// is on (its first token), leaving the reader on its last token. The spans are positions in
    /// <paramref name="json"/>, the text the reader reads; the nested values <see cref="MapsInline"/>
    /// names go to <paramref name="nested"/> as the walk meets them. A nested value given twice in
    /// one object rejects the record.
    /// </summary>
    public bool TryMap(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, MappedRow row, in ElementFacts facts, Span<ElementSpan> spans,
        INestedMapper? nested, out RecordReject? reject)
    {
        Span<ElementSpan> all = _allSpans == SpanCount ? spans : stackalloc ElementSpan[_allSpans];
        all.Clear();
        reject = null;
        if (!Visit(ref reader, json, _root, row, all, nested, ref reject)) return false;
        if (_allSpans != SpanCount) all[..SpanCount].CopyTo(spans);
        return Complete(row, facts, json, all, out reject);
    }

    /// <summary>
    /// Which of <paramref name="keys"/> (a reader's <see cref="ITextFields.Keys"/>) each column reads,
    /// for <see cref="TryMap(ITextFields, int[], MappedRow, in ElementFacts, out RecordReject?)"/>; null
    /// when a column needs the record's JSON: a path that is not one of the keys, a content hash, a
    /// nested value, a jsonb or bytea column.
    /// </summary>
    public int[]? FieldSlots(IReadOnlyList<string> keys)
    {
        if (_allSpans > 0) return null;
        var names = keys.ToList();
        var slots = new int[_columns.Length];
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_sources[i] != Source.Path) continue;
            slots[i] = names.IndexOf(_columns[i].Path!);
            if (slots[i] < 0 || !ValueConverter.ReadsText(_columns[i].Type)) return null;
        }
        return slots;
    }

    /// <summary>
    /// Fills this mapper's columns of <paramref name="row"/> (NULL until then) from a record's text
    /// fields, as <see cref="TryMap(ReadOnlySpan{byte}, MappedRow, in ElementFacts, Span{ElementSpan}, out RecordReject?)"/>
    /// fills them from its JSON (each field a string, or null); <paramref name="slots"/> are <see cref="FieldSlots"/>'.
    /// </summary>
    public bool TryMap(ITextFields fields, int[] slots, MappedRow row, in ElementFacts facts, out RecordReject? reject)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_sources[i] != Source.Path) continue;
            if (!fields.TryGet(slots[i], out var text))
            {
                row.SetNull(_offset + i);
                continue;
            }
            var column = _columns[i];
            if (column.Format is { } format
                    ? !ValueConverter.TryConvertFormattedText(text, column.Type, format, row, _offset + i, out var reason)
                    : !ValueConverter.TryConvertText(text, column.Type, row, _offset + i, out reason))
                row.SetRejected(_offset + i, reason!);
        }
        return Complete(row, facts, default, default, out reject);
    }

    // The columns that do not read the element (hashes, constants, metadata), then the verdict.
    private bool Complete(MappedRow row, in ElementFacts facts, ReadOnlySpan<byte> json, ReadOnlySpan<ElementSpan> all, out RecordReject? reject)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            if (_sources[i] == Source.Hash)
            {
                var fields = all.Slice(_hashFirstSpan[i], _columns[i].Hash!.Count);
                row.SetBytes(_offset + i, Encoding.ASCII.GetBytes(ContentHash.Compute(json, fields)));
            }
            else if (_sources[i] != Source.Path && !Inject(i, facts, row, out var why))
                row.SetRejected(_offset + i, why!);
        }

        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            if (row.RejectReason(_offset + i) is { } reason)
            {
                reject = new RecordReject(column.Name, $"column '{column.Name}' ({column.Type.ToSpecName()}) {Origin(column)}: {reason}");
                return false;
            }
            if (_isKey[i] && row.IsNull(_offset + i))
            {
                reject = new RecordReject(column.Name, $"key column '{column.Name}' has no value {Origin(column)}");
                return false;
            }
        }
        reject = null;
        return true;
    }

    private static string Origin(ColumnSpec column) =>
        column.Meta is { } meta ? $"from meta '{meta}'" : column.Hash is not null ? "(the content hash)" : column.Value is { } value ? $"from value '{value}'" : $"at '{column.Path}'";

    private bool Inject(int i, in ElementFacts facts, MappedRow row, out string? reason)
    {
        Span<byte> number = stackalloc byte[24];
        scoped ReadOnlySpan<byte> json;
        switch (_sources[i])
        {
            case Source.Constant:
                json = _constants[i];
                break;
            case Source.ElementKey:
                json = facts.KeyJson;
                break;
            case Source.ElementIndex when facts.Index >= 0:
                Utf8Formatter.TryFormat(facts.Index, number, out var written);
                json = number[..written];
                break;
            case Source.Meta when _columns[i].Meta == UnitMeta.RecordIndex:
                Utf8Formatter.TryFormat(facts.RecordIndex, number, out written);
                json = number[..written];
                break;
            case Source.Meta when facts.Unit is { } unit:
                json = unit.Json(_columns[i].Meta!.Value, _columns[i].Path);
                break;
            default:
                json = default;
                break;
        }
        if (json.IsEmpty)
        {
            row.SetNull(_offset + i);
            reason = null;
            return true;
        }
        return ValueConverter.TryConvertJson(json, _columns[i].Type, row, _offset + i, out reason);
    }

    // The reader is on the first token of the value that node's path leads to; false (with the
    // nested mapper's reason) when a nested value rejects the record.
    private bool Visit(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, PathNode node, MappedRow row, scoped Span<ElementSpan> spans,
        INestedMapper? nested, ref RecordReject? reject)
    {
        var kind = reader.TokenType;
        var start = (int)reader.TokenStartIndex;
        if (node.Nested >= 0 && spans[node.Nested].Length != 0)
        {
            // Rows already made from the first occurrence cannot be taken back the way a repeated scalar is overwritten.
            var path = _spanPaths[node.Nested];
            reject = new RecordReject(path, $"'{path}' occurs twice in one object: a nested collection or dimension is read once");
            return false;
        }
        if (node.Inline >= 0 && nested is not null && kind != JsonTokenType.Null)
        {
            if (!nested.TryMapNested(node.Inline, ref reader, json, out reject)) return false;
        }
        else if (kind == JsonTokenType.StartObject && node.HasChildren)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var child = node.FindProperty(ref reader);
                reader.Read();
                if (child is null) reader.Skip();
                else if (!Visit(ref reader, json, child, row, spans, nested, ref reject)) return false;
            }
        }
        else if (kind == JsonTokenType.StartArray && node.HasChildren)
        {
            for (var index = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; index++)
            {
                var child = node.FindIndex(index);
                if (child is null) reader.Skip();
                else if (!Visit(ref reader, json, child, row, spans, nested, ref reject)) return false;
            }
        }
        else
        {
            reader.Skip();
        }

        var end = (int)reader.BytesConsumed;
        foreach (var slot in node.Spans) spans[slot] = new ElementSpan(start, end - start, kind);
        if (node.Columns.Count == 0) return true;
        var raw = json[start..end];
        // A later occurrence of the same field replaces an earlier one, including its verdict.
        foreach (var i in node.Columns)
        {
            if (kind == JsonTokenType.Null) row.SetNull(_offset + i);
            else if (_columns[i].Format is { } format
                         ? !ValueConverter.TryConvertFormatted(ref reader, kind, raw, _columns[i].Type, format, row, _offset + i, out var reason)
                         : !ValueConverter.TryConvert(ref reader, kind, raw, _columns[i].Type, row, _offset + i, out reason))
                row.SetRejected(_offset + i, reason!);
        }
        return true;
    }

    /// <summary>One path segment: the columns whose path ends here, the spans it reports, and the segments below it.</summary>
    private sealed class PathNode(string? segment)
    {
        private readonly List<PathNode> _children = [];
        private readonly byte[] _name = segment is null ? [] : Encoding.UTF8.GetBytes(segment);
        private readonly int _index = int.TryParse(segment, out var i) && i >= 0 ? i : -1;

        public List<int> Columns { get; } = [];

        /// <summary>The span slots this node's value is reported in (a path can be both a child's and a hashed field).</summary>
        public List<int> Spans { get; } = [];

        public bool HasChildren => _children.Count > 0;

        /// <summary>The first span of a nested value another table reads here; -1 for none.</summary>
        public int Nested { get; set; } = -1;

        /// <summary>The span whose value goes to the nested mapper where it stands; -1 for none.</summary>
        public int Inline { get; set; } = -1;

        public PathNode Child(string segment)
        {
            var child = _children.Find(c => c._name.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(segment)));
            if (child is null) _children.Add(child = new PathNode(segment));
            return child;
        }

        public PathNode? FindProperty(ref Utf8JsonReader name)
        {
            foreach (var child in _children)
                if (name.ValueTextEquals(child._name)) return child;
            return null;
        }

        public PathNode? FindIndex(int index)
        {
            foreach (var child in _children)
                if (child._index == index) return child;
            return null;
        }
    }
}

/// <summary>Where a nested value lies in the text the walk reads (length 0: absent), and the token it starts with.</summary>
public readonly record struct ElementSpan(int Start, int Length, JsonTokenType Kind)
{
    /// <summary>Whether the value is absent or JSON null.</summary>
    public bool IsMissing => Length == 0 || Kind == JsonTokenType.Null;
}

/// <summary>
/// What an element's injected columns read: the unit's metadata, the record's position in its
/// file, and for an element of a nested collection its map key (as a JSON string) and position.
/// </summary>
public readonly ref struct ElementFacts(UnitFacts? unit, long recordIndex, ReadOnlySpan<byte> keyJson = default, int index = -1)
{
    public UnitFacts? Unit { get; } = unit;

    public long RecordIndex { get; } = recordIndex;

    public ReadOnlySpan<byte> KeyJson { get; } = keyJson;

    public int Index { get; } = index;
}

/// <summary>Why a record was not loaded: the column whose value did not convert, and the reason.</summary>
public sealed record RecordReject(string Column, string Reason);
