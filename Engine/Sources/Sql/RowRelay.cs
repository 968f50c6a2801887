using System.Buffers.Binary;
using System.Globalization;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A PostgreSQL source's rows relayed into the target as PostgreSQL sent them: the binary COPY out
/// selects the target's columns, in the target's order, each already of its target type, so that
/// every tuple is a row of the target's binary COPY in, and no value is decoded, mapped or encoded.
/// It holds when every target column is a source column by name whose values the mapper would pass
/// through unchanged: the same type (<c>varchar</c> and <c>bpchar</c> as <c>text</c>), an integer
/// widened, or a type the reader takes as its text read as text (not JSON, whose <c>null</c> the
/// mapper makes NULL); and
/// when nothing else looks at the values (no rules or defaults, no content hash, no constants or
/// metadata, no formats, no nested paths, no related tables, no incremental cursor). A key range's
/// column must be one of them (its last key is the checkpoint), and not numeric.
/// </summary>
/// <param name="Expressions">The SELECT list, in the target's column order.</param>
/// <param name="KeyAt">The position of the key range's column in each tuple; −1 without a key range.</param>
public sealed record RowRelay(IReadOnlyList<string> Expressions, int KeyAt)
{
    private static readonly DateTime Epoch = new(2000, 1, 1);

    /// <summary>Whether the spec asks nothing of the values but their type (checked before the source is described).</summary>
    public static bool Fits(SourceSpec source, TargetSpec target) =>
        source.Cursor is null && !target.IsRelational && target.Dedup is null && target.Validate is null
        && target.Columns.All(c => c is { Value: null, Meta: null, Hash: null, Format: null, Field: null, Path: { } path } && path != "$" && !path.Contains('.'));

    /// <summary>The relay of a unit's rows; null when a column's type is not passed through as it is.</summary>
    public static RowRelay? For(TargetSpec target, IReadOnlyList<SourceColumn> described, KeyRange? range, SourceSql sql)
    {
        var expressions = new List<string>(target.Columns.Count);
        foreach (var column in target.Columns)
        {
            var source = described.FirstOrDefault(c => c.Name == column.Path);
            if (source is null || source.Array || Expression(column.Type, source.Type, sql.Column(source.Name)) is not { } expression) return null;
            expressions.Add(expression);
        }
        var keyAt = range is null ? -1 : target.Columns.ToList().FindIndex(c => c.Path == range.Column);
        if (range is not null && (keyAt < 0 || range.Kind == KeyKind.Numeric)) return null;
        return new RowRelay(expressions, keyAt);
    }

    // The column as its target type takes it, when that is what the mapper would make of the value the reader writes.
    private static string? Expression(ColumnType target, string type, string column) => (target, type) switch
    {
        (ColumnType.Bigint, "int8") or (ColumnType.Int, "int4") or (ColumnType.Double, "float8") or (ColumnType.Numeric, "numeric")
            or (ColumnType.Boolean, "bool") or (ColumnType.Date, "date") or (ColumnType.Timestamp, "timestamp") or (ColumnType.Timestamptz, "timestamptz")
            or (ColumnType.Uuid, "uuid") or (ColumnType.Bytea, "bytea") or (ColumnType.Text, "text" or "varchar" or "bpchar") => column,
        (ColumnType.Bigint, "int2" or "int4") => $"{column}::int8",
        (ColumnType.Int, "int2") => $"{column}::int4",
        // The reader sends these as their text (SourceSql.PostgresExpression): the same text, unquoted.
        (ColumnType.Text, _) when !PostgresReader.IsNative(type) && type is not ("numeric" or "json" or "jsonb") => $"{column}::text",
        _ => null,
    };

    /// <summary>The key range column's value in canonical text, from its field in a tuple (its length, then its bytes).</summary>
    public static string Key(KeyKind kind, ReadOnlySpan<byte> field)
    {
        var bytes = field.Slice(4, BinaryPrimitives.ReadInt32BigEndian(field));
        return kind switch
        {
            KeyKind.Integer => (bytes.Length switch
            {
                2 => BinaryPrimitives.ReadInt16BigEndian(bytes),
                4 => BinaryPrimitives.ReadInt32BigEndian(bytes),
                _ => BinaryPrimitives.ReadInt64BigEndian(bytes),
            }).ToString(CultureInfo.InvariantCulture),
            KeyKind.Date => KeyValues.Canonical(kind, DateOnly.FromDateTime(Epoch.AddDays(BinaryPrimitives.ReadInt32BigEndian(bytes)))),
            _ => KeyValues.Canonical(kind, Epoch.AddTicks(BinaryPrimitives.ReadInt64BigEndian(bytes) * TimeSpan.TicksPerMicrosecond)),
        };
    }
}
