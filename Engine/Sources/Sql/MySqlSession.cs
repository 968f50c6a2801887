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
        var json = await JsonColumnsAsync(cancellationToken);
        await using var cmd = new MySqlCommand(Sql.Describe(columns), Database, _transaction);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return reader.GetColumnSchema().Cast<MySqlDbColumn>()
            .Select(c => (c.ColumnName, Type: json.Contains(c.ColumnName) ? MySqlDbType.JSON : c.ProviderType))
            .Select(c => new SourceColumn(c.ColumnName, c.Type.ToString(), false, KeyOf(c.Type), TargetOf(c.Type))).ToList();
    }

    /// <summary>The columns that hold JSON: MariaDB's JSON is text to the protocol (<see cref="SourceSql.MariaDbJsonColumns"/>); MySQL says so itself.</summary>
    public async Task<HashSet<string>> JsonColumnsAsync(CancellationToken cancellationToken = default)
    {
        var json = new HashSet<string>(StringComparer.Ordinal);
        if (Database.ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) && Sql.MariaDbJsonColumns() is { } sql)
            await foreach (var row in QueryAsync(sql, cancellationToken)) json.Add((string)row[0]!);
        return json;
    }

    // Unsigned BIGINT (up to 2^64 - 1) and BIT go to numeric; binary columns to bytea.
    private static ColumnType TargetOf(MySqlDbType type) => type switch
    {
        MySqlDbType.Bool => ColumnType.Boolean,
        MySqlDbType.Byte or MySqlDbType.UByte or MySqlDbType.Int16 or MySqlDbType.UInt16 or MySqlDbType.Int24 or MySqlDbType.UInt24
            or MySqlDbType.Int32 or MySqlDbType.Year => ColumnType.Int,
        MySqlDbType.UInt32 or MySqlDbType.Int64 => ColumnType.Bigint,
        MySqlDbType.UInt64 or MySqlDbType.Bit or MySqlDbType.Decimal or MySqlDbType.NewDecimal => ColumnType.Numeric,
        MySqlDbType.Float or MySqlDbType.Double => ColumnType.Double,
        MySqlDbType.Date or MySqlDbType.Newdate => ColumnType.Date,
        MySqlDbType.DateTime => ColumnType.Timestamp,
        MySqlDbType.Timestamp => ColumnType.Timestamptz,
        MySqlDbType.JSON => ColumnType.Jsonb,
        MySqlDbType.Binary or MySqlDbType.VarBinary or MySqlDbType.TinyBlob or MySqlDbType.Blob or MySqlDbType.MediumBlob
            or MySqlDbType.LongBlob or MySqlDbType.Geometry => ColumnType.Bytea,
        _ => ColumnType.Text,
    };

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
