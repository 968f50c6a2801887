using System.Data.Common;
using System.Runtime.CompilerServices;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// A connection to a SQL source inside one read-only, repeatable-read transaction (its own
/// snapshot), for one engine: what planning asks (the columns, the key's statistics and quantiles)
/// and what a unit's reader reads. Disposing it rolls the transaction back and closes the connection.
/// </summary>
public abstract class SqlSession : IAsyncDisposable
{
    protected SqlSession(SqlSourceSpec spec, SourceConnection connection)
    {
        Spec = spec;
        Connection = connection;
        Sql = new SourceSql(spec);
    }

    public SqlSourceSpec Spec { get; }

    public SourceConnection Connection { get; }

    /// <summary>The statements, for this engine; within the window once <see cref="NarrowAsync"/> made one.</summary>
    public SourceSql Sql { get; private set; }

    /// <summary>
    /// Narrows every later statement to the rows an incremental import reads (<see cref="SqlWindow"/>),
    /// once its cursor and tie-break columns are described; does nothing without an increment.
    /// </summary>
    /// <exception cref="SourceDataException">A column is missing or of a kind a window cannot hold.</exception>
    public async Task<SqlWindow?> NarrowAsync(SqlIncrement? increment, CancellationToken cancellationToken = default)
    {
        if (increment is null) return null;
        var (cursor, tieBreak) = await CursorKindsAsync(increment, cancellationToken);
        var window = SqlWindow.Of(increment, cursor, tieBreak);
        Sql = new SourceSql(Spec, window);
        return window;
    }

    /// <summary>What the cursor and tie-break columns hold, checked: both exist and hold integers, numerics, dates or times.</summary>
    /// <exception cref="SourceDataException">A column is missing or of another kind (the import fails at planning, saying so).</exception>
    public async Task<(KeyKind Cursor, KeyKind TieBreak)> CursorKindsAsync(SqlIncrement increment, CancellationToken cancellationToken = default)
    {
        var described = await DescribeAsync(null, cancellationToken);
        var name = Spec.Table ?? "the query";
        KeyKind Kind(string field, string column)
        {
            var found = described.FirstOrDefault(c => c.Name == column)
                        ?? throw new SourceDataException($"source.incremental.{field}: '{column}' is not a column of {name} ({string.Join(", ", described.Select(c => c.Name))})", kind: ErrorKind.Import);
            return found.Key ?? throw new SourceDataException(
                $"source.incremental.{field}: '{column}' is {found.Type}; it must be {SqlWindow.Kinds}, whose order is the same in the source, here and in the watermark store " +
                (field == "tieBreak" ? "(text orders by collation, which differs between them): use the table's integer key, or a query that selects one" : "(a modification time, or a growing number)"),
                kind: ErrorKind.Import);
        }
        return (Kind("cursor", increment.Cursor.Path), Kind("tieBreak", increment.TieBreak));
    }

    /// <summary>Connects and starts the read-only transaction.</summary>
    public static async Task<SqlSession> OpenAsync(SqlSourceSpec spec, SourceConnection connection, CancellationToken cancellationToken = default)
    {
        SqlSession session = spec.Engine == SqlEngine.Postgres ? new PostgresSession(spec, connection) : new MySqlSession(spec, connection);
        try
        {
            await session.StartAsync(cancellationToken);
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    protected abstract Task StartAsync(CancellationToken cancellationToken);

    /// <summary>The columns read (every one when null), as the engine describes them.</summary>
    public abstract Task<IReadOnlyList<SourceColumn>> DescribeAsync(IReadOnlyList<string>? columns, CancellationToken cancellationToken = default);

    /// <summary>The values of each row of a query's result, as the driver gives them (DBNull as null).</summary>
    public async IAsyncEnumerable<object?[]> QueryAsync(string sql, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var cmd = Command(sql);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = new object?[reader.FieldCount];
            for (var i = 0; i < values.Length; i++) values[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            yield return values;
        }
    }

    /// <summary>A statement in the session's transaction, without a time limit.</summary>
    protected abstract DbCommand Command(string sql);

    /// <summary>A key value as <see cref="KeyValues.Canonical"/> takes it (the driver's own date types unwrapped).</summary>
    public virtual object KeyValue(object value) => value;

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Whether an error of the engine or its driver is a network failure (unreachable, connection
    /// lost) rather than an answer (bad credentials, a query that fails): planning tries again after
    /// the first, and a reading unit goes on from its checkpoint.
    /// </summary>
    public static bool IsNetwork(Exception e) => e switch
    {
        Npgsql.PostgresException => false,
        Npgsql.NpgsqlException n => n.IsTransient,
        MySqlConnector.MySqlException m => m.ErrorCode is MySqlConnector.MySqlErrorCode.UnableToConnectToHost
            || (m.IsTransient && m.ErrorCode != MySqlConnector.MySqlErrorCode.AccessDenied),
        System.Net.Sockets.SocketException or IOException or TimeoutException => true,
        _ => false,
    };

    /// <summary>The error met planning, with the engine's message and the credentials masked.</summary>
    public static SourceDataException Failure(SqlSourceSpec spec, SourceConnection? connection, Exception e)
    {
        var message = e is DbException or System.Net.Sockets.SocketException or IOException or TimeoutException ? e.Message : $"{e.GetType().Name}: {e.Message}";
        var what = spec.Table is { } table ? $"table {table}" : "the query";
        var text = $"{Describe(spec)}: cannot read {what}: {message}";
        // Unreachable: worth trying again (planning retries a bounded number of times); any answer of the engine: the import fails.
        return new SourceDataException(connection?.Mask(text) ?? text, kind: IsNetwork(e) ? ErrorKind.Attempt : ErrorKind.Import);
    }

    /// <summary>The engine, for messages.</summary>
    public static string Describe(SqlSourceSpec spec) => spec.Engine == SqlEngine.Postgres ? "PostgreSQL source" : "MySQL source";
}
