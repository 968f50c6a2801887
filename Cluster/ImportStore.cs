using Ingest.Contracts;
using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Imports as durable state: what users do to them (submit, pause, resume, cancel) and what they
/// read of them (status, list, nodes). Each change is one guarded UPDATE, so concurrent clients
/// and nodes see a consistent state machine.
/// </summary>
public sealed partial class ImportStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a validated spec as a <c>pending</c> import and returns its id. Planning happens on a node.</summary>
    public async Task<long> SubmitAsync(ImportSpec spec, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            WITH i AS (
              INSERT INTO ingest.imports (name, spec, parallelism, max_attempts, backoff_seconds)
              VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING id)
            INSERT INTO ingest.events (import_id, kind, message) SELECT id, 'submitted', $1 FROM i
            RETURNING import_id, {WakeUpChannel.NotifySql}
            """);
        cmd.Parameters.AddWithValue(spec.Name);
        cmd.Parameters.AddWithValue(ImportSpecJson.Serialize(spec));
        cmd.Parameters.AddWithValue(spec.Parallelism);
        cmd.Parameters.AddWithValue(spec.Retry.Attempts);
        cmd.Parameters.AddWithValue(spec.Retry.BackoffSeconds);
        return (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Stops nodes claiming the import's units; units in flight finish.</summary>
    public Task<ChangeResult> PauseAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "paused",
        "UPDATE ingest.imports SET state = 'paused' WHERE id = $1 AND state IN ('pending', 'running') RETURNING state",
        cancellationToken);

    /// <summary>Lets nodes claim the import's units again (or plan it, if it was paused before planning).</summary>
    public Task<ChangeResult> ResumeAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "resumed",
        """
        UPDATE ingest.imports SET state = CASE WHEN started_at IS NULL THEN 'pending' ELSE 'running' END
        WHERE id = $1 AND state = 'paused' RETURNING state
        """, cancellationToken);

    /// <summary>
    /// Cancels the import: its units end <c>cancelled</c>; units in flight lose their lease, so
    /// their nodes roll them back (the fenced completion cannot commit).
    /// </summary>
    public Task<ChangeResult> CancelAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "cancelled",
        """
        WITH i AS (
          UPDATE ingest.imports SET state = 'cancelled', finished_at = now()
          WHERE id = $1 AND state IN ('pending', 'running', 'paused') RETURNING id, state),
        u AS (
          UPDATE ingest.units SET state = 'cancelled', lease_until = NULL, finished_at = now()
          WHERE import_id IN (SELECT id FROM i) AND state IN ('pending', 'running'))
        SELECT state FROM i
        """, cancellationToken);

    private async Task<ChangeResult> ChangeAsync(long id, string eventKind, string sql, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.AddWithValue(id);
        var state = (string?)await cmd.ExecuteScalarAsync(cancellationToken);
        if (state is not null)
            await Events.WriteAsync(connection, id, null, null, eventKind, null, cancellationToken);
        if (state is "pending" or "running")
            await WakeUpChannel.NotifyAsync(connection, cancellationToken); // resumed: nodes claim or plan it now
        await tx.CommitAsync(cancellationToken);
        if (state is not null) return new ChangeResult(true, state);

        var current = await GetStateAsync(id, cancellationToken);
        return new ChangeResult(false, current);
    }

    private async Task<string?> GetStateAsync(long id, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT state FROM ingest.imports WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        return (string?)await cmd.ExecuteScalarAsync(cancellationToken);
    }
}

/// <summary>The outcome of a pause, resume or cancel: whether it applied, and the import's state (null: no such import).</summary>
public sealed record ChangeResult(bool Applied, string? State);
