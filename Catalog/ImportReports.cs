using System.Text.Json;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of reports: the catalog over a period, and one import in depth. Their numbers come from
/// the same counters as <c>status</c>.
/// </summary>
public sealed class ImportReports(NpgsqlDataSource dataSource, ImportCatalog catalog)
{
    private const int Listed = 10, Examples = 3;

    /// <summary>The imports submitted since <paramref name="since"/>.</summary>
    public async Task<OverviewReport> OverviewAsync(DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var imports = new List<ReportedImport>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT i.id, i.name, i.state,
                   coalesce(sum(c.value) FILTER (WHERE c.scope = 'rows' AND c.counter IN ('inserted', 'updated')), 0)::bigint,
                   coalesce(sum(c.value) FILTER (WHERE c.scope = 'rows' AND c.counter = 'rejected'), 0)::bigint,
                   extract(epoch FROM coalesce(i.finished_at, now()) - i.started_at)::float8, i.submitted_at, i.finished_at
            FROM ingest.imports i LEFT JOIN ingest.import_counters c ON c.import_id = i.id
            WHERE i.submitted_at >= $1
            GROUP BY i.id ORDER BY i.id DESC
            """, connection))
        {
            cmd.Parameters.AddWithValue(since);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
                imports.Add(new ReportedImport(r.GetInt64(0), r.GetString(1), StateNames.ToImportState(r.GetString(2)), r.GetInt64(3), r.GetInt64(4),
                    r.IsDBNull(5) ? null : r.GetDouble(5), r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7)));
        }

        // A relational import counts per table; a flat one's rows went to its one table.
        var rowsByTable = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(
            """
            WITH i AS (SELECT id, coalesce(spec->'target'->>'schema' || '.', '') || (spec->'target'->>'table') AS root
                       FROM ingest.imports WHERE submitted_at >= $1),
            relational AS (SELECT DISTINCT import_id FROM ingest.import_counters WHERE import_id IN (SELECT id FROM i) AND scope LIKE 'table:%')
            SELECT substr(c.scope, 7), c.value FROM ingest.import_counters c
            WHERE c.import_id IN (SELECT import_id FROM relational) AND c.scope LIKE 'table:%' AND c.counter IN ('inserted', 'updated')
            UNION ALL
            SELECT i.root, c.value FROM ingest.import_counters c JOIN i ON i.id = c.import_id
            WHERE c.import_id NOT IN (SELECT import_id FROM relational) AND c.scope = 'rows' AND c.counter IN ('inserted', 'updated')
            """, connection))
        {
            cmd.Parameters.AddWithValue(since);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
                rowsByTable[r.GetString(0)] = rowsByTable.GetValueOrDefault(r.GetString(0)) + r.GetInt64(1);
        }

        ArchiveCounts? archive = null;
        await using (var cmd = new NpgsqlCommand(
            $"""
            WITH i AS (SELECT id FROM ingest.imports WHERE submitted_at >= $1 AND jsonb_typeof(spec->'archive') = 'object')
            SELECT EXISTS (SELECT FROM i),
                   coalesce(sum(c.value) FILTER (WHERE c.counter = '{ArchiveStatus.Uploaded}'), 0)::bigint,
                   coalesce(sum(c.value) FILTER (WHERE c.counter = '{ArchiveStatus.PreExisting}'), 0)::bigint,
                   coalesce(sum(c.value) FILTER (WHERE c.counter = '{ArchiveStatus.Error}'), 0)::bigint,
                   (SELECT count(*) FROM ingest.archived_files a WHERE a.import_id IN (SELECT id FROM i) AND a.outcome = '{ArchiveStatus.Pending}')
            FROM ingest.import_counters c WHERE c.import_id IN (SELECT id FROM i) AND c.scope = '{ArchiveRegistry.CounterScope}'
            """, connection))
        {
            cmd.Parameters.AddWithValue(since);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            if (await r.ReadAsync(cancellationToken) && r.GetBoolean(0)) archive = new ArchiveCounts(r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
        }

        var byState = imports.GroupBy(i => i.State).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());
        var ended = imports.Count(i => i.State.IsFinal());
        return new OverviewReport(since, byState, ended == 0 ? null : (double)imports.Count(i => i.State == ImportState.Completed) / ended, rowsByTable,
            [.. imports.Take(Listed)],
            [.. imports.Where(i => i.State.IsFinal() && i.DurationSeconds is not null).OrderByDescending(i => i.DurationSeconds).Take(Listed)],
            [.. imports.Where(i => i.Rejected > 0).OrderByDescending(i => i.Rejected).ThenByDescending(i => i.Id).Take(Listed)], archive);
    }

    /// <summary>One import in depth; null when there is no such import.</summary>
    public async Task<ImportReport?> ImportAsync(long id, CancellationToken cancellationToken = default)
    {
        if (await catalog.GetStatusAsync(id, files: true, cancellationToken) is not { } status) return null;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        JsonElement spec;
        await using (var cmd = new NpgsqlCommand("SELECT spec::text FROM ingest.imports WHERE id = $1", connection))
        {
            cmd.Parameters.AddWithValue(id);
            spec = JsonDocument.Parse((string)(await cmd.ExecuteScalarAsync(cancellationToken))!).RootElement.Clone();
        }

        // The outbox's events (with a payload to publish) repeat the state changes already there.
        var timeline = new List<TimelineEvent>();
        await using (var cmd = new NpgsqlCommand("SELECT at, kind, unit_no, silo, message FROM ingest.events WHERE import_id = $1 AND payload IS NULL ORDER BY id", connection))
        {
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
                timeline.Add(new TimelineEvent(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt32(2),
                    r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)));
        }

        // A unit's error usually starts with its file's name: without it, errors of one cause group together.
        var errors = new List<ErrorGroup>();
        await using (var cmd = new NpgsqlCommand(
            $"""
            SELECT cause, count(*)::int, (array_agg(key ORDER BY unit_no))[1:{Examples}]
            FROM (SELECT unit_no, key, CASE WHEN starts_with(error, key || ': ') THEN substr(error, length(key) + 3) ELSE coalesce(error, '') END AS cause
                  FROM ingest.units WHERE import_id = $1 AND state = {StateSql.Unit.Failed}) f
            GROUP BY cause ORDER BY 2 DESC, 1
            """, connection))
        {
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) errors.Add(new ErrorGroup(r.GetString(0), r.GetInt32(1), r.GetFieldValue<string[]>(2)));
        }

        // A reject's reason names its line and its value: without them, rejects of one rule group together.
        var groups = new List<(string? Column, string Reason, long Count, long[] Ids)>();
        await using (var cmd = new NpgsqlCommand(
            $"""
            SELECT column_name, reason, count(*), (array_agg(id ORDER BY id))[1:{Examples}]
            FROM (SELECT id, column_name, regexp_replace(regexp_replace(reason, '^line \d+: ', ''), '"(?:[^"\\]|\\.)*"', '"…"', 'g') AS reason
                  FROM ingest.rejects WHERE import_id = $1) r
            GROUP BY column_name, reason ORDER BY 3 DESC, 2
            """, connection))
        {
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) groups.Add((r.IsDBNull(0) ? null : r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetFieldValue<long[]>(3)));
        }
        var examples = await RejectsAsync(connection, id, [.. groups.SelectMany(g => g.Ids)], cancellationToken);
        var rejects = groups.Select(g => new RejectGroup(g.Column, g.Reason, g.Count, [.. g.Ids.Select(i => examples[i])])).ToList();

        var elapsed = status.StartedAt is { } started ? ((status.FinishedAt ?? DateTimeOffset.UtcNow) - started).TotalSeconds : 0;
        var unitsPerHour = elapsed > 0 ? (status.Units.Done + status.Units.Failed) * 3600 / elapsed : 0;
        var archiveFailures = status.Archive is { Errors: > 0 } ? await ArchiveRegistry.FailuresAsync(connection, id, Listed, cancellationToken) : [];
        return new ImportReport(status, status.RowsPerSecond, unitsPerHour, spec, timeline, errors, rejects, archiveFailures,
            await ThroughputAsync(connection, id, cancellationToken));
    }

    // The run cut into (up to) 60 steps of whole seconds; each step's rate is the rows of the units that ended done in it.
    private static async Task<IReadOnlyList<RatePoint>> ThroughputAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            WITH run AS (SELECT started_at AS s, floor(extract(epoch FROM coalesce(finished_at, now()) - started_at) / 60)::int + 1 AS step
                         FROM ingest.imports WHERE id = $1 AND started_at IS NOT NULL),
            steps AS (SELECT run.s + make_interval(secs => run.step * n) AS at, run.step
                      FROM run, generate_series(0, 59) n WHERE run.s + make_interval(secs => run.step * n) <= (SELECT coalesce(finished_at, now()) FROM ingest.imports WHERE id = $1))
            SELECT steps.at, coalesce(sum(u.rows_read), 0)::float8 / steps.step
            FROM steps LEFT JOIN ingest.units u
              ON u.import_id = $1 AND u.state = {StateSql.Unit.Done} AND u.finished_at >= steps.at AND u.finished_at < steps.at + make_interval(secs => steps.step)
            GROUP BY steps.at, steps.step ORDER BY steps.at
            """, connection);
        cmd.Parameters.AddWithValue(id);
        var points = new List<RatePoint>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) points.Add(new RatePoint(r.GetFieldValue<DateTimeOffset>(0), r.GetDouble(1)));
        return points;
    }

    private static async Task<Dictionary<long, ImportCatalog.Reject>> RejectsAsync(NpgsqlConnection connection, long importId, long[] ids, CancellationToken cancellationToken)
    {
        var rejects = new Dictionary<long, ImportCatalog.Reject>();
        await using var cmd = new NpgsqlCommand(
            """
            SELECT r.id, r.unit_no, coalesce(u.descriptor->>'key', u.key, ''), r.record_index, r.column_name, r.reason, r.raw
            FROM ingest.rejects r LEFT JOIN ingest.units u ON u.import_id = r.import_id AND u.unit_no = r.unit_no
            WHERE r.import_id = $1 AND r.id = ANY($2)
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(ids);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            rejects[r.GetInt64(0)] = new ImportCatalog.Reject(r.GetInt32(1), r.GetString(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5),
                r.IsDBNull(6) ? null : r.GetString(6));
        return rejects;
    }
}
