using Ingest.Engine;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Cluster;

/// <summary>Writes how a unit attempt ended. Every write is fenced by the claim's lease token.</summary>
public static class UnitOutcome
{
    /// <summary>
    /// Inside the unit's own transaction (the one that loaded its rows): stores its rejects and marks
    /// it <c>done</c> with its counts. Returns null when the claim was fenced off (the unit was taken
    /// over or cancelled): the caller must then roll back, so the rows are not loaded twice.
    /// Otherwise returns whether other units of the import are still pending (so this one was not
    /// among the last, and need not try to end the import).
    /// </summary>
    public static async Task<bool?> CompleteAsync(NpgsqlConnection connection, UnitClaim claim, UnitLoadResult result, CancellationToken cancellationToken = default)
    {
        if (result.Rejects.Count > 0)
        {
            await using var copy = await connection.BeginBinaryImportAsync(
                "COPY ingest.rejects (import_id, unit_no, record_index, column_name, reason, raw) FROM STDIN (FORMAT BINARY)", cancellationToken);
            foreach (var reject in result.Rejects)
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(claim.ImportId, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(claim.UnitNo, NpgsqlDbType.Integer, cancellationToken);
                await copy.WriteAsync(reject.RecordIndex, NpgsqlDbType.Bigint, cancellationToken);
                if (reject.Column is null) await copy.WriteNullAsync(cancellationToken);
                else await copy.WriteAsync(reject.Column, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(reject.Reason, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(reject.Raw, NpgsqlDbType.Text, cancellationToken);
            }
            await copy.CompleteAsync(cancellationToken);
        }

        // Last statement before COMMIT: the unit row stays locked for as short a time as possible.
        await using var cmd = new NpgsqlCommand(
            """
            UPDATE ingest.units
            SET state = 'done', error = NULL, lease_until = NULL, finished_at = now(),
                rows_read = $4, rows_inserted = $5, rows_updated = $6, rows_unchanged = $7, rows_rejected = $8, bytes_read = $9
            WHERE import_id = $1 AND unit_no = $2 AND lease_token = $3 AND state = 'running'
            RETURNING EXISTS (SELECT 1 FROM ingest.units p WHERE p.import_id = $1 AND p.state = 'pending')
            """, connection);
        cmd.Parameters.AddWithValue(claim.ImportId);
        cmd.Parameters.AddWithValue(claim.UnitNo);
        cmd.Parameters.AddWithValue(claim.LeaseToken);
        cmd.Parameters.AddWithValue(result.RowsRead);
        cmd.Parameters.AddWithValue(result.Counts.Inserted);
        cmd.Parameters.AddWithValue(result.Counts.Updated);
        cmd.Parameters.AddWithValue(result.Counts.Unchanged);
        cmd.Parameters.AddWithValue(result.Rejected);
        cmd.Parameters.AddWithValue(result.BytesRead);
        return (bool?)await cmd.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>
    /// Records a failed attempt: back to <c>pending</c> after an exponential backoff while attempts
    /// remain, else (or when <paramref name="terminal"/>) <c>failed</c> with the error kept.
    /// Returns the unit's new state, or null when the claim was fenced off.
    /// </summary>
    public static async Task<string?> FailAsync(NpgsqlDataSource dataSource, UnitClaim claim, string error, bool terminal, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(
            """
            UPDATE ingest.units u
            SET state = CASE WHEN $4 OR u.attempts >= i.max_attempts THEN 'failed' ELSE 'pending' END,
                not_before = now() + make_interval(secs => i.backoff_seconds * power(2, u.attempts - 1)),
                finished_at = CASE WHEN $4 OR u.attempts >= i.max_attempts THEN now() END,
                error = $5, lease_until = NULL
            FROM ingest.imports i
            WHERE i.id = u.import_id AND u.import_id = $1 AND u.unit_no = $2 AND u.lease_token = $3 AND u.state = 'running'
            RETURNING u.state
            """, connection);
        cmd.Parameters.AddWithValue(claim.ImportId);
        cmd.Parameters.AddWithValue(claim.UnitNo);
        cmd.Parameters.AddWithValue(claim.LeaseToken);
        cmd.Parameters.AddWithValue(terminal);
        cmd.Parameters.AddWithValue(error);
        var state = (string?)await cmd.ExecuteScalarAsync(cancellationToken);
        if (state is not null)
            await Events.WriteAsync(connection, claim.ImportId, claim.UnitNo, null, state == "failed" ? "unit_failed" : "unit_retry",
                $"attempt {claim.Attempt}/{claim.MaxAttempts}: {error}", cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return state;
    }
}
