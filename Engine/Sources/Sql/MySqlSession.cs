using System.Data;
using System.Data.Common;
using Ingest.GrainInterfaces;
using MySqlConnector;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A MySQL or MariaDB source: MySqlConnector, a REPEATABLE READ, READ ONLY transaction with a
/// consistent snapshot, the session in UTC (TIMESTAMP values read as UTC), zero dates kept as such
/// (the reader makes them NULL and counts them), binary columns as bytes and CHAR(36) as text.
/// </summary>
public sealed class MySqlSession(SqlSourceSpec spec, SourceConnection connection) : SqlSession(spec, connection)
{
    private MySqlConnection? _connection;
    private MySqlTransaction? _transaction;

    public MySqlConnection Database => _connection ?? throw new InvalidOperationException("not started");

    public MySqlTransaction Transaction => _transaction ?? throw new InvalidOperationException("not started");

    protected override async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = new MySqlConnectionStringBuilder(Connection.ConnectionString)
        {
            AllowZeroDateTime = true,
            ConvertZeroDateTime = false,
            GuidFormat = MySqlGuidFormat.None,
        };
        _connection = new MySqlConnection(builder.ConnectionString);
        await _connection.OpenAsync(cancellationToken);
        await using (var utc = new MySqlCommand(SourceSql.MySqlUtc, _connection))
            await utc.ExecuteNonQueryAsync(cancellationToken);
        _transaction = await _connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, isReadOnly: true, cancellationToken);
    }

    public override async Task<IReadOnlyList<SourceColumn>> DescribeAsync(IReadOnlyList<string>? columns, CancellationToken cancellationToken = default)
    {
        await using var cmd = new MySqlCommand(Sql.Describe(columns), Database, _transaction);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return reader.GetColumnSchema().Cast<MySqlDbColumn>().Select(c => new SourceColumn(c.ColumnName, c.ProviderType.ToString(), false, KeyOf(c.ProviderType))).ToList();
    }

    private static KeyKind? KeyOf(MySqlDbType type) => type switch
    {
        MySqlDbType.Byte or MySqlDbType.UByte or MySqlDbType.Int16 or MySqlDbType.UInt16 or MySqlDbType.Int24 or MySqlDbType.UInt24
            or MySqlDbType.Int32 or MySqlDbType.UInt32 or MySqlDbType.Int64 or MySqlDbType.UInt64 or MySqlDbType.Year => KeyKind.Integer,
        MySqlDbType.Decimal or MySqlDbType.NewDecimal => KeyKind.Numeric,
        MySqlDbType.Date or MySqlDbType.Newdate => KeyKind.Date,
        MySqlDbType.DateTime or MySqlDbType.Timestamp => KeyKind.Timestamp,
        _ => null,
    };

    protected override DbCommand Command(string sql) => new MySqlCommand(sql, Database, _transaction) { CommandTimeout = 0 };

    public override object KeyValue(object value) => value switch
    {
        MySqlDateTime { IsValidDateTime: true } d => d.GetDateTime(),
        MySqlDecimal d => d.Value,
        _ => value,
    };

    public override async ValueTask DisposeAsync()
    {
        if (_transaction is not null) await _transaction.DisposeAsync();
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
