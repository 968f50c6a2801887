using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// Imports as durable state in <c>ingest.imports</c> and <c>ingest.units</c>: what users do to them
/// (submit, pause, resume, cancel, retry), how import grains read and end them, and what status shows.
/// Each change is one guarded UPDATE, so the state machine holds whoever calls it and however often.
/// </summary>
public sealed partial class ImportCatalog(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// An import as its grain needs it; <paramref name="Planned"/> once its listing has ended;
    /// <paramref name="Continuous"/> when its units are a queue's consumers, which run until stopped.
    /// </summary>
    public sealed record ImportRow(ImportState State, int Parallelism, string? TraceParent, bool Planned, bool Continuous = false, int Priority = 0);

    /// <summary>A unit that has not ended: its state, the silo and dispatch of its claim, and its backoff.</summary>
    /// <param name="Fresh">Pending, on its first try, in no batch before, and with nothing committed: it may be batched.</param>
    /// <param name="SizeBytes">Its size, when its source says.</param>
    public sealed record OpenUnit(int UnitNo, UnitState State, string? Silo, string? Dispatch, DateTimeOffset NotBefore, bool Fresh, long? SizeBytes);

    // The source kind of a continuous import, as its stored spec writes it.
    private static readonly string ContinuousKind = System.Text.Json.JsonSerializer.Serialize(SourceKind.RabbitMq, ImportSpecJson.Options).Trim('"');

    // The first key of the advisory locks on import names (the second is the name's hash): the
    // two-key space, apart from the single-key locks on schema migrations and target tables.
    private const int ImportNameLock = 0x1A6E57;

    /// <summary>
    /// Stores a validated spec as a <c>pending</c> import and returns its id. Its import grain plans
    /// it; <paramref name="traceParent"/> is the submit's trace context, which its spans join.
    /// One import per name at a time: while one of the same name has not ended (pending, running,
    /// paused) it throws <see cref="ImportNameInUseException"/> and stores nothing, unless
    /// <see cref="SubmitOptions.Concurrent"/>. An incremental spec whose source or target changed
    /// since its name's watermark store was written throws <see cref="WatermarkScopeChangedException"/>
    /// unless the options reset the store, keep it, or ignore it for this import (<see cref="SubmitOptions.Full"/>).
    /// Submits of one name are serialised by a transaction-level advisory lock, so two at once
    /// cannot both pass the checks.
    /// </summary>
    public async Task<long> SubmitAsync(ImportSpec spec, string traceParent, SubmitOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= SubmitOptions.Default;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await LockNameAsync(connection, spec.Name, cancellationToken);
        if (!options.Concurrent && await UnfinishedAsync(connection, spec.Name, cancellationToken) is { } unfinished)
            throw new ImportNameInUseException(spec.Name, unfinished.Id, unfinished.State);
        if (spec.Source.Incremental && !(options.Reset || options.KeepState || options.Full)
            && await Watermarks.ChangesAsync(connection, spec, cancellationToken) is { Count: > 0 } changes)
            throw new WatermarkScopeChangedException(spec.Name, changes);
        if (options.Reset) await Watermarks.ResetAsync(connection, spec.Name, cancellationToken: cancellationToken);

        await using var cmd = new NpgsqlCommand(
            """
            WITH i AS (
              INSERT INTO ingest.imports (name, spec, parallelism, max_attempts, backoff_seconds, trace_parent, full_load)
              VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7) RETURNING id)
            INSERT INTO ingest.events (import_id, kind, message) SELECT id, 'submitted', $1 FROM i
            RETURNING import_id
            """, connection);
        cmd.Parameters.AddWithValue(spec.Name);
        cmd.Parameters.AddWithValue(ImportSpecJson.Serialize(spec));
        cmd.Parameters.AddWithValue(spec.Parallelism);
        cmd.Parameters.AddWithValue(spec.Retry.Attempts);
        cmd.Parameters.AddWithValue(spec.Retry.BackoffSeconds);
        cmd.Parameters.AddWithValue(traceParent);
        cmd.Parameters.AddWithValue(options.Full);
        var id = (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        await tx.CommitAsync(cancellationToken);
        return id;
    }

    // Holds the name's advisory lock for the caller's transaction: submits (and resets) of one name go one at a time.
    private static async Task LockNameAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var lockName = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1, hashtext($2))", connection);
        lockName.Parameters.AddWithValue(ImportNameLock);
        lockName.Parameters.AddWithValue(name);
        await lockName.ExecuteNonQueryAsync(cancellationToken);
    }

    // The name's advisory lock for the import's name (none when there is no such import).
    private static async Task LockNameOfAsync(NpgsqlConnection connection, long id, CancellationToken cancellationToken)
    {
        await using var name = new NpgsqlCommand("SELECT name FROM ingest.imports WHERE id = $1", connection);
        name.Parameters.AddWithValue(id);
        if (await name.ExecuteScalarAsync(cancellationToken) is string importName) await LockNameAsync(connection, importName, cancellationToken);
    }

    // The oldest import of the name that has not ended. Read committed: this statement's snapshot,
    // taken after the name's lock, sees every import of the name stored by a submit that held it before.
    private static async Task<(long Id, ImportState State)?> UnfinishedAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var unfinished = new NpgsqlCommand(
            $"SELECT id, state FROM ingest.imports WHERE name = $1 AND state IN {StateSql.Import.Unfinished} ORDER BY id LIMIT 1", connection);
        unfinished.Parameters.AddWithValue(name);
        await using var r = await unfinished.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken) ? (r.GetInt64(0), StateNames.ToImportState(r.GetString(1))) : null;
    }

    /// <summary>No new unit starts; units in flight finish.</summary>
    public Task<ChangeResult> PauseAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "paused",
        $"UPDATE ingest.imports SET state = {StateSql.Import.Paused} WHERE id = $1 AND state IN ({StateSql.Import.Pending}, {StateSql.Import.Running}) RETURNING state",
        cancellationToken);

    /// <summary>Units start again (or planning, if it was paused before planning).</summary>
    public Task<ChangeResult> ResumeAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "resumed",
        $"""
        UPDATE ingest.imports SET state = CASE WHEN started_at IS NULL THEN {StateSql.Import.Pending} ELSE {StateSql.Import.Running} END
        WHERE id = $1 AND state = {StateSql.Import.Paused} RETURNING state
        """, cancellationToken);

    /// <summary>
    /// Cancels the import: its units end <c>cancelled</c>, so attempts in flight are fenced off
    /// (their completion cannot commit) even before they are told to roll back.
    /// </summary>
    public Task<ChangeResult> CancelAsync(long id, CancellationToken cancellationToken = default) => ChangeAsync(id, "cancelled",
        $"""
        WITH i AS (
          UPDATE ingest.imports SET state = {StateSql.Import.Cancelled}, finished_at = now()
          WHERE id = $1 AND state IN {StateSql.Import.Unfinished} RETURNING id, state),
        {CancelUnits("i")}
        SELECT state FROM i
        """, cancellationToken);

    /// <summary>
    /// Reopens an import that ended <c>completed_with_errors</c> or <c>failed</c>: its failed units
    /// (and, for an import that failed, the units its failure cancelled: those its listing stored,
    /// or those still open when an error every unit would meet stopped it) are pending again with
    /// fresh attempts, from their checkpoints; the import is <c>running</c> again, or
    /// <c>pending</c> to be planned again when its listing had not ended. The totals lose what those
    /// units counted as ended, so they end exact. Not while another import of its name has not ended
    /// (<see cref="ChangeResult.Why"/> names it): one import per name runs at a time.
    /// </summary>
    public Task<ChangeResult> RetryAsync(long id, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, "retried", RetrySql, cancellationToken, LockNameOfAsync, WhyRetryIsRefusedAsync);

    // Read under the name's lock, in the retry's transaction: the import named is one that blocked it.
    private static async Task<string?> WhyRetryIsRefusedAsync(NpgsqlConnection connection, long id, ImportState? state, CancellationToken cancellationToken)
    {
        if (state is not (ImportState.Failed or ImportState.CompletedWithErrors)) return null;
        await using var name = new NpgsqlCommand("SELECT name FROM ingest.imports WHERE id = $1", connection);
        name.Parameters.AddWithValue(id);
        if (await name.ExecuteScalarAsync(cancellationToken) is not string importName
            || await UnfinishedAsync(connection, importName, cancellationToken) is not { } other) return null;
        return $"import {other.Id} named '{importName}' is {other.State.Name()}, and one import per name runs at a time: wait for it to end or cancel it, then retry";
    }

    private static readonly string RetrySql =
        $"""
        WITH i AS (
          UPDATE ingest.imports n
          SET state = CASE WHEN n.planned_at IS NULL THEN {StateSql.Import.Pending} ELSE {StateSql.Import.Running} END, error = NULL, finished_at = NULL
          FROM ingest.imports o
          WHERE n.id = $1 AND o.id = n.id AND n.state IN ({StateSql.Import.CompletedWithErrors}, {StateSql.Import.Failed})
            AND NOT EXISTS (SELECT FROM ingest.imports b WHERE b.name = n.name AND b.id <> n.id AND b.state IN {StateSql.Import.Unfinished})
          RETURNING n.id, n.state, o.state = {StateSql.Import.Failed} AS failed),
        was AS (
          SELECT u.import_id, u.unit_no, u.state, u.size_bytes FROM ingest.units u JOIN i ON i.id = u.import_id
          WHERE u.state = {StateSql.Unit.Failed} OR (i.failed AND u.state = {StateSql.Unit.Cancelled})
          FOR UPDATE OF u),
        reopened AS (
          UPDATE ingest.units u
          SET state = {StateSql.Unit.Pending}, attempts = 0, error = NULL, finished_at = NULL, not_before = now(), silo = NULL, dispatch = NULL
          FROM was WHERE u.import_id = was.import_id AND u.unit_no = was.unit_no
          RETURNING u.import_id),
        counted AS (
          INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
          SELECT import_id, 'units', state, 0, -count(*) FROM was GROUP BY import_id, state
          UNION ALL
          SELECT import_id, 'bytes', 'ended', 0, -sum(coalesce(size_bytes, 0))::bigint FROM was WHERE state = {StateSql.Unit.Failed} GROUP BY import_id
          {ImportCounters.AddOnConflict})
        SELECT state FROM i
        """;

    // CTEs that cancel the open units of the imports in CTE <paramref name="imports"/>, and count them.
    private static string CancelUnits(string imports) =>
        $"""
        u AS (
          UPDATE ingest.units SET state = {StateSql.Unit.Cancelled}, finished_at = now()
          WHERE import_id IN (SELECT id FROM {imports}) AND state IN {StateSql.Unit.Open} RETURNING import_id),
        counted AS (
          INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
          SELECT import_id, 'units', 'cancelled', 0, count(*) FROM u GROUP BY import_id
          {ImportCounters.AddOnConflict})
        """;

    private async Task<ChangeResult> ChangeAsync(long id, string eventKind, string sql, CancellationToken cancellationToken,
        Func<NpgsqlConnection, long, CancellationToken, Task>? first = null,
        Func<NpgsqlConnection, long, ImportState?, CancellationToken, Task<string?>>? whyRefused = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        if (first is not null) await first(connection, id, cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.AddWithValue(id);
        ChangeResult result;
        if ((string?)await cmd.ExecuteScalarAsync(cancellationToken) is { } changed)
        {
            await Events.WriteAsync(connection, id, null, null, eventKind, null, cancellationToken);
            result = new ChangeResult(true, StateNames.ToImportState(changed));
        }
        else
        {
            await using var current = new NpgsqlCommand("SELECT state FROM ingest.imports WHERE id = $1", connection);
            current.Parameters.AddWithValue(id);
            var now = await current.ExecuteScalarAsync(cancellationToken) is string s ? StateNames.ToImportState(s) : (ImportState?)null;
            result = new ChangeResult(false, now, whyRefused is null ? null : await whyRefused(connection, id, now, cancellationToken));
        }
        await tx.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>
    /// Ends a running import whose units have all ended: <c>completed</c>, or
    /// <c>completed_with_errors</c> when some failed. Returns the final state, or null when units
    /// are still open (or the import is not running). An import read by cursor that completes
    /// advances its name's cursor in the watermark store to the greatest its units committed, in the
    /// same transaction; one that ends with errors leaves it (the next import reads from where the
    /// last completed one did).
    /// </summary>
    public async Task<ImportState?> FinalizeAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        ImportState state;
        string name;
        bool byCursor;
        // The event's kind is the final state's name.
        await using (var cmd = new NpgsqlCommand(
            $"""
            WITH ended AS (
              UPDATE ingest.imports i
              SET state = CASE WHEN EXISTS (SELECT 1 FROM ingest.units u WHERE u.import_id = i.id AND u.state = {StateSql.Unit.Failed})
                               THEN {StateSql.Import.CompletedWithErrors} ELSE {StateSql.Import.Completed} END,
                  finished_at = now()
              WHERE i.id = $1 AND i.state = {StateSql.Import.Running} AND i.planned_at IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ingest.units u WHERE u.import_id = i.id AND u.state IN {StateSql.Unit.Open})
              RETURNING i.id, i.state, i.name, i.since IS NOT NULL AS by_cursor),
            logged AS (INSERT INTO ingest.events (import_id, kind) SELECT id, state FROM ended)
            SELECT state, name, by_cursor FROM ended
            """, connection))
        {
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await r.ReadAsync(cancellationToken)) return null;
            (state, name, byCursor) = (StateNames.ToImportState(r.GetString(0)), r.GetString(1), r.GetBoolean(2));
        }
        if (state == ImportState.Completed && byCursor)
        {
            await using var greatest = new NpgsqlCommand(
                "SELECT cursor::text FROM ingest.units WHERE import_id = $1 AND cursor IS NOT NULL ORDER BY cursor DESC LIMIT 1", connection);
            greatest.Parameters.AddWithValue(id);
            if (await greatest.ExecuteScalarAsync(cancellationToken) is string cursor)
                await Watermarks.AdvanceCursorAsync(connection, name, id, System.Text.Json.JsonDocument.Parse(cursor).RootElement.Clone(), cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return state;
    }

    /// <summary>
    /// Fails an import that could not be planned, with the reason. Units its listing stored before it
    /// failed are cancelled (attempts in flight are fenced off); those already loaded stay.
    /// </summary>
    public Task FailAsync(long id, string error, CancellationToken cancellationToken = default) =>
        FailAsync(id, error, "planned_at IS NULL AND ", cancellationToken);

    /// <summary>
    /// Fails an import at once, planned or not, with an error every unit would meet (an API refusing
    /// the credentials): its open units are cancelled (attempts in flight are fenced off); those
    /// already loaded stay.
    /// </summary>
    public Task FailRunningAsync(long id, string error, CancellationToken cancellationToken = default) =>
        FailAsync(id, error, "", cancellationToken);

    private async Task FailAsync(long id, string error, string unplanned, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            WITH failed AS (
              UPDATE ingest.imports SET state = {StateSql.Import.Failed}, error = $2, finished_at = now()
              WHERE id = $1 AND {unplanned}state IN {StateSql.Import.Unfinished} RETURNING id),
            {CancelUnits("failed")}
            INSERT INTO ingest.events (import_id, kind, message) SELECT id, 'failed', $2 FROM failed
            """);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(error);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Shows why planning is being retried (status shows it meanwhile); null clears it.</summary>
    public async Task SetErrorAsync(long id, string? error, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand($"UPDATE ingest.imports SET error = $2 WHERE id = $1 AND planned_at IS NULL AND state IN {StateSql.Import.Unfinished}");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)error ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The import's spec as stored, with the lower bound it reads from when it is read by cursor
    /// (<see cref="SourceSpec.Since"/>, fixed when its planning started); null when there is no such import.
    /// </summary>
    public async Task<ImportSpec?> GetSpecAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT spec::text, since::text FROM ingest.imports WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return null;
        return PlannedUnits.WithSince(ImportSpecJson.Deserialize(r.GetString(0)), r.IsDBNull(1) ? null : r.GetString(1));
    }

    /// <summary>The import as its grain needs it; null when there is no such import.</summary>
    public async Task<ImportRow?> GetImportAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"SELECT state, parallelism, trace_parent, planned_at IS NOT NULL, spec->'source'->>'kind' = '{ContinuousKind}', coalesce((spec->>'priority')::int, 0) FROM ingest.imports WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken)
            ? new ImportRow(StateNames.ToImportState(r.GetString(0)), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetBoolean(3), r.GetBoolean(4), r.GetInt32(5))
            : null;
    }

    /// <summary>
    /// The import's units that have not ended. With <paramref name="runningOnly"/>, only those
    /// claimed, plus any of <paramref name="also"/> (a grain checking the units it handed out).
    /// </summary>
    public async Task<IReadOnlyList<OpenUnit>> GetOpenUnitsAsync(long id, bool runningOnly = false, int[]? also = null, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT unit_no, state, silo, dispatch, greatest(not_before, now()),
                   state = {StateSql.Unit.Pending} AND attempts = 0 AND batch IS NULL AND checkpoint IS NULL, size_bytes
            FROM ingest.units
            WHERE import_id = $1 AND state IN {StateSql.Unit.Open}
              AND (NOT $2 OR state = {StateSql.Unit.Running} OR unit_no = ANY($3))
            ORDER BY unit_no
            """);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(runningOnly);
        cmd.Parameters.AddWithValue(also ?? []);
        var units = new List<OpenUnit>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            units.Add(new OpenUnit(r.GetInt32(0), StateNames.ToUnitState(r.GetString(1)), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.GetFieldValue<DateTimeOffset>(4), r.GetBoolean(5), r.IsDBNull(6) ? null : r.GetInt64(6)));
        return units;
    }

    /// <summary>Imports that have not ended (pending, running, paused).</summary>
    public async Task<IReadOnlyList<long>> GetUnfinishedImportsAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT id FROM ingest.imports WHERE state IN {StateSql.Import.Unfinished} ORDER BY id");
        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) ids.Add(r.GetInt64(0));
        return ids;
    }
}
