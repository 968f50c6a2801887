using Ingest.Contracts;
using Npgsql;

namespace Ingest.Cluster;

public sealed partial class ImportStore
{
    private const string NodeLive = "n.stopped_at IS NULL AND n.heartbeat_at + make_interval(secs => n.lease_seconds) > now()";

    /// <summary>An import's totals, summed from its units now; null when there is no such import.</summary>
    public async Task<ImportStatus?> GetStatusAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the import row and its unit sums.
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var cmd = new NpgsqlCommand(
            """
            SELECT i.name, i.state, i.error, i.submitted_at, i.started_at, i.finished_at,
                   count(u.unit_no)::int,
                   count(*) FILTER (WHERE u.state = 'done')::int,
                   count(*) FILTER (WHERE u.state = 'failed')::int,
                   count(*) FILTER (WHERE u.state = 'running')::int,
                   count(*) FILTER (WHERE u.state = 'pending')::int,
                   count(*) FILTER (WHERE u.state = 'cancelled')::int,
                   coalesce(sum(u.rows_read), 0)::bigint, coalesce(sum(u.rows_inserted), 0)::bigint,
                   coalesce(sum(u.rows_updated), 0)::bigint, coalesce(sum(u.rows_unchanged), 0)::bigint,
                   coalesce(sum(u.rows_rejected), 0)::bigint,
                   coalesce(sum(u.bytes_read), 0)::bigint, coalesce(sum(u.size_bytes), 0)::bigint,
                   coalesce(sum(u.size_bytes) FILTER (WHERE u.state IN ('done', 'failed')), 0)::bigint,
                   extract(epoch FROM coalesce(i.finished_at, now()) - i.started_at)::float8
            FROM ingest.imports i LEFT JOIN ingest.units u ON u.import_id = i.id
            WHERE i.id = $1
            GROUP BY i.id
            """, connection);
        cmd.Parameters.AddWithValue(id);
        ImportStatus status;
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken)) return null;
            var state = r.GetString(1);
            var units = new UnitCounts(r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(10), r.GetInt32(11));
            var rows = new RowCounts(r.GetInt64(12), r.GetInt64(13), r.GetInt64(14), r.GetInt64(15), r.GetInt64(16));
            var (bytesRead, bytesTotal, bytesEnded) = (r.GetInt64(17), r.GetInt64(18), r.GetInt64(19));
            var elapsed = r.IsDBNull(20) ? 0 : r.GetDouble(20);
            double? eta = null;
            if (ImportState.IsFinal(state)) eta = 0;
            else if (bytesEnded > 0 && elapsed > 0) eta = elapsed * (bytesTotal - bytesEnded) / bytesEnded;
            status = new ImportStatus(
                id, r.GetString(0), state, units, rows, bytesRead, bytesTotal,
                elapsed > 0 ? rows.Read / elapsed : 0, eta,
                r.IsDBNull(2) ? null : r.GetString(2),
                r.GetFieldValue<DateTimeOffset>(3),
                r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4),
                r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
                []);
        }
        if (status.Units.Failed == 0) return status;

        await using var failed = new NpgsqlCommand(
            "SELECT unit_no, key, attempts, error FROM ingest.units WHERE import_id = $1 AND state = 'failed' ORDER BY unit_no LIMIT 100", connection);
        failed.Parameters.AddWithValue(id);
        var list = new List<FailedUnit>();
        await using (var r = await failed.ExecuteReaderAsync(cancellationToken))
            while (await r.ReadAsync(cancellationToken))
                list.Add(new FailedUnit(r.GetInt32(0), r.GetString(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3)));
        return status with { FailedUnits = list };
    }

    /// <summary>Imports, newest first, optionally in one state.</summary>
    public async Task<IReadOnlyList<ImportSummary>> ListAsync(string? state = null, int limit = 100, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT i.id, i.name, i.state,
                   (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id)::int,
                   (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id AND u.state = 'done')::int,
                   (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id AND u.state = 'failed')::int,
                   i.submitted_at, i.finished_at
            FROM ingest.imports i
            WHERE $1::text IS NULL OR i.state = $1
            ORDER BY i.id DESC LIMIT $2
            """);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)state ?? DBNull.Value);
        cmd.Parameters.AddWithValue(limit);
        var list = new List<ImportSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new ImportSummary(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5),
                r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7)));
        return list;
    }

    /// <summary>Nodes that have not stopped cleanly, newest first, with how many units each holds.</summary>
    public async Task<IReadOnlyList<NodeInfo>> ListNodesAsync(bool liveOnly = false, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT n.id, n.host, n.pid, n.slots, n.started_at, n.heartbeat_at, {NodeLive},
                   (SELECT count(*) FROM ingest.units u WHERE u.node_id = n.id AND u.state = 'running')::int
            FROM ingest.nodes n
            WHERE n.stopped_at IS NULL AND (NOT $1 OR {NodeLive})
            ORDER BY n.started_at DESC
            LIMIT 200
            """);
        cmd.Parameters.AddWithValue(liveOnly);
        var list = new List<NodeInfo>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new NodeInfo(r.GetGuid(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3),
                r.GetFieldValue<DateTimeOffset>(4), r.GetFieldValue<DateTimeOffset>(5), r.GetBoolean(6), r.GetInt32(7)));
        return list;
    }

    /// <summary>Live nodes and imports by state.</summary>
    public async Task<ClusterStatus> GetClusterStatusAsync(CancellationToken cancellationToken = default)
    {
        var nodes = await ListNodesAsync(liveOnly: true, cancellationToken);
        await using var cmd = dataSource.CreateCommand("SELECT state, count(*)::int FROM ingest.imports GROUP BY state");
        var byState = new Dictionary<string, int>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) byState[r.GetString(0)] = r.GetInt32(1);
        return new ClusterStatus(nodes, byState);
    }
}
