using Ingest.GrainInterfaces;
using Npgsql;
using Ingest.Engine;

namespace Ingest.Catalog;

public sealed partial class ImportCatalog
{
    /// <summary>A rejected record as kept: its unit and file, its index, the column and why, and its text as the source held it.</summary>
    public sealed record Reject(int UnitNo, string File, long RecordIndex, string? Column, string Reason, string? Raw);

    /// <summary>An import's rejects in the order they were kept, streamed.</summary>
    public async IAsyncEnumerable<Reject> ReadRejectsAsync(long id, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT r.unit_no, coalesce(u.descriptor->>'key', u.key, ''), r.record_index, r.column_name, r.reason, r.raw
            FROM ingest.rejects r LEFT JOIN ingest.units u ON u.import_id = r.import_id AND u.unit_no = r.unit_no
            WHERE r.import_id = $1 ORDER BY r.id
            """);
        cmd.Parameters.AddWithValue(id);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            yield return new Reject(r.GetInt32(0), r.GetString(1), r.GetInt64(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5));
    }

    /// <summary>An import's totals, from its counters; null when there is no such import.</summary>
    public async Task<ImportStatus?> GetStatusAsync(long id, CancellationToken cancellationToken = default) => await GetStatusAsync(id, files: false, cancellationToken);

    /// <summary>
    /// An import's totals and, when <paramref name="files"/>, each file's (and the files it skipped); null when there is no such
    /// import. The totals are the import's counters (<see cref="ImportCounters"/>), and the units it
    /// reads are its running and failed ones, each by an index of theirs: the cost of a status does
    /// not grow with the import's units.
    /// </summary>
    public async Task<ImportStatus?> GetStatusAsync(long id, bool files, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for the import row, its counters and its running units.
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT i.name, i.state, i.error, i.submitted_at, i.started_at, i.finished_at,
                   extract(epoch FROM coalesce(i.finished_at, now()) - i.started_at)::float8,
                   i.trace_parent, {ConflictKinds},
                   (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id AND u.state = {StateSql.Unit.Running})::int,
                   i.spec->'source'->>'kind' = '{ContinuousKind}', i.backlog, i.since::text,
                   jsonb_typeof(i.spec->'archive') = 'object',
                   (SELECT count(*) FROM ingest.archived_files a WHERE a.import_id = i.id AND a.outcome = '{ArchiveStatus.Pending}'),
                   jsonb_typeof(i.spec->'notify') = 'array' AND jsonb_array_length(i.spec->'notify') > 0
            FROM ingest.imports i
            WHERE i.id = $1
            """, connection);
        cmd.Parameters.AddWithValue(id);
        ImportStatus status;
        ImportState state;
        double elapsed;
        bool dedup, keep, archives, notifies;
        int running;
        bool queue;
        long? backlog;
        long archiving;
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken)) return null;
            state = StateNames.ToImportState(r.GetString(1));
            elapsed = r.IsDBNull(6) ? 0 : r.GetDouble(6);
            (dedup, keep, running) = (r.GetBoolean(8), r.GetBoolean(9), r.GetInt32(10));
            (queue, backlog) = (r.GetBoolean(11), r.IsDBNull(12) ? null : r.GetInt64(12));
            (archives, archiving, notifies) = (r.GetBoolean(14), r.GetInt64(15), !r.IsDBNull(16) && r.GetBoolean(16));
            status = new ImportStatus(
                id, r.GetString(0), state, new UnitCounts(0, 0, 0, running, 0, 0), Rows(0, 0, 0, 0, 0, dedup, keep), 0, 0, 0, null,
                r.IsDBNull(2) ? null : r.GetString(2),
                r.GetFieldValue<DateTimeOffset>(3),
                r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4),
                r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
                [],
                IngestTracing.TraceIdOf(r.IsDBNull(7) ? null : r.GetString(7)))
            {
                Since = r.IsDBNull(13) ? null : System.Text.Json.JsonDocument.Parse(r.GetString(13)).RootElement.Clone(),
            };
        }
        var totals = await ImportCounters.ReadAsync(connection, id, cancellationToken);
        long Total(string scope, string counter) => totals.GetValueOrDefault((scope, counter));
        var (all, done, failed, cancelled) = (Total("units", "total"), Total("units", "done"), Total("units", "failed"), Total("units", "cancelled"));
        var rows = Rows(Total("rows", "read"), Total("rows", "inserted"), Total("rows", "updated"), Total("rows", "unchanged"), Total("rows", "rejected"), dedup, keep);
        var (bytesTotal, bytesEnded) = (Total("bytes", "total"), Total("bytes", "ended"));
        // By bytes while every unit's size is known; by units otherwise (an API's pages, a query's ranges).
        double? eta = null;
        if (state.IsFinal()) eta = 0;
        else if (elapsed > 0 && Total("units", "unsized") == 0 && bytesEnded > 0) eta = elapsed * (bytesTotal - bytesEnded) / bytesEnded;
        else if (elapsed > 0 && done + failed > 0) eta = elapsed * (all - done - failed - cancelled) / (done + failed);
        status = status with
        {
            Units = new UnitCounts((int)all, (int)done, (int)failed, running, (int)Math.Max(0, all - done - failed - cancelled - running), (int)cancelled),
            Rows = rows,
            BytesRead = Total("bytes", "read"),
            BytesTotal = bytesTotal,
            RowsPerSecond = elapsed > 0 ? rows.Read / elapsed : 0,
            EtaSeconds = eta,
        };
        if (totals.Keys.Any(k => k.Scope.StartsWith("table:", StringComparison.Ordinal)))
            status = status with { Tables = await TableCountsAsync(connection, id, totals, cancellationToken) };
        if (totals.Keys.Any(k => k.Scope is "violations" or "defaults"))
            status = status with { Quality = QualityOf(totals) };
        status = status with
        {
            Files = files
                ? new FileTotals(Total("files", "skipped"), await FileCountsAsync(connection, id, cancellationToken), await SkippedFilesAsync(connection, id, cancellationToken))
                : new FileTotals(Total("files", "skipped")),
        };
        if (queue)
        {
            var (consumed, duplicate, redelivered) = (Total("messages", "consumed"), Total("messages", "duplicate"), Total("messages", "redelivered"));
            status = status with
            {
                Messages = new MessageStatus(consumed, duplicate, redelivered, Total("messages", "rejected"), Total("messages", "deadLettered"),
                    await ConsumersAsync(connection, id, cancellationToken), backlog, elapsed > 0 ? (consumed + duplicate + redelivered) / elapsed : 0),
            };
        }
        if (archives)
            status = status with
            {
                Archive = new ArchiveCounts(Total(ArchiveRegistry.CounterScope, ArchiveStatus.Uploaded), Total(ArchiveRegistry.CounterScope, ArchiveStatus.PreExisting),
                    Total(ArchiveRegistry.CounterScope, ArchiveStatus.Error), archiving),
            };
        if (notifies) status = status with { Notify = await NotifyAsync(connection, id, cancellationToken) };
        if (status.Units.Failed == 0) return status;

        await using var failedUnits = new NpgsqlCommand(
            $"SELECT unit_no, key, attempts, error FROM ingest.units WHERE import_id = $1 AND state = {StateSql.Unit.Failed} ORDER BY unit_no LIMIT 100", connection);
        failedUnits.Parameters.AddWithValue(id);
        var list = new List<FailedUnit>();
        await using (var r = await failedUnits.ExecuteReaderAsync(cancellationToken))
            while (await r.ReadAsync(cancellationToken))
                list.Add(new FailedUnit(r.GetInt32(0), r.GetString(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3)));
        return status with { FailedUnits = list };
    }

    // The import's events by what the outbox did with them, and the latest error of one not sent.
    private static async Task<NotifyStatus> NotifyAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT count(*) FILTER (WHERE e.sent_at IS NOT NULL), count(*) FILTER (WHERE {Outbox.Unsent}), count(*) FILTER (WHERE e.given_up_at IS NOT NULL),
                   (array_agg(e.publish_error ORDER BY e.id DESC) FILTER (WHERE e.sent_at IS NULL AND e.publish_error IS NOT NULL))[1]
            FROM ingest.events e WHERE e.import_id = $1 AND e.payload IS NOT NULL
            """, connection);
        cmd.Parameters.AddWithValue(id);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        return new NotifyStatus(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.IsDBNull(3) ? null : r.GetString(3));
    }

    // A queue's consumers running, by silo: its running units, bounded by its parallelism.
    private static async Task<IReadOnlyDictionary<string, int>> ConsumersAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            $"SELECT silo, count(*)::int FROM ingest.units WHERE import_id = $1 AND state = {StateSql.Unit.Running} AND silo IS NOT NULL GROUP BY silo ORDER BY silo", connection);
        cmd.Parameters.AddWithValue(id);
        var consumers = new SortedDictionary<string, int>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) consumers[r.GetString(0)] = r.GetInt32(1);
        return consumers;
    }

    // Whether unchanged rows are duplicates (a dedup hash) or kept rows (onConflict: keep), from the stored spec.
    private const string ConflictKinds =
        "jsonb_typeof(i.spec->'target'->'dedup') = 'object' AS dedup, coalesce(i.spec->'target'->>'onConflict', '') = 'keep' AS keep";

    private static RowCounts Rows(long read, long inserted, long updated, long unchanged, long rejected, bool dedup, bool keep) =>
        new(read, inserted, updated, unchanged, rejected, Duplicates: dedup && !keep ? unchanged : 0, Kept: keep ? unchanged : 0);

    private static async Task<IReadOnlyList<FileCounts>> FileCountsAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        // A file split into ranges is one line: its units' counts added up.
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT min(u.unit_no), coalesce(u.descriptor->>'key', u.key) AS file, array_agg(DISTINCT u.state), count(*)::int,
                   sum(u.rows_read)::bigint, sum(u.rows_inserted)::bigint, sum(u.rows_updated)::bigint, sum(u.rows_unchanged)::bigint, sum(u.rows_rejected)::bigint,
                   k.dedup, k.keep
            FROM ingest.units u CROSS JOIN (SELECT {ConflictKinds} FROM ingest.imports i WHERE i.id = $1) k
            WHERE u.import_id = $1
            GROUP BY file, k.dedup, k.keep
            ORDER BY 1
            """, connection);
        cmd.Parameters.AddWithValue(id);
        var list = new List<FileCounts>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new FileCounts(r.GetInt32(0), r.GetString(1), FileCounts.StateOf(r.GetFieldValue<string[]>(2).Select(StateNames.ToUnitState).ToList()),
                Rows(r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7), r.GetInt64(8), r.GetBoolean(9), r.GetBoolean(10)), r.GetInt32(3)));
        return list;
    }

    private static async Task<IReadOnlyList<SkippedFile>> SkippedFilesAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("SELECT key, version, size_bytes, committed_by FROM ingest.skipped_files WHERE import_id = $1 ORDER BY key", connection);
        cmd.Parameters.AddWithValue(id);
        var list = new List<SkippedFile>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new SkippedFile(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetInt64(2), r.IsDBNull(3) ? null : r.GetInt64(3)));
        return list;
    }

    private static QualityCounts? QualityOf(Dictionary<(string Scope, string Counter), long> totals)
    {
        var violations = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var defaults = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var ((scope, counter), value) in totals)
            if (value != 0 && scope is "violations" or "defaults") (scope == "violations" ? violations : defaults)[counter] = value;
        return violations.Count + defaults.Count == 0 ? null : new QualityCounts(violations, defaults);
    }

    // Per table, in the order planning stored (the root, its descendants, the dimensions); null for a flat target.
    private static async Task<IReadOnlyDictionary<string, TableCounts>?> TableCountsAsync(NpgsqlConnection connection, long id,
        Dictionary<(string Scope, string Counter), long> totals, CancellationToken cancellationToken)
    {
        var order = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT unnest(tables) FROM ingest.imports WHERE id = $1", connection))
        {
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) order.Add(r.GetString(0));
        }
        var names = totals.Keys.Where(k => k.Scope.StartsWith("table:", StringComparison.Ordinal)).Select(k => k.Scope["table:".Length..]).Distinct()
            .OrderBy(t => order.IndexOf(t) is var i and >= 0 ? i : int.MaxValue).ThenBy(t => t, StringComparer.Ordinal);
        var tables = new Dictionary<string, TableCounts>(StringComparer.Ordinal);
        foreach (var table in names)
        {
            long Count(string counter) => totals.GetValueOrDefault(($"table:{table}", counter));
            tables[table] = new TableCounts(Count("inserted"), Count("updated"), Count("unchanged"), Count("deleted"));
        }
        return tables.Count == 0 ? null : tables;
    }

    /// <summary>Imports, newest first, optionally in one state, or with <paramref name="nameContains"/> in their names (any case).</summary>
    public async Task<IReadOnlyList<ImportSummary>> ListAsync(ImportState? state = null, int limit = 100, string? nameContains = null, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT i.id, i.name, i.state,
                   (SELECT coalesce(sum(c.value) FILTER (WHERE c.counter = 'total'), 0) FROM ingest.import_counters c WHERE c.import_id = i.id AND c.scope = 'units')::int,
                   (SELECT coalesce(sum(c.value) FILTER (WHERE c.counter = 'done'), 0) FROM ingest.import_counters c WHERE c.import_id = i.id AND c.scope = 'units')::int,
                   (SELECT coalesce(sum(c.value) FILTER (WHERE c.counter = 'failed'), 0) FROM ingest.import_counters c WHERE c.import_id = i.id AND c.scope = 'units')::int,
                   i.submitted_at, i.finished_at
            FROM ingest.imports i
            WHERE ($1::text IS NULL OR i.state = $1) AND ($3::text IS NULL OR strpos(lower(i.name), lower($3)) > 0)
            ORDER BY i.id DESC LIMIT $2
            """);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)state?.Name() ?? DBNull.Value);
        cmd.Parameters.AddWithValue(limit);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)nameContains ?? DBNull.Value);
        var list = new List<ImportSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new ImportSummary(r.GetInt64(0), r.GetString(1), StateNames.ToImportState(r.GetString(2)), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5),
                r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7)));
        return list;
    }

    /// <summary>Deletes the membership rows of silos dead for longer than <paramref name="expiration"/>; returns how many.</summary>
    public async Task<int> PruneDeadSilosAsync(string clusterId, TimeSpan expiration, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "DELETE FROM orleansmembershiptable WHERE deploymentid = $1 AND status = 6 AND iamalivetime < now() - $2");
        cmd.Parameters.AddWithValue(clusterId);
        cmd.Parameters.AddWithValue(expiration);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Silos from Orleans' membership table of cluster <paramref name="clusterId"/>, newest first, with
    /// how many units each has claimed. Dead silos only with <paramref name="includeDead"/>.
    /// </summary>
    public async Task<IReadOnlyList<SiloInfo>> ListSilosAsync(string clusterId, bool includeDead = false, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT {SiloName}, m.siloname, m.hostname, m.status, m.starttime, m.iamalivetime,
                   (SELECT count(*) FROM ingest.units u WHERE u.silo = {SiloName} AND u.state = {StateSql.Unit.Running})::int
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

    // A silo's name in our tables (ip:port@generation, as the grains write it) from its membership row m.
    private const string SiloName = "m.address || ':' || m.port || '@' || m.generation";

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
        var byState = new Dictionary<ImportState, int>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) byState[StateNames.ToImportState(r.GetString(0))] = r.GetInt32(1);
        return new ClusterStatus(silos, byState);
    }
}
