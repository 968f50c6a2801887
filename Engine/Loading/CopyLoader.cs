using Ingest.GrainInterfaces;
using Ingest.Engine.Mapping;
using Npgsql;

namespace Ingest.Engine.Loading;

/// <summary>
/// Writes one batch of rows to the target table by binary COPY, on a connection whose
/// transaction the caller owns (so the caller can commit the batch together with its own state).
/// <para>
/// Plain inserts, and upserts tried optimistically, COPY straight into the target. Staged upserts COPY into a temporary staging table, then
/// merge (<see cref="StagedMerge"/>) with one <c>INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE row differs</c>: the last
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
    private readonly BinaryCopy _copy;
    private readonly bool _staged;
    private State _state;

    private CopyLoader(NpgsqlConnection connection, TargetTable table, BinaryCopy copy, bool staged)
    {
        _connection = connection;
        _table = table;
        _copy = copy;
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
            // unit costs catalog writes on every unit. A batch of units stages them one after another in
            // one transaction: each empties it first.
            await using (var create = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new(StagedMerge.BoundSessionStaging(needed: 1)),
                    new($"""
                        CREATE TEMP TABLE IF NOT EXISTS {table.StagingName} ON COMMIT DELETE ROWS
                        AS SELECT {columns}, NULL::bigint AS ingest_ord FROM {table.QualifiedName} WITH NO DATA
                        """),
                    new(StagedMerge.ClearStaging(table.StagingName)),
                },
            })
                await create.ExecuteNonQueryAsync(cancellationToken);
            copy = $"COPY pg_temp.{table.StagingName} ({columns}, ingest_ord) FROM STDIN (FORMAT BINARY)";
        }
        else
        {
            copy = $"COPY {table.QualifiedName} ({columns}) FROM STDIN (FORMAT BINARY)";
        }
        return new CopyLoader(connection, table, await BinaryCopy.BeginAsync(connection, copy, cancellationToken), staged);
    }

    /// <summary>Writes one row, as the record mapper produced it. Values are written unboxed; text and jsonb as their UTF-8 bytes.</summary>
    public async Task WriteAsync(MappedRow row, CancellationToken cancellationToken = default)
    {
        Guard(State.Writing);
        await _copy.WriteAsync(row, _staged ? _copy.Rows : null, cancellationToken: cancellationToken);
    }

    /// <summary>Writes one row encoded already: a tuple of a binary COPY of the target's columns, in their order.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> tuple, CancellationToken cancellationToken = default)
    {
        Guard(State.Writing);
        await _copy.WriteAsync(tuple, _staged ? _copy.Rows : null, cancellationToken);
    }

    /// <summary>Finishes the COPY and, when staged, merges staging into the target. A direct COPY inserted every row.</summary>
    public async Task<LoadCounts> CompleteAsync(CancellationToken cancellationToken = default)
    {
        Guard(State.Writing);
        await _copy.CompleteAsync(cancellationToken);
        _state = State.Completed;
        var rows = _copy.Rows;
        if (!_staged) return new LoadCounts(rows, 0, 0);
        if (rows == 0) return default;

        await using var merge = new NpgsqlCommand(StagedMerge.Sql(_table, $"pg_temp.{_table.StagingName}"), _connection);
        await using var reader = await merge.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var inserted = reader.GetInt64(1);
        var updated = reader.GetInt64(2);
        return new LoadCounts(inserted, updated, rows - inserted - updated);
    }

    private void Guard(State expected)
    {
        if (_state != expected)
            throw new InvalidOperationException($"the batch is {_state.ToString().ToLowerInvariant()}, expected {expected.ToString().ToLowerInvariant()}");
    }

    /// <summary>Cancels the COPY if the batch was not completed; the caller's transaction must then roll back.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_state == State.Writing) await _copy.DisposeAsync();
        _state = State.Disposed;
    }
}
