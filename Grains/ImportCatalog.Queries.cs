using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Grains;

public sealed partial class ImportCatalog
{

    /// <summary>An import's totals, summed from its units now; null when there is no such import.</summary>
    public async Task<ImportStatus?> GetStatusAsync(long id, CancellationToken cancellationToken = default) => await GetStatusAsync(id, files: false, cancellationToken);

    /// <summary>An import's totals and, when <paramref name="files"/>, each file's; null when there is no such import.</summary>
    public async Task<ImportStatus?> GetStatusAsync(long id, bool files, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the import row and its unit sums.
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var cmd = new NpgsqlCommand(
            $"""
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
                   extract(epoch FROM coalesce(i.finished_at, now()) - i.started_at)::float8,
                   i.trace_parent, {ConflictKinds},
                   bool_or(u.table_counts IS NOT NULL) AS has_tables, bool_or(u.quality IS NOT NULL) AS has_quality
            FROM ingest.imports i LEFT JOIN ingest.units u ON u.import_id = i.id
            WHERE i.id = $1
            GROUP BY i.id
            """, connection);
        cmd.Parameters.AddWithValue(id);
        ImportStatus status;
        bool hasTables, hasQuality;
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken)) return null;
            var state = r.GetString(1);
            var units = new UnitCounts(r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(10), r.GetInt32(11));
            var (dedup, keep) = (r.GetBoolean(22), r.GetBoolean(23));
            var rows = Rows(r.GetInt64(12), r.GetInt64(13), r.GetInt64(14), r.GetInt64(15), r.GetInt64(16), dedup, keep);
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
                [],
                IngestTracing.TraceIdOf(r.IsDBNull(21) ? null : r.GetString(21)));
            (hasTables, hasQuality) = (!r.IsDBNull(24) && r.GetBoolean(24), !r.IsDBNull(25) && r.GetBoolean(25));
        }
        // Each of these scans the import's units again: only when some unit has counts to sum.
        if (hasTables) status = status with { Tables = await TableCountsAsync(connection, id, cancellationToken) };
        if (hasQuality) status = status with { Quality = await QualityAsync(connection, id, cancellationToken) };
        if (files) status = status with { Files = await FileCountsAsync(connection, id, cancellationToken) };
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

    // Whether unchanged rows are duplicates (a dedup hash) or kept rows (onConflict: keep), from the stored spec.
    private const string ConflictKinds =
        "jsonb_typeof(i.spec->'target'->'dedup') = 'object' AS dedup, coalesce(i.spec->'target'->>'onConflict', '') = 'keep' AS keep";

    private static RowCounts Rows(long read, long inserted, long updated, long unchanged, long rejected, bool dedup, bool keep) =>
        new(read, inserted, updated, unchanged, rejected, Duplicates: dedup && !keep ? unchanged : 0, Kept: keep ? unchanged : 0);

    private static async Task<IReadOnlyList<FileCounts>> FileCountsAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT u.unit_no, u.key, u.state, u.rows_read, u.rows_inserted, u.rows_updated, u.rows_unchanged, u.rows_rejected, {ConflictKinds}
            FROM ingest.units u JOIN ingest.imports i ON i.id = u.import_id
            WHERE u.import_id = $1 ORDER BY u.unit_no
            """, connection);
        cmd.Parameters.AddWithValue(id);
        var list = new List<FileCounts>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new FileCounts(r.GetInt32(0), r.GetString(1), r.GetString(2),
                Rows(r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7), r.GetBoolean(8), r.GetBoolean(9))));
        return list;
    }

    private static async Task<QualityCounts?> QualityAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT kind, e.key, sum(e.value::bigint)::bigint
            FROM ingest.units u
            CROSS JOIN LATERAL (VALUES ('violations', u.quality->'violations'), ('defaults', u.quality->'defaults')) AS k(kind, counts)
            CROSS JOIN LATERAL jsonb_each_text(k.counts) AS e
            WHERE u.import_id = $1 AND u.quality IS NOT NULL
            GROUP BY kind, e.key ORDER BY kind, e.key
            """, connection);
        cmd.Parameters.AddWithValue(id);
        var violations = new Dictionary<string, long>(StringComparer.Ordinal);
        var defaults = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            (r.GetString(0) == "violations" ? violations : defaults)[r.GetString(1)] = r.GetInt64(2);
        return violations.Count + defaults.Count == 0 ? null : new QualityCounts(violations, defaults);
    }

    // Summed per table over the import's done units, in the order the tables first appear; null for a flat target.
    private static async Task<IReadOnlyDictionary<string, TableCounts>?> TableCountsAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT t.value->>'table', sum((t.value->>'inserted')::bigint)::bigint, sum((t.value->>'updated')::bigint)::bigint,
                   sum((t.value->>'unchanged')::bigint)::bigint, sum((t.value->>'deleted')::bigint)::bigint
            FROM ingest.units u CROSS JOIN LATERAL jsonb_array_elements(u.table_counts) WITH ORDINALITY AS t(value, ord)
            WHERE u.import_id = $1 AND u.table_counts IS NOT NULL
            GROUP BY 1 ORDER BY min(t.ord), 1
            """, connection);
        cmd.Parameters.AddWithValue(id);
        var tables = new Dictionary<string, TableCounts>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            tables[r.GetString(0)] = new TableCounts(r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
        return tables.Count == 0 ? null : tables;
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

    /// <summary>
    /// Silos from Orleans' membership table of cluster <paramref name="clusterId"/>, newest first, with
    /// how many units each has claimed. Dead silos only with <paramref name="includeDead"/>.
    /// </summary>
    /// <summary>Deletes the membership rows of silos dead for longer than <paramref name="expiration"/>; returns how many.</summary>
    public async Task<int> PruneDeadSilosAsync(string clusterId, TimeSpan expiration, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "DELETE FROM orleansmembershiptable WHERE deploymentid = $1 AND status = 6 AND iamalivetime < now() - $2");
        cmd.Parameters.AddWithValue(clusterId);
        cmd.Parameters.AddWithValue(expiration);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<SiloInfo>> ListSilosAsync(string clusterId, bool includeDead = false, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT {SiloNames.Sql("m")}, m.siloname, m.hostname, m.status, m.starttime, m.iamalivetime,
                   (SELECT count(*) FROM ingest.units u WHERE u.silo = {SiloNames.Sql("m")} AND u.state = 'running')::int
            FROM orleansmembershiptable m
            WHERE m.deploymentid = $1 AND ($2 OR m.status <> 6)
            ORDER BY m.starttime DESC, m.generation DESC
            LIMIT 500
            """);
        cmd.Parameters.AddWithValue(clusterId);
        cmd.Parameters.AddWithValue(includeDead);
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            var name = r.GetString(1);
            // Silo names end in their process id (see the silo host).
            int? pid = int.TryParse(name.AsSpan(name.LastIndexOf('-') + 1), out var p) ? p : null;
            list.Add(new SiloInfo(r.GetString(0), name, r.GetString(2), pid, StatusName(r.GetInt32(3)),
                r.GetFieldValue<DateTimeOffset>(4), r.GetFieldValue<DateTimeOffset>(5), r.GetInt32(6)));
        }
        return list;
    }

    /// <summary>
    /// Whether a silo of cluster <paramref name="clusterId"/> is active and wrote that it is alive
    /// within <paramref name="aliveWithin"/> (by the database's clock): the row of a killed silo stays
    /// active until another silo declares it dead, which nobody does when it was the last.
    /// </summary>
    public async Task<bool> AnySiloAliveAsync(string clusterId, TimeSpan aliveWithin, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT EXISTS (SELECT 1 FROM orleansmembershiptable WHERE deploymentid = $1 AND status = 3 AND iamalivetime > now() - $2)");
        cmd.Parameters.AddWithValue(clusterId);
        cmd.Parameters.AddWithValue(aliveWithin);
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    // Orleans' SiloStatus: 1 created, 2 joining, 3 active, 4 shutting down, 5 stopping, 6 dead.
    private static string StatusName(int status) => status switch
    {
        1 or 2 => "joining",
        3 => "active",
        4 or 5 => "shutting down",
        6 => "dead",
        _ => "unknown",
    };

    /// <summary>Live silos and imports by state.</summary>
    public async Task<ClusterStatus> GetClusterStatusAsync(string clusterId, CancellationToken cancellationToken = default)
    {
        var silos = await ListSilosAsync(clusterId, cancellationToken: cancellationToken);
        await using var cmd = dataSource.CreateCommand("SELECT state, count(*)::int FROM ingest.imports GROUP BY state");
        var byState = new Dictionary<string, int>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) byState[r.GetString(0)] = r.GetInt32(1);
        return new ClusterStatus(silos, byState);
    }
}
