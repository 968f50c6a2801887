using System.Text.Json;
using Ingest.Contracts;

namespace Ingest.Engine.Mapping;

/// <summary>
/// Turns a JSON record into a row of column values, following each column's dotted path
/// (a numeric segment indexes an array; <c>$</c> is the whole record). A missing or null field
/// is NULL; a value that does not convert rejects the record, naming the column and why.
/// </summary>
public sealed class RecordMapper
{
    private readonly ColumnSpec[] _columns;
    private readonly string[]?[] _paths;
    private readonly bool[] _isKey;

    public RecordMapper(IReadOnlyList<ColumnSpec> columns, IReadOnlyList<string> key)
    {
        _columns = columns.ToArray();
        _paths = _columns.Select(c => c.Path == "$" ? null : c.Path.Split('.')).ToArray();
        _isKey = _columns.Select(c => key.Contains(c.Name)).ToArray();
    }

    /// <summary>The number of values in a row.</summary>
    public int Width => _columns.Length;

    /// <summary>Fills <paramref name="row"/>, or returns the column and reason that reject the record.</summary>
    public bool TryMap(JsonElement record, object?[] row, out RecordReject? reject)
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            if (!TryResolve(record, _paths[i], out var value) || value.ValueKind == JsonValueKind.Null)
            {
                if (_isKey[i])
                {
                    reject = new RecordReject(column.Name, $"key column '{column.Name}' has no value at '{column.Path}'");
                    return false;
                }
                row[i] = null;
                continue;
            }
            if (!ValueConverter.TryConvert(value, column.Type, out row[i], out var reason))
            {
                reject = new RecordReject(column.Name, $"column '{column.Name}' ({column.Type.ToSpecName()}) at '{column.Path}': {reason}");
                return false;
            }
        }
        reject = null;
        return true;
    }

    private static bool TryResolve(JsonElement record, string[]? path, out JsonElement value)
    {
        value = record;
        if (path is null) return true;
        foreach (var segment in path)
        {
            if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty(segment, out var next)) value = next;
            else if (value.ValueKind == JsonValueKind.Array && int.TryParse(segment, out var index) && index >= 0 && index < value.GetArrayLength()) value = value[index];
            else return false;
        }
        return true;
    }
}

/// <summary>Why a record was not loaded: the column whose value did not convert, and the reason.</summary>
public sealed record RecordReject(string Column, string Reason);
