using System.Text;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Relational;

/// <summary>
/// The rows of a sink as one array parameter per column (then the records' ordinals), for
/// <c>unnest(…)</c> in a statement (<see cref="RelationalSql.Unnest"/>). A direct load sends its
/// dimensions and surrogate lookups this way: a temporary table would be emptied at every commit
/// of the session, with every other staging table the session holds.
/// </summary>
internal static class RowArrays
{
    public static IEnumerable<NpgsqlParameter> Of(RowSink sink)
    {
        foreach (var parameter in Columns(sink, Enumerable.Range(0, sink.Table.RowTypes.Length))) yield return parameter;
        var ords = new long[sink.Held];
        for (var i = 0; i < ords.Length; i++) ords[i] = sink.Ord(i);
        yield return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = ords };
    }

    /// <summary>Only the given columns, without the ordinals.</summary>
    public static IEnumerable<NpgsqlParameter> Columns(RowSink sink, IEnumerable<int> columns)
    {
        var types = sink.Table.RowTypes;
        foreach (var c in columns)
            yield return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | TargetTable.ToDbType(types[c]), Value = Column(sink, c, types[c]) };
    }

    private static Array Column(RowSink sink, int column, ColumnType type) => type switch
    {
        ColumnType.Text or ColumnType.Jsonb => Values(sink, column, row => Encoding.UTF8.GetString(row.GetBytes(column).Span)),
        ColumnType.Bigint => Values(sink, column, row => (long?)row.GetInt64(column)),
        ColumnType.Int => Values(sink, column, row => (int?)row.GetInt64(column)),
        ColumnType.Double => Values(sink, column, row => (double?)row.GetDouble(column)),
        ColumnType.Numeric => Values(sink, column, row => (decimal?)row.GetDecimal(column)),
        ColumnType.Boolean => Values(sink, column, row => (bool?)row.GetBoolean(column)),
        ColumnType.Date => Values(sink, column, row => (DateOnly?)row.GetDate(column)),
        ColumnType.Timestamptz => Values(sink, column, row => (DateTime?)row.GetTimestamp(column)),
        _ => throw new InvalidOperationException($"unknown column type {type}"),
    };

    // A NULL stays default (null).
    private static T[] Values<T>(RowSink sink, int column, Func<MappedRow, T> value)
    {
        var values = new T[sink.Held];
        for (var i = 0; i < values.Length; i++)
            if (!sink[i].IsNull(column)) values[i] = value(sink[i]);
        return values;
    }
}
