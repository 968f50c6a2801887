using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Claims units for a node. Claimable: pending units past their backoff, and running units whose
/// lease expired (their node died), in imports that are <c>running</c> and below their cluster-wide
/// parallelism. Claims of one import are serialised by a transaction-scoped advisory lock, so two
/// nodes cannot both take the last free parallelism slot; rows are picked with SKIP LOCKED.
/// Not thread-safe: a node claims one unit at a time.
/// </summary>
public sealed class UnitQueue(NpgsqlDataSource dataSource, ClusterOptions options)
{
    private const int ClaimLockClass = 0x1A6E57;

    // The import this node last claimed from: tried first, which saves looking for candidates
    // on every claim while an import has work.
    private long? _lastImport;

    public async Task<UnitClaim?> TryClaimAsync(Guid nodeId, CancellationToken cancellationToken = default)
    {
        if (_lastImport is { } last && await TryClaimFromAsync(last, nodeId, cancellationToken) is { } again)
            return again;
        _lastImport = null;

        var candidates = new List<long>();
        await using (var cmd = dataSource.CreateCommand(
            """
            SELECT i.id FROM ingest.imports i
            WHERE i.state = 'running' AND EXISTS (
              SELECT 1 FROM ingest.units u
              WHERE u.import_id = i.id
                AND ((u.state = 'pending' AND u.not_before <= now()) OR (u.state = 'running' AND u.lease_until < now())))
            ORDER BY i.id
            """))
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
            while (await r.ReadAsync(cancellationToken)) candidates.Add(r.GetInt64(0));

        foreach (var importId in candidates)
        {
            if (await TryClaimFromAsync(importId, nodeId, cancellationToken) is not { } claim) continue;
            _lastImport = importId;
            return claim;
        }
        return null;
    }

    private async Task<UnitClaim?> TryClaimFromAsync(long importId, Guid nodeId, CancellationToken cancellationToken)
    {
        // Both statements go in one round trip and run in one implicit transaction: the claim reads
        // the import's running units only once it holds the import's lock.
        // A claim need not survive a server crash: a lost claim leaves the unit claimable, and the
        // node's completion is then fenced off. So it does not wait for its WAL to reach disk.
        await using var batch = dataSource.CreateBatch();
        var lockImport = new NpgsqlBatchCommand(
            $"SELECT pg_advisory_xact_lock({ClaimLockClass}, $1::int), set_config('synchronous_commit', 'off', true)");
        lockImport.Parameters.AddWithValue(importId);
        var claimUnit = new NpgsqlBatchCommand(
            """
            WITH imp AS (
              SELECT i.parallelism, i.max_attempts FROM ingest.imports i WHERE i.id = $1 AND i.state = 'running'
            ), busy AS (
              SELECT count(*) AS n FROM ingest.units WHERE import_id = $1 AND state = 'running' AND lease_until >= now()
            ), pick AS (
              SELECT u.unit_no FROM ingest.units u
              WHERE u.import_id = $1
                AND ((u.state = 'pending' AND u.not_before <= now()) OR (u.state = 'running' AND u.lease_until < now()))
                AND u.attempts < (SELECT max_attempts FROM imp)
                AND (SELECT n FROM busy) < (SELECT parallelism FROM imp)
              ORDER BY u.unit_no
              LIMIT 1
              FOR UPDATE OF u SKIP LOCKED
            )
            UPDATE ingest.units u
            SET state = 'running', attempts = u.attempts + 1, lease_token = u.lease_token + 1,
                node_id = $2, lease_until = now() + $3, started_at = now()
            FROM pick
            WHERE u.import_id = $1 AND u.unit_no = pick.unit_no
            RETURNING u.unit_no, u.key, u.attempts, (SELECT max_attempts FROM imp), u.lease_token
            """);
        claimUnit.Parameters.AddWithValue(importId);
        claimUnit.Parameters.AddWithValue(nodeId);
        claimUnit.Parameters.AddWithValue(options.LeaseDuration);
        batch.BatchCommands.Add(lockImport);
        batch.BatchCommands.Add(claimUnit);

        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await r.NextResultAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken)
            ? new UnitClaim(importId, r.GetInt32(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt64(4))
            : null;
    }
}
