using Ingest.Engine;
using Ingest.Engine.Sources.RabbitMq;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of a queue consumer's unit, which never reads to an end: each batch adds its counts to
/// the unit under the claim's fencing token (<see cref="UnitFence.ClaimAsync"/> claims it like any
/// unit), and the unit ends only when the import stops by itself (idle).
/// </summary>
public static class ConsumerFence
{
    /// <summary>
    /// Inside the transaction that loaded a batch: stores its rejects, adds its counts to the consumer's
    /// unit and to the import's counters (rows, and messages), fenced by the claim's token. The unit's
    /// attempts go back to 1: a consumer that commits is not one that kills its silo. Returns false
    /// when fenced off (another attempt holds the unit, or the import was cancelled): roll back.
    /// </summary>
    public static async Task<bool> CommitBatchAsync(NpgsqlConnection connection, UnitClaim claim, UnitLoadResult loaded, MessageCounts messages, CancellationToken cancellationToken = default)
    {
        await using (var cmd = new NpgsqlCommand(
            $"""
            UPDATE ingest.units
            SET attempts = 1, error = NULL, rows_read = rows_read + $4, rows_inserted = rows_inserted + $5, rows_updated = rows_updated + $6,
                rows_unchanged = rows_unchanged + $7, rows_rejected = rows_rejected + $8, bytes_read = bytes_read + $9
            WHERE import_id = $1 AND unit_no = $2 AND fence_token = $3 AND state = {StateSql.Unit.Running}
            """, connection))
        {
            cmd.Parameters.AddWithValue(claim.ImportId);
            cmd.Parameters.AddWithValue(claim.UnitNo);
            cmd.Parameters.AddWithValue(claim.Token);
            cmd.Parameters.AddWithValue(loaded.RowsRead);
            cmd.Parameters.AddWithValue(loaded.Counts.Inserted);
            cmd.Parameters.AddWithValue(loaded.Counts.Updated);
            cmd.Parameters.AddWithValue(loaded.Counts.Unchanged);
            cmd.Parameters.AddWithValue(loaded.Rejected);
            cmd.Parameters.AddWithValue(loaded.BytesRead);
            if (await cmd.ExecuteNonQueryAsync(cancellationToken) != 1) return false;
        }
        await UnitFence.StoreRejectsAsync(connection, claim.ImportId, [new UnitFence.Completion(claim.Fenced, loaded)], cancellationToken);
        await ImportCounters.AddAsync(connection, claim.ImportId, claim.UnitNo, ImportCounters.Loaded(loaded).Concat(Changes(messages)), cancellationToken);
        return true;
    }

    /// <summary>Counts messages that were not loaded in a batch's transaction (returned to the queue for the last time), fenced like a batch.</summary>
    public static async Task<bool> CountAsync(NpgsqlDataSource dataSource, UnitClaim claim, MessageCounts messages, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        if (!await CommitBatchAsync(connection, claim, UnitLoadResult.None, messages, cancellationToken)) return false;
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The consumer stopped because its queue stayed idle: its unit is done (fenced). Returns false when fenced off.</summary>
    public static async Task<bool> CompleteAsync(NpgsqlDataSource dataSource, UnitClaim claim, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using (var cmd = new NpgsqlCommand(
            $"""
            UPDATE ingest.units SET state = {StateSql.Unit.Done}, error = NULL, finished_at = now(), silo = NULL
            WHERE import_id = $1 AND unit_no = $2 AND fence_token = $3 AND state = {StateSql.Unit.Running}
            """, connection))
        {
            cmd.Parameters.AddWithValue(claim.ImportId);
            cmd.Parameters.AddWithValue(claim.UnitNo);
            cmd.Parameters.AddWithValue(claim.Token);
            if (await cmd.ExecuteNonQueryAsync(cancellationToken) != 1) return false;
        }
        await ImportCounters.AddAsync(connection, claim.ImportId, claim.UnitNo, [new("units", "done", 1)], cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Records the queue's depth as a consumer just read it, for status.</summary>
    public static async Task SetBacklogAsync(NpgsqlDataSource dataSource, long importId, long backlog, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE ingest.imports SET backlog = $2, backlog_at = now() WHERE id = $1");
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(backlog);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Shows on the running import why its consumer <paramref name="unitNo"/> is not consuming
    /// (<c>status</c>'s error); null clears what that consumer showed, once it consumes again.
    /// </summary>
    public static async Task ShowTroubleAsync(NpgsqlDataSource dataSource, long importId, int unitNo, string? trouble, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"UPDATE ingest.imports SET error = $3 WHERE id = $1 AND state = {StateSql.Import.Running} AND ($3 IS NOT NULL OR starts_with(error, $2))");
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(TroublePrefix(unitNo));
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)(trouble is null ? null : TroublePrefix(unitNo) + trouble) ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string TroublePrefix(int unitNo) => $"consumer {unitNo}: ";

    private static IEnumerable<ImportCounters.Change> Changes(MessageCounts m)
    {
        yield return new("messages", "consumed", m.Consumed);
        yield return new("messages", "duplicate", m.Duplicate);
        yield return new("messages", "redelivered", m.Redelivered);
        yield return new("messages", "rejected", m.Rejected);
        yield return new("messages", "deadLettered", m.DeadLettered);
    }
}
