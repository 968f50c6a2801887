using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Engine.Relational;

/// <summary>
/// The surrogates of the natural keys one direct flush merged into a surrogate dimension, read back
/// in one statement, so that the rows referencing them go by COPY with their surrogate filled in:
/// an <c>INSERT … SELECT … JOIN</c> of those rows cost PostgreSQL about twice what their COPY does.
/// A key that is not there, or that has a NULL part, gives NULL (as the join would).
/// </summary>
internal sealed class SurrogateLookup
{
    private readonly Dictionary<NaturalKey, long> _surrogates = [];

    private SurrogateLookup()
    {
    }

    /// <summary>
    /// Whether the dimension's natural key compares in .NET as in PostgreSQL: not jsonb (compared by
    /// meaning there), nor timestamps (rounded to microseconds there), nor uuid and bytea (read back as other types).
    /// </summary>
    public static bool Supports(PlanTable dimension) => dimension.KeyColumns.All(c => dimension.RowTypes[c] is not
        (ColumnType.Jsonb or ColumnType.Timestamptz or ColumnType.Timestamp or ColumnType.Uuid or ColumnType.Bytea));

    /// <summary>Reads the surrogates of the keys in the dimension's sink, after they were merged.</summary>
    public static async Task<SurrogateLookup> ReadAsync(NpgsqlConnection connection, RowSink sink, CancellationToken cancellationToken)
    {
        var dimension = sink.Table;
        var lookup = new SurrogateLookup();
        await using var cmd = new NpgsqlCommand(RelationalSql.Surrogates(dimension), connection);
        cmd.Parameters.AddRange(RowArrays.Columns(sink, dimension.KeyColumns).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var width = dimension.KeyColumns.Length;
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = new object[width];
            for (var i = 0; i < width; i++) values[i] = Read(reader, i, dimension.RowTypes[dimension.KeyColumns[i]]);
            lookup._surrogates[new NaturalKey(values)] = reader.GetInt64(width);
        }
        return lookup;
    }

    /// <summary>Sets the reference's surrogate column from the row's copy of the natural key.</summary>
    public void Fill(MappedRow row, PlanReference reference)
    {
        var copies = reference.NaturalKeyCopies;
        var values = new object[copies.Length];
        for (var i = 0; i < copies.Length; i++)
        {
            if (row[copies[i]] is not { } value)
            {
                row.SetNull(reference.SurrogateColumn);
                return;
            }
            values[i] = value;
        }
        if (_surrogates.TryGetValue(new NaturalKey(values), out var surrogate)) row.SetInteger(reference.SurrogateColumn, surrogate);
        else row.SetNull(reference.SurrogateColumn);
    }

    // As the row's indexer gives the value (MappedRow[i]): a date as DateOnly.
    private static object Read(NpgsqlDataReader reader, int ordinal, ColumnType type) => type switch
    {
        ColumnType.Text => reader.GetString(ordinal),
        ColumnType.Bigint => reader.GetInt64(ordinal),
        ColumnType.Int => reader.GetInt32(ordinal),
        ColumnType.Double => reader.GetDouble(ordinal),
        ColumnType.Numeric => reader.GetDecimal(ordinal),
        ColumnType.Boolean => reader.GetBoolean(ordinal),
        ColumnType.Date => reader.GetFieldValue<DateOnly>(ordinal),
        _ => throw new InvalidOperationException($"a {type} natural key is looked up by a join"),
    };

    private sealed class NaturalKey(object[] values) : IEquatable<NaturalKey>
    {
        private readonly object[] _values = values;

        public bool Equals(NaturalKey? other) => other is not null && _values.AsSpan().SequenceEqual(other._values);

        public override bool Equals(object? obj) => Equals(obj as NaturalKey);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var value in _values) hash.Add(value);
            return hash.ToHashCode();
        }
    }
}
