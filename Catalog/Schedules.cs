using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>A registered schedule as <c>ingest schedule list</c> shows it.</summary>
public sealed record ScheduleInfo(string Name, string Cron, string TimeZone, bool Paused, DateTimeOffset NextAt, int Runs, int Skipped,
    DateTimeOffset? LastRunAt, long? LastImportId, DateTimeOffset? LastSkippedAt, string? LastSkip);

/// <summary>A schedule that is due: its spec and when it was due.</summary>
public sealed record DueSchedule(string Name, ImportSpec Spec, DateTimeOffset NextAt);

/// <summary>
/// The SQL of scheduled imports (<c>ingest.schedules</c>): registering, listing, pausing and removing
/// them, and, for the silos, finding those due and recording each run or skipped run.
/// </summary>
public sealed class Schedules(NpgsqlDataSource dataSource)
{
    /// <summary>Registers (or replaces) the schedule of <paramref name="spec"/>'s name, next due at <paramref name="nextAt"/>.</summary>
    public async Task AddAsync(ImportSpec spec, DateTimeOffset nextAt, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            """
            INSERT INTO ingest.schedules (name, spec, cron, time_zone, next_at) VALUES ($1, $2::jsonb, $3, $4, $5)
            ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, cron = excluded.cron, time_zone = excluded.time_zone, next_at = excluded.next_at, paused = false
            """);
        cmd.Parameters.AddWithValue(spec.Name);
        cmd.Parameters.AddWithValue(ImportSpecJson.Serialize(spec));
        cmd.Parameters.AddWithValue(spec.Schedule!);
        cmd.Parameters.AddWithValue(spec.TimeZone ?? "UTC");
        cmd.Parameters.AddWithValue(nextAt);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<ScheduleInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT name, cron, time_zone, paused, next_at, runs, skipped, last_run_at, last_import_id, last_skipped_at, last_skip FROM ingest.schedules ORDER BY name");
        var list = new List<ScheduleInfo>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            list.Add(new ScheduleInfo(r.GetString(0), r.GetString(1), r.GetString(2), r.GetBoolean(3), r.GetFieldValue<DateTimeOffset>(4), r.GetInt32(5), r.GetInt32(6),
                r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7), r.IsDBNull(8) ? null : r.GetInt64(8),
                r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetString(10)));
        return list;
    }

    /// <summary>Removes the schedule; false when there is none of that name.</summary>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("DELETE FROM ingest.schedules WHERE name = $1", name, null, cancellationToken) > 0;

    /// <summary>Pauses or resumes the schedule; false when there is none of that name.</summary>
    public async Task<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("UPDATE ingest.schedules SET paused = $2 WHERE name = $1", name, paused, cancellationToken) > 0;

    /// <summary>The schedules not paused whose time has come.</summary>
    public async Task<IReadOnlyList<DueSchedule>> DueAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT name, spec::text, next_at FROM ingest.schedules WHERE NOT paused AND next_at <= now() ORDER BY next_at");
        var due = new List<DueSchedule>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) due.Add(new DueSchedule(r.GetString(0), ImportSpecJson.Deserialize(r.GetString(1)), r.GetFieldValue<DateTimeOffset>(2)));
        return due;
    }

    /// <summary>
    /// Takes a due time: moves the schedule to its <paramref name="next"/> time if it is still due at
    /// <paramref name="due"/>, so that of several callers one runs it; true for that one.
    /// </summary>
    public async Task<bool> ClaimAsync(DueSchedule due, DateTimeOffset next, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE ingest.schedules SET next_at = $3 WHERE name = $1 AND next_at = $2 AND NOT paused");
        cmd.Parameters.AddWithValue(due.Name);
        cmd.Parameters.AddWithValue(due.NextAt);
        cmd.Parameters.AddWithValue(next);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Records a run: the import it submitted.</summary>
    public Task RecordRunAsync(string name, long importId, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE ingest.schedules SET runs = runs + 1, last_run_at = now(), last_import_id = $2 WHERE name = $1", name, importId, cancellationToken);

    /// <summary>Records a due time skipped, and why (the last run still going).</summary>
    public Task RecordSkipAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        ExecuteAsync("UPDATE ingest.schedules SET skipped = skipped + 1, last_skipped_at = now(), last_skip = $2 WHERE name = $1", name, reason, cancellationToken);

    private async Task<int> ExecuteAsync(string sql, string name, object? value, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        cmd.Parameters.AddWithValue(name);
        if (value is not null) cmd.Parameters.AddWithValue(value);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
