using System.Data;
using System.Data.Common;
using Ingest.GrainInterfaces;
using Npgsql;
using Npgsql.PostgresTypes;

namespace Ingest.Engine.Sources.Sql;

/// <summary>A PostgreSQL source: Npgsql, a REPEATABLE READ, READ ONLY transaction.</summary>
public sealed class PostgresSession(SqlSourceSpec spec, SourceConnection connection) : SqlSession(spec, connection)
{
    private NpgsqlConnection? _connection;
    private NpgsqlTransaction? _transaction;

    public NpgsqlConnection Database => _connection ?? throw new InvalidOperationException("not started");

    protected override async Task StartAsync(CancellationToken cancellationToken)
    {
        _connection = new NpgsqlConnection(Connection.ConnectionString);
        await _connection.OpenAsync(cancellationToken);
        _transaction = await _connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        await using var readOnly = new NpgsqlCommand(SourceSql.PostgresReadOnly, _connection, _transaction);
        await readOnly.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task<IReadOnlyList<SourceColumn>> DescribeAsync(IReadOnlyList<string>? columns, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(Sql.Describe(columns), Database, _transaction);
        await using var reader = await cmd.ExecuteReaderAsync(CommandBehavior.SchemaOnly, cancellationToken);
        var described = new List<SourceColumn>(reader.FieldCount);
        for (var i = 0; i < reader.FieldCount; i++)
        {
            var type = reader.GetPostgresType(i);
            var array = type is PostgresArrayType;
            var name = type is PostgresArrayType a ? a.Element.InternalName : type is PostgresDomainType d ? d.BaseType.InternalName : type.InternalName;
            described.Add(new SourceColumn(reader.GetName(i), name, array, array ? null : KeyOf(name), array ? ColumnType.Jsonb : TargetOf(name)));
        }
        return described;
    }

    // Arrays go to jsonb; types without a column type of their own, to their text.
    private static ColumnType TargetOf(string type) => type switch
    {
        "bool" => ColumnType.Boolean,
        "int2" or "int4" => ColumnType.Int,
        "int8" => ColumnType.Bigint,
        "float4" or "float8" => ColumnType.Double,
        "numeric" => ColumnType.Numeric,
        "date" => ColumnType.Date,
        "timestamp" => ColumnType.Timestamp,
        "timestamptz" => ColumnType.Timestamptz,
        "uuid" => ColumnType.Uuid,
        "bytea" => ColumnType.Bytea,
        "json" or "jsonb" => ColumnType.Jsonb,
        _ => ColumnType.Text,
    };

    private static KeyKind? KeyOf(string type) => type switch
    {
        "int2" or "int4" or "int8" => KeyKind.Integer,
        "numeric" => KeyKind.Numeric,
        "date" => KeyKind.Date,
        "timestamp" => KeyKind.Timestamp,
        "timestamptz" => KeyKind.TimestampTz,
        _ => null,
    };

    protected override DbCommand Command(string sql) => new NpgsqlCommand(sql, Database, _transaction) { CommandTimeout = 0 };

    public override async ValueTask DisposeAsync()
    {
        if (_transaction is not null) await _transaction.DisposeAsync();
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
