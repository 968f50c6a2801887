using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Mapping;

/// <summary>
/// Turns a JSON record into a row of column values, following each column's dotted path
/// (a numeric segment indexes an array; <c>$</c> is the whole record). A missing or null field
/// is NULL; a value that does not convert rejects the record, naming the column and why.
/// <para>
/// The record is read once, token by token, straight from its UTF-8 bytes: the column paths form
/// a tree, the walk descends only into the fields some column needs, and each value is converted
/// where it stands. When a field occurs twice in one object, the last one wins.
/// </para>
/// </summary>
public sealed class RecordMapper
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    private readonly ColumnSpec[] _columns;
    private readonly bool[] _isKey;
    private readonly PathNode _root = new(null);

    public RecordMapper(IReadOnlyList<ColumnSpec> columns, IReadOnlyList<string> key)
    {
        _columns = columns.ToArray();
        _isKey = _columns.Select(c => key.Contains(c.Name)).ToArray();
        for (var i = 0; i < _columns.Length; i++)
        {
            var node = _root;
            if (_columns[i].Path != "$")
                foreach (var segment in _columns[i].Path.Split('.')) node = node.Child(segment);
            node.Columns.Add(i);
        }
    }

    /// <summary>A row buffer for this mapper's columns, to be reused record after record.</summary>
    public MappedRow CreateRow() => new(_columns.Select(c => c.Type).ToArray());

    /// <summary>Fills <paramref name="row"/> from one record's JSON, or returns the column and reason that reject the record.</summary>
    public bool TryMap(ReadOnlySpan<byte> record, MappedRow row, out RecordReject? reject)
    {
        row.Clear();
        var reader = new Utf8JsonReader(record, ReaderOptions);
        reader.Read();
        Visit(ref reader, record, _root, row);

        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            if (row.RejectReason(i) is { } reason)
            {
                reject = new RecordReject(column.Name, $"column '{column.Name}' ({column.Type.ToSpecName()}) at '{column.Path}': {reason}");
                return false;
            }
            if (_isKey[i] && row.IsNull(i))
            {
                reject = new RecordReject(column.Name, $"key column '{column.Name}' has no value at '{column.Path}'");
                return false;
            }
        }
        reject = null;
        return true;
    }

    // The reader is on the first token of the value that node's path leads to.
    private void Visit(ref Utf8JsonReader reader, ReadOnlySpan<byte> record, PathNode node, MappedRow row)
    {
        var kind = reader.TokenType;
        var start = (int)reader.TokenStartIndex;
        if (kind == JsonTokenType.StartObject && node.HasChildren)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var child = node.FindProperty(ref reader);
                reader.Read();
                if (child is null) reader.Skip();
                else Visit(ref reader, record, child, row);
            }
        }
        else if (kind == JsonTokenType.StartArray && node.HasChildren)
        {
            for (var index = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; index++)
            {
                var child = node.FindIndex(index);
                if (child is null) reader.Skip();
                else Visit(ref reader, record, child, row);
            }
        }
        else
        {
            reader.Skip();
        }

        if (node.Columns.Count == 0) return;
        var raw = record[start..(int)reader.BytesConsumed];
        // A later occurrence of the same field replaces an earlier one, including its verdict.
        foreach (var i in node.Columns)
        {
            if (kind == JsonTokenType.Null) row.SetNull(i);
            else if (!ValueConverter.TryConvert(ref reader, kind, raw, _columns[i].Type, row, i, out var reason)) row.SetRejected(i, reason!);
        }
    }

    /// <summary>One path segment: the columns whose path ends here, and the segments below it.</summary>
    private sealed class PathNode(string? segment)
    {
        private readonly List<PathNode> _children = [];
        private readonly byte[] _name = segment is null ? [] : Encoding.UTF8.GetBytes(segment);
        private readonly int _index = int.TryParse(segment, out var i) && i >= 0 ? i : -1;

        public List<int> Columns { get; } = [];

        public bool HasChildren => _children.Count > 0;

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

/// <summary>Why a record was not loaded: the column whose value did not convert, and the reason.</summary>
public sealed record RecordReject(string Column, string Reason);
