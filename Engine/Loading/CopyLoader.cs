using Ingest.GrainInterfaces;
using Ingest.Engine.Mapping;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Loading;

/// <summary>
/// Writes one batch of rows to the target table by binary COPY, on a connection whose
/// transaction the caller owns (so the caller can commit the batch together with its own state).
/// <para>
/// Plain inserts, and upserts tried optimistically, COPY straight into the target. Staged upserts COPY into a temporary staging table, then
/// merge with one <c>INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE row differs</c>: the last
/// occurrence of a key in the batch wins, rows are written in key order (so concurrent batches
/// with overlapping keys lock in the same order), and identical rows are not rewritten.
/// </para>
/// A small state machine: Writing → Completed, or Disposed without completing, in which case
/// the COPY is cancelled and the caller's transaction must be rolled back.
/// </summary>
public sealed class CopyLoader : IAsyncDisposable
{
    private enum State { Writing, Completed, Disposed }

    private readonly NpgsqlConnection _connection;
    private readonly TargetTable _table;
    private readonly NpgsqlBinaryImporter _importer;
    private readonly bool _staged;
    private State _state;
    private long _rows;

    private CopyLoader(NpgsqlConnection connection, TargetTable table, NpgsqlBinaryImporter importer, bool staged)
    {
        _connection = connection;
        _table = table;
        _importer = importer;
        _staged = staged;
    }

    /// <summary>
    /// Starts a batch: opens a COPY straight into the target, or, when <paramref name="staged"/>
    /// (upserts only), creates the staging table and opens a COPY into it.
    /// </summary>
    public static async Task<CopyLoader> BeginAsync(NpgsqlConnection connection, TargetTable table, bool staged, CancellationToken cancellationToken = default)
    {
        if (staged && !table.IsKeyed) throw new ArgumentException("only an upsert (a keyed target) can be staged", nameof(staged));
        var columns = string.Join(", ", table.QuotedColumns);
        string copy;
        if (staged)
        {
            // The staging table takes the target's column types, so it converts exactly as the target would.
            // It lives as long as the session and empties at each commit: creating and dropping one per
            // unit costs catalog writes on every unit.
            await using (var create = new NpgsqlCommand(
                $"""
                CREATE TEMP TABLE IF NOT EXISTS {table.StagingName} ON COMMIT DELETE ROWS
                AS SELECT {columns}, NULL::bigint AS ingest_ord FROM {table.QualifiedName} WITH NO DATA
                """, connection))
                await create.ExecuteNonQueryAsync(cancellationToken);
            copy = $"COPY pg_temp.{table.StagingName} ({columns}, ingest_ord) FROM STDIN (FORMAT BINARY)";
        }
        else
        {
            copy = $"COPY {table.QualifiedName} ({columns}) FROM STDIN (FORMAT BINARY)";
        }
        var importer = await connection.BeginBinaryImportAsync(copy, cancellationToken);
        return new CopyLoader(connection, table, importer, staged);
    }

    /// <summary>Writes one row, as the record mapper produced it. Values are written unboxed; text and jsonb as their UTF-8 bytes.</summary>
    public async Task WriteAsync(MappedRow row, CancellationToken cancellationToken = default)
    {
        Guard(State.Writing);
        await _importer.StartRowAsync(cancellationToken);
        for (var i = 0; i < row.Width; i++)
        {
            if (row.IsNull(i))
            {
                await _importer.WriteNullAsync(cancellationToken);
                continue;
            }
            var type = _table.DbTypes[i];
            var write = row.Types[i] switch
            {
                // As a byte[]: Npgsql writes ReadOnlyMemory<byte> through a streaming converter that
                // cost the COPY writer about a fifth more CPU than the copy does (measured).
                ColumnType.Text or ColumnType.Jsonb => _importer.WriteAsync(row.GetBytes(i).ToArray(), type, cancellationToken),
                ColumnType.Bigint => _importer.WriteAsync(row.GetInt64(i), type, cancellationToken),
                ColumnType.Int => _importer.WriteAsync((int)row.GetInt64(i), type, cancellationToken),
                ColumnType.Double => _importer.WriteAsync(row.GetDouble(i), type, cancellationToken),
                ColumnType.Numeric => _importer.WriteAsync(row.GetDecimal(i), type, cancellationToken),
                ColumnType.Boolean => _importer.WriteAsync(row.GetBoolean(i), type, cancellationToken),
                ColumnType.Date => _importer.WriteAsync(row.GetDate(i), type, cancellationToken),
                ColumnType.Timestamptz => _importer.WriteAsync(row.GetTimestamp(i), type, cancellationToken),
                _ => throw new InvalidOperationException($"unknown column type {row.Types[i]}"),
            };
            await write;
        }
        if (_staged) await _importer.WriteAsync(_rows, NpgsqlDbType.Bigint, cancellationToken);
        _rows++;
    }

    /// <summary>Finishes the COPY and, when staged, merges staging into the target. A direct COPY inserted every row.</summary>
    public async Task<LoadCounts> CompleteAsync(CancellationToken cancellationToken = default)
    {
        Guard(State.Writing);
        await _importer.CompleteAsync(cancellationToken);
        await _importer.DisposeAsync();
        _state = State.Completed;
        if (!_staged) return new LoadCounts(_rows, 0, 0);
        if (_rows == 0) return default;

        await using var merge = new NpgsqlCommand(MergeSql(_table), _connection);
        await using var reader = await merge.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var inserted = reader.GetInt64(0);
        var updated = reader.GetInt64(1);
        return new LoadCounts(inserted, updated, _rows - inserted - updated);
    }

    private static string MergeSql(TargetTable table)
    {
        var columns = string.Join(", ", table.QuotedColumns);
        var key = string.Join(", ", table.QuotedKey);
        var nonKey = table.QuotedColumns.Except(table.QuotedKey).ToArray();
        var onConflict = nonKey.Length == 0
            ? "DO NOTHING"
            : $"""
              DO UPDATE SET {string.Join(", ", nonKey.Select(c => $"{c} = EXCLUDED.{c}"))}
              WHERE ({string.Join(", ", nonKey.Select(c => "t." + c))}) IS DISTINCT FROM ({string.Join(", ", nonKey.Select(c => "EXCLUDED." + c))})
              """;
        // xmax = 0 on a returned row means it was inserted; otherwise an existing row was updated.
        // Rows the WHERE leaves alone are not returned: they are the unchanged ones.
        return $"""
            WITH up AS (
              INSERT INTO {table.QualifiedName} AS t ({columns})
              SELECT {columns} FROM (
                SELECT DISTINCT ON ({key}) {columns} FROM pg_temp.{table.StagingName} ORDER BY {key}, ingest_ord DESC
              ) last ORDER BY {key}
              ON CONFLICT ({key}) {onConflict}
              RETURNING (t.xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
            """;
    }

    private void Guard(State expected)
    {
        if (_state != expected)
            throw new InvalidOperationException($"the batch is {_state.ToString().ToLowerInvariant()}, expected {expected.ToString().ToLowerInvariant()}");
    }

    /// <summary>Cancels the COPY if the batch was not completed; the caller's transaction must then roll back.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_state == State.Writing)
        {
            try { await _importer.DisposeAsync(); }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or OperationCanceledException) { /* the transaction is rolled back anyway */ }
        }
        _state = State.Disposed;
    }
}
