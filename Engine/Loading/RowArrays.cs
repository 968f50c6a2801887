using System.Text;
using Ingest.Engine.Mapping;
using Ingest.Engine.Relational;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Loading;

/// <summary>
/// Rows as one array parameter per column (then the records' ordinals), for <c>unnest(…)</c> in a
/// statement (<see cref="RelationalSql.Unnest"/>, <see cref="StagedMerge.Unnest"/>). A direct load
/// sends its dimensions, surrogate lookups and repeated keys this way: a temporary table would be
/// emptied at every commit of the session, with every other staging table the session holds.
/// </summary>
internal static class RowArrays
{
    /// <summary>A sink's held rows, every column, then their ordinals.</summary>
    public static IEnumerable<NpgsqlParameter> Of(RowSink sink)
    {
        var rows = Held(sink);
        var ords = new long[rows.Length];
        for (var i = 0; i < ords.Length; i++) ords[i] = sink.Ord(i);
        return Of(rows, sink.Table.RowTypes, ords);
    }

    /// <summary>Rows, every column, then their ordinals.</summary>
    public static IEnumerable<NpgsqlParameter> Of(IReadOnlyList<MappedRow> rows, IReadOnlyList<ColumnType> types, long[] ords)
    {
        foreach (var parameter in Columns(rows, types, Enumerable.Range(0, types.Count))) yield return parameter;
        yield return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = ords };
    }

    /// <summary>Only the given columns of a sink's held rows, without the ordinals.</summary>
    public static IEnumerable<NpgsqlParameter> Columns(RowSink sink, IEnumerable<int> columns) => Columns(Held(sink), sink.Table.RowTypes, columns);

    private static IEnumerable<NpgsqlParameter> Columns(IReadOnlyList<MappedRow> rows, IReadOnlyList<ColumnType> types, IEnumerable<int> columns)
    {
        foreach (var c in columns)
            yield return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | TargetTable.ToDbType(types[c]), Value = Column(rows, c, types[c]) };
    }

    private static MappedRow[] Held(RowSink sink)
    {
        var rows = new MappedRow[sink.Held];
        for (var i = 0; i < rows.Length; i++) rows[i] = sink[i];
        return rows;
    }

    private static Array Column(IReadOnlyList<MappedRow> rows, int column, ColumnType type) => type switch
    {
        ColumnType.Text or ColumnType.Jsonb => Values(rows, column, row => Encoding.UTF8.GetString(row.GetBytes(column).Span)),
        ColumnType.Bigint => Values(rows, column, row => (long?)row.GetInt64(column)),
        ColumnType.Int => Values(rows, column, row => (int?)row.GetInt64(column)),
        ColumnType.Double => Values(rows, column, row => (double?)row.GetDouble(column)),
        ColumnType.Numeric => Values(rows, column, row => (decimal?)row.GetDecimal(column)),
        ColumnType.Boolean => Values(rows, column, row => (bool?)row.GetBoolean(column)),
        ColumnType.Date => Values(rows, column, row => (DateOnly?)row.GetDate(column)),
        ColumnType.Timestamptz => Values(rows, column, row => (DateTime?)row.GetTimestamp(column)),
        ColumnType.Timestamp => Values(rows, column, row => (DateTime?)row.GetLocalTimestamp(column)),
        ColumnType.Uuid => Values(rows, column, row => (Guid?)row.GetGuid(column)),
        ColumnType.Bytea => Values(rows, column, row => row.GetBytes(column).ToArray()),
        _ => throw new InvalidOperationException($"unknown column type {type}"),
    };

    // A NULL stays default (null).
    private static T[] Values<T>(IReadOnlyList<MappedRow> rows, int column, Func<MappedRow, T> value)
    {
        var values = new T[rows.Count];
        for (var i = 0; i < values.Length; i++)
            if (!rows[i].IsNull(column)) values[i] = value(rows[i]);
        return values;
    }
}
