using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Ends imports whose units have all ended, and fails units that used up their attempts on nodes
/// that died (poison units: they would kill every node that claims them).
/// </summary>
public sealed class ImportFinalizer(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Completes the given import (or every running one) if no unit is left to run. Safe to call
    /// from every node at once: the last unit to commit always sees all the others.
    /// </summary>
    public async Task<IReadOnlyList<(long Id, string State)>> FinalizeAsync(long? importId = null, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            WITH ended AS (
              UPDATE ingest.imports i
              SET state = CASE WHEN EXISTS (SELECT 1 FROM ingest.units u WHERE u.import_id = i.id AND u.state = 'failed')
                               THEN 'completed_with_errors' ELSE 'completed' END,
                  finished_at = now()
              WHERE i.state = 'running' AND ($1::bigint IS NULL OR i.id = $1)
                AND NOT EXISTS (SELECT 1 FROM ingest.units u WHERE u.import_id = i.id AND u.state IN ('pending', 'running'))
              RETURNING i.id, i.state)
            INSERT INTO ingest.events (import_id, kind) SELECT id, state FROM ended
            RETURNING import_id, kind
            """);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Bigint, importId is null ? DBNull.Value : importId.Value);
        var ended = new List<(long, string)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) ended.Add((r.GetInt64(0), r.GetString(1)));
        return ended;
    }

    /// <summary>Fails running units whose lease expired on their last allowed attempt; returns how many.</summary>
    public async Task<int> FailExhaustedAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            WITH failed AS (
              UPDATE ingest.units u
              SET state = 'failed', finished_at = now(), lease_until = NULL,
                  error = 'the node processing this unit stopped responding on each of its ' || u.attempts
                          || ' attempts (poison unit?)' || coalesce('; last error: ' || u.error, '')
              FROM ingest.imports i
              WHERE i.id = u.import_id AND u.state = 'running' AND u.lease_until < now() AND u.attempts >= i.max_attempts
              RETURNING u.import_id, u.unit_no, u.error)
            INSERT INTO ingest.events (import_id, unit_no, kind, message) SELECT import_id, unit_no, 'unit_failed', error FROM failed
            """);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
