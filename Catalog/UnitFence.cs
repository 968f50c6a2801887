using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of a unit's attempts: the claim that counts an attempt and bumps the fencing token,
/// and every way an attempt ends (done, failed, handed back), each fenced by the claim's token;
/// and the same for a batch of small units: the mark that bumps their tokens, and their completion.
/// </summary>
public static class UnitFence
{
    /// <summary>
    /// What a claim found; <paramref name="EndedTransactions"/> counts the open transactions of the
    /// unit's lost attempt that the claim ended.
    /// </summary>
    public sealed record ClaimResult(UnitClaim? Claim, UnitEnd? NotClaimed, string? Error, int EndedTransactions = 0);

    /// <summary>What a batch's mark found: whether the import runs, and the units the batch took.</summary>
    public sealed record BatchMark(bool ImportRunning, IReadOnlyList<FencedUnit> Units);

    /// <summary>
    /// A loaded unit (or chunk), waiting to commit in its transaction: what the unit's loads did in
    /// all (<paramref name="Result"/>, which its row shows), and what this one <paramref name="Added"/>
    /// (which the import's totals add; the same for a unit loaded in one go).
    /// </summary>
    public sealed record Completion(FencedUnit Unit, UnitLoadResult Result, UnitLoadResult? Added = null)
    {
        public UnitLoadResult Added { get; } = Added ?? Result;
    }

    /// <summary>
    /// Claims a unit for an attempt on <paramref name="silo"/>: attempts + 1, token + 1, in a commit
    /// of its own (so a unit that kills its silo every time still uses up its attempts). A unit
    /// still <c>running</c> had an attempt die with its silo; on its last attempt it fails instead
    /// (a poison unit). Nothing is claimed when the unit already ended or its import is not running.
    /// The lost attempt's transaction, if still open, is ended first: a silo that froze or lost its
    /// network keeps its connections, and their locks (a row's key, the unit's row) would otherwise
    /// hold this attempt up until the server noticed, which can take hours. Its commit would be
    /// fenced off anyway.
    /// </summary>
    public static async Task<ClaimResult> ClaimAsync(NpgsqlDataSource dataSource, long importId, int unitNo, string silo, string dispatch, CancellationToken cancellationToken = default)
    {
        // The claim need not survive a server crash: a lost claim leaves the unit to be claimed
        // again, and this attempt's completion is then fenced off. So it does not wait for its WAL.
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('synchronous_commit', 'off', true)"));
        // Read without a lock, so a lost attempt that holds the unit's row cannot hold up its own end.
        // Only the same role's sessions: pg_terminate_backend refuses others, which would fail the claim.
        // The sessions are listed only when there is a lost attempt (OFFSET 0 keeps the LATERAL
        // subquery from being flattened into a join that lists them first, at every claim).
        var endLost = new NpgsqlBatchCommand(
            $"""
            SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid))::int
            FROM ingest.units u JOIN ingest.imports i ON i.id = u.import_id,
            LATERAL (SELECT a.pid FROM pg_stat_activity a
                     WHERE a.application_name = {AttemptName("u.dispatch")} AND a.usename = current_user OFFSET 0) a
            WHERE u.import_id = $1 AND u.unit_no = $2 AND u.state = {StateSql.Unit.Running} AND u.dispatch <> $3 AND i.state = {StateSql.Import.Running}
            """);
        endLost.Parameters.AddWithValue(importId);
        endLost.Parameters.AddWithValue(unitNo);
        endLost.Parameters.AddWithValue(dispatch);
        batch.BatchCommands.Add(endLost);
        var claim = new NpgsqlBatchCommand(
            $"""
            WITH cur AS (
              SELECT u.import_id, u.unit_no, u.state = {StateSql.Unit.Running} AND u.attempts >= i.max_attempts AS poisoned, i.max_attempts
              FROM ingest.units u JOIN ingest.imports i ON i.id = u.import_id
              WHERE u.import_id = $1 AND u.unit_no = $2 AND u.state IN {StateSql.Unit.Open} AND i.state = {StateSql.Import.Running}
              FOR UPDATE OF u
            ), claimed AS (
              UPDATE ingest.units u
              SET state = CASE WHEN cur.poisoned THEN {StateSql.Unit.Failed} ELSE {StateSql.Unit.Running} END,
                  attempts = CASE WHEN cur.poisoned THEN u.attempts ELSE u.attempts + 1 END,
                  fence_token = u.fence_token + 1, silo = $3, dispatch = $4, started_at = now(),
                  finished_at = CASE WHEN cur.poisoned THEN now() END,
                  error = CASE WHEN cur.poisoned
                          THEN 'the silo loading this unit stopped responding on each of its ' || u.attempts
                               || ' attempts (poison unit?)' || coalesce('; last error: ' || u.error, '')
                          ELSE u.error END
              FROM cur
              WHERE u.import_id = cur.import_id AND u.unit_no = cur.unit_no
              RETURNING u.state, u.key, u.attempts, cur.max_attempts, u.fence_token, u.error, u.descriptor::text, u.size_bytes, u.checkpoint::text,
                        u.rows_read, u.rows_inserted, u.rows_updated, u.rows_unchanged, u.rows_rejected, u.bytes_read, u.table_counts::text, u.quality::text
            ), logged AS (
              INSERT INTO ingest.events (import_id, unit_no, silo, kind, message)
              SELECT $1, $2, $3, 'unit_failed', error FROM claimed WHERE state = {StateSql.Unit.Failed}
            ), counted AS (
              {EndedCounters("claimed", "$1", "$2")}
            )
            SELECT * FROM claimed
            """);
        claim.Parameters.AddWithValue(importId);
        claim.Parameters.AddWithValue(unitNo);
        claim.Parameters.AddWithValue(silo);
        claim.Parameters.AddWithValue(dispatch);
        batch.BatchCommands.Add(claim);
        int ended;
        await using (var r = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await r.NextResultAsync(cancellationToken); // past set_config's row
            await r.ReadAsync(cancellationToken);
            ended = r.GetInt32(0);
            await r.NextResultAsync(cancellationToken);
            if (await r.ReadAsync(cancellationToken))
            {
                if (StateNames.ToUnitState(r.GetString(0)) == UnitState.Failed) return new ClaimResult(null, UnitEnd.Failed, r.GetString(5), ended);
                var unit = UnitJson.Descriptor(r.IsDBNull(6) ? null : r.GetString(6), r.GetString(1), r.IsDBNull(7) ? null : r.GetInt64(7));
                var checkpoint = UnitJson.Checkpoint(r.IsDBNull(8) ? null : r.GetString(8));
                // What its committed chunks did: this attempt's chunks add to it.
                var committed = checkpoint is null
                    ? UnitLoadResult.None
                    : new UnitLoadResult(r.GetInt64(9), new LoadCounts(r.GetInt64(10), r.GetInt64(11), r.GetInt64(12)), r.GetInt64(13), [], r.GetInt64(14),
                        UnitJson.TableCounts(r.IsDBNull(15) ? null : r.GetString(15)), UnitJson.Quality(r.IsDBNull(16) ? null : r.GetString(16))) { Checkpoint = checkpoint };
                return new ClaimResult(new UnitClaim(importId, unitNo, unit, r.GetInt32(2), r.GetInt32(3), r.GetInt64(4), checkpoint, committed), null, null, ended);
            }
        }

        // Nothing claimed: the unit ended (another attempt finished it, or a cancel), or the import is paused.
        await using var why = dataSource.CreateCommand(
            $"SELECT u.state IN {StateSql.Unit.Open} FROM ingest.units u WHERE u.import_id = $1 AND u.unit_no = $2");
        why.Parameters.AddWithValue(importId);
        why.Parameters.AddWithValue(unitNo);
        var open = (bool?)await why.ExecuteScalarAsync(cancellationToken) ?? false;
        return new ClaimResult(null, open ? UnitEnd.ImportNotRunning : UnitEnd.Superseded, null, ended);
    }

    /// <summary>
    /// Begins the transaction of an attempt (a unit's or a batch's) and names its session after the
    /// attempt's <paramref name="dispatch"/> until it ends, so that a later claim of one of its units
    /// can find it in <c>pg_stat_activity</c> and end it (see <see cref="ClaimAsync"/>).
    /// </summary>
    public static async Task<NpgsqlTransaction> BeginAttemptAsync(NpgsqlConnection connection, string dispatch, CancellationToken cancellationToken = default)
    {
        var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand($"SELECT set_config('application_name', {AttemptName("$1")}, true)", connection);
        cmd.Parameters.AddWithValue(dispatch);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        return tx;
    }

    // A CTE's INSERT that counts a unit that has just failed (a row of <paramref name="ended"/> with
    // state and size_bytes) into its import's totals.
    private static string EndedCounters(string ended, string importIdSql, string unitNoSql) =>
        $"""
        INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
        SELECT {importIdSql}, c.scope, c.counter, {ImportCounters.ShardSql(unitNoSql)}, c.value
        FROM {ended} e, LATERAL (VALUES ('bytes', 'ended', coalesce(e.size_bytes, 0)), ('units', 'failed', 1::bigint)) AS c(scope, counter, value)
        WHERE e.state = {StateSql.Unit.Failed} AND c.value <> 0
        {ImportCounters.AddOnConflict}
        """;

    // An attempt's session name, as SQL: PostgreSQL keeps a name's first 63 bytes (a dispatch is ASCII).
    private static string AttemptName(string dispatchSql) => $"left('ingest ' || {dispatchSql}, 63)";

    /// <summary>
    /// Claims pending units for a batch on <paramref name="silo"/>, in a commit of its own: each
    /// unit's token is bumped and the batch is recorded on it, but no attempt is counted (the batch's
    /// attempt counts when it commits). Only units on their first try that no batch took before are
    /// taken: one whose batch did not commit runs alone from then on, so a unit that kills its silo
    /// uses up only its own attempts, not its batch-mates'.
    /// </summary>
    public static async Task<BatchMark> MarkBatchAsync(NpgsqlDataSource dataSource, long importId, int[] units, string silo, string dispatch, CancellationToken cancellationToken = default)
    {
        // Like a claim, the mark need not survive a server crash: the batch's completion is then fenced off.
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('synchronous_commit', 'off', true)"));
        var mark = new NpgsqlBatchCommand(
            $"""
            WITH import AS (
              SELECT state = {StateSql.Import.Running} AS running FROM ingest.imports WHERE id = $1
            ), marked AS (
              UPDATE ingest.units u
              SET state = {StateSql.Unit.Running}, fence_token = u.fence_token + 1, batch = $4, silo = $3, dispatch = $4, started_at = now()
              FROM import
              WHERE import.running AND u.import_id = $1 AND u.unit_no BETWEEN $5 AND $6 AND u.unit_no = ANY($2)
                AND u.state = {StateSql.Unit.Pending} AND u.attempts = 0 AND u.batch IS NULL AND u.checkpoint IS NULL
              RETURNING u.unit_no, u.key, u.fence_token, u.descriptor::text, u.size_bytes
            )
            SELECT coalesce((SELECT running FROM import), false), m.unit_no, m.key, m.fence_token, m.descriptor, m.size_bytes
            FROM (SELECT) one LEFT JOIN marked m ON true
            ORDER BY m.unit_no
            """);
        mark.Parameters.AddWithValue(importId);
        mark.Parameters.AddWithValue(units);
        mark.Parameters.AddWithValue(silo);
        mark.Parameters.AddWithValue(dispatch);
        // The range lets the index find the batch's units whatever the statistics say: while units are
        // still being stored, they hold none of the import's, and a scan of its open units looks cheap.
        mark.Parameters.AddWithValue(units.Min());
        mark.Parameters.AddWithValue(units.Max());
        batch.BatchCommands.Add(mark);
        var running = false;
        var members = new List<FencedUnit>(units.Length);
        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await r.NextResultAsync(cancellationToken); // past set_config's row
        while (await r.ReadAsync(cancellationToken))
        {
            running = r.GetBoolean(0);
            if (!r.IsDBNull(1))
                members.Add(new FencedUnit(r.GetInt32(1), UnitJson.Descriptor(r.IsDBNull(4) ? null : r.GetString(4), r.GetString(2), r.IsDBNull(5) ? null : r.GetInt64(5)), r.GetInt64(3)));
        }
        return new BatchMark(running, members);
    }

    /// <summary>
    /// Gives a rolled-back batch's units back, <c>pending</c> again and no attempt used: to be
    /// batched again when <paramref name="rebatch"/> (their silo stopped), else to run alone (the
    /// batch failed). Units another attempt took since the mark are left alone.
    /// </summary>
    public static async Task ReleaseBatchAsync(NpgsqlDataSource dataSource, long importId, IReadOnlyList<FencedUnit> units, bool rebatch, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            UPDATE ingest.units u
            SET state = {StateSql.Unit.Pending}, silo = NULL, dispatch = NULL, not_before = '-infinity', batch = CASE WHEN $4 THEN NULL ELSE u.batch END
            FROM unnest($2::int[], $3::bigint[]) AS v(unit_no, token)
            WHERE u.import_id = $1 AND u.unit_no = v.unit_no AND u.fence_token = v.token AND u.state = {StateSql.Unit.Running}
            """);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(units.Select(u => u.UnitNo).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Token).ToArray());
        cmd.Parameters.AddWithValue(rebatch);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Inside the transaction that loaded a chunk of the unit's rows: stores the chunk's rejects, and
    /// the unit's checkpoint and counts so far (<paramref name="loaded"/>: its committed chunks and
    /// this one), fenced by its token and by the checkpoint the chunk started from
    /// (<paramref name="from"/>), so that a chunk tried again after its commit's answer was lost
    /// cannot commit twice. The unit's cursor (an incremental import read by cursor) becomes the greater
    /// of its own and the chunk's. The unit stays <c>running</c>. Returns false when fenced off: the caller
    /// must then roll back (and may ask <see cref="StandingAsync"/> whether the chunk is in already).
    /// </summary>
    public static async Task<bool> CommitChunkAsync(NpgsqlConnection connection, long importId, Completion loaded, UnitCheckpoint? from, CancellationToken cancellationToken = default)
    {
        await StoreRejectsAsync(connection, importId, [loaded], cancellationToken);
        await using var cmd = new NpgsqlCommand(
            $"""
            UPDATE ingest.units u
            SET checkpoint = $4::jsonb, rows_read = $5, rows_inserted = $6, rows_updated = $7, rows_unchanged = $8,
                rows_rejected = $9, bytes_read = $10, table_counts = $11::jsonb, quality = $12::jsonb, cursor = greatest(u.cursor, $14::jsonb)
            WHERE u.import_id = $1 AND u.unit_no = $2 AND u.fence_token = $3 AND u.state = {StateSql.Unit.Running} AND u.checkpoint IS NOT DISTINCT FROM $13::jsonb
            """, connection);
        var (unit, result) = (loaded.Unit, loaded.Result);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(unit.UnitNo);
        cmd.Parameters.AddWithValue(unit.Token);
        cmd.Parameters.AddWithValue(UnitJson.Checkpoint(result.Checkpoint ?? throw new ArgumentException("a chunk ends at a checkpoint", nameof(loaded))));
        cmd.Parameters.AddWithValue(result.RowsRead);
        cmd.Parameters.AddWithValue(result.Counts.Inserted);
        cmd.Parameters.AddWithValue(result.Counts.Updated);
        cmd.Parameters.AddWithValue(result.Counts.Unchanged);
        cmd.Parameters.AddWithValue(result.Rejected);
        cmd.Parameters.AddWithValue(result.BytesRead);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)UnitJson.TableCounts(result) ?? DBNull.Value);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)UnitJson.Quality(result) ?? DBNull.Value);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, from is null ? DBNull.Value : UnitJson.Checkpoint(from));
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)loaded.Added.Cursor?.GetRawText() ?? DBNull.Value);
        if (await cmd.ExecuteNonQueryAsync(cancellationToken) != 1) return false;
        await ImportCounters.AddAsync(connection, importId, unit.UnitNo, ImportCounters.Loaded(loaded.Added), cancellationToken);
        return true;
    }

    /// <summary>
    /// Inside the transaction that loaded the units' rows (or a unit's last chunk): stores their
    /// rejects and marks them all <c>done</c> with their counts, each fenced by its token (per-table
    /// counts, which a unit keeps only to resume its chunks, go: the import's counters hold them), and
    /// each unit's cursor the greater of its own and its last load's. A
    /// <paramref name="batched"/> unit's attempt counts now, as it commits.
    /// Returns false when any unit was fenced off (another attempt took it, or the import was
    /// cancelled): the caller must then roll back, so no row is loaded twice.
    /// </summary>
    public static async Task<bool> CompleteAsync(NpgsqlConnection connection, long importId, IReadOnlyList<Completion> units, bool batched, CancellationToken cancellationToken = default)
    {
        await StoreRejectsAsync(connection, importId, units, cancellationToken);

        // Last statement before COMMIT: the unit rows stay locked for as short a time as possible.
        await using var cmd = new NpgsqlCommand(
            $"""
            UPDATE ingest.units u
            SET state = {StateSql.Unit.Done}, error = NULL, finished_at = now(), attempts = u.attempts + $2::int, checkpoint = NULL,
                rows_read = v.rows_read, rows_inserted = v.inserted, rows_updated = v.updated, rows_unchanged = v.unchanged,
                rows_rejected = v.rejected, bytes_read = v.bytes_read, table_counts = NULL, quality = v.quality, cursor = greatest(u.cursor, v.cursor)
            FROM unnest($3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::jsonb[], $12::jsonb[])
                 AS v(unit_no, token, rows_read, inserted, updated, unchanged, rejected, bytes_read, quality, cursor)
            WHERE u.import_id = $1 AND u.unit_no = v.unit_no AND u.fence_token = v.token AND u.state = {StateSql.Unit.Running}
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(batched);
        cmd.Parameters.AddWithValue(units.Select(u => u.Unit.UnitNo).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Unit.Token).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.RowsRead).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.Counts.Inserted).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.Counts.Updated).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.Counts.Unchanged).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.Rejected).ToArray());
        cmd.Parameters.AddWithValue(units.Select(u => u.Result.BytesRead).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = units.Select(u => UnitJson.Quality(u.Result)).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = units.Select(u => u.Added.Cursor?.GetRawText()).ToArray() });
        if (await cmd.ExecuteNonQueryAsync(cancellationToken) != units.Count) return false;
        await ImportCounters.AddAsync(connection, importId, units[0].Unit.UnitNo,
            units.SelectMany(u => ImportCounters.Loaded(u.Added)).Concat([
                new("units", "done", units.Count),
                new("bytes", "ended", units.Sum(u => u.Unit.Unit.Length ?? 0))]),
            cancellationToken);
        return true;
    }

    internal static async Task StoreRejectsAsync(NpgsqlConnection connection, long importId, IReadOnlyList<Completion> units, CancellationToken cancellationToken)
    {
        if (units.Any(u => u.Result.Rejects.Count > 0))
        {
            await using var copy = await connection.BeginBinaryImportAsync(
                "COPY ingest.rejects (import_id, unit_no, record_index, column_name, reason, raw) FROM STDIN (FORMAT BINARY)", cancellationToken);
            foreach (var unit in units)
            foreach (var reject in unit.Result.Rejects)
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(importId, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(unit.Unit.UnitNo, NpgsqlDbType.Integer, cancellationToken);
                await copy.WriteAsync(reject.RecordIndex, NpgsqlDbType.Bigint, cancellationToken);
                if (reject.Column is null) await copy.WriteNullAsync(cancellationToken);
                else await copy.WriteAsync(reject.Column, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(reject.Reason, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(reject.Raw, NpgsqlDbType.Text, cancellationToken);
            }
            await copy.CompleteAsync(cancellationToken);
        }
    }

    /// <summary>Where a unit stands now: its fencing token, its state and its checkpoint; null when there is no such unit.</summary>
    public static async Task<(long Token, UnitState State, UnitCheckpoint? Checkpoint)?> StandingAsync(NpgsqlDataSource dataSource, long importId, int unitNo, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT fence_token, state, checkpoint::text FROM ingest.units WHERE import_id = $1 AND unit_no = $2");
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(unitNo);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return null;
        return (r.GetInt64(0), StateNames.ToUnitState(r.GetString(1)), UnitJson.Checkpoint(r.IsDBNull(2) ? null : r.GetString(2)));
    }

    /// <summary>
    /// Records a failed attempt: back to <c>pending</c> after an exponential backoff while attempts
    /// remain, else (or when <paramref name="terminal"/>) <c>failed</c> with the error kept.
    /// Returns how the attempt ended (<see cref="UnitEnd.Superseded"/> when fenced off) and, for a
    /// retry, when the next attempt may start.
    /// </summary>
    public static async Task<(UnitEnd End, DateTimeOffset? NotBefore)> FailAsync(NpgsqlDataSource dataSource, UnitClaim claim, string error, bool terminal, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            WITH failed AS (
              UPDATE ingest.units u
              SET state = CASE WHEN $4 OR u.attempts >= i.max_attempts THEN {StateSql.Unit.Failed} ELSE {StateSql.Unit.Pending} END,
                  not_before = now() + make_interval(secs => i.backoff_seconds * power(2, u.attempts - 1)),
                  finished_at = CASE WHEN $4 OR u.attempts >= i.max_attempts THEN now() END,
                  error = $5, silo = NULL, dispatch = NULL
              FROM ingest.imports i
              WHERE i.id = u.import_id AND u.import_id = $1 AND u.unit_no = $2 AND u.fence_token = $3 AND u.state = {StateSql.Unit.Running}
              RETURNING u.state, u.not_before, u.size_bytes
            ), logged AS (
              INSERT INTO ingest.events (import_id, unit_no, kind, message)
              SELECT $1, $2, CASE WHEN state = {StateSql.Unit.Failed} THEN 'unit_failed' ELSE 'unit_retry' END, $6 FROM failed
            ), counted AS (
              {EndedCounters("failed", "$1", "$2")}
            )
            SELECT state, not_before FROM failed
            """);
        cmd.Parameters.AddWithValue(claim.ImportId);
        cmd.Parameters.AddWithValue(claim.UnitNo);
        cmd.Parameters.AddWithValue(claim.Token);
        cmd.Parameters.AddWithValue(terminal);
        cmd.Parameters.AddWithValue(error);
        cmd.Parameters.AddWithValue($"attempt {claim.Attempt}/{claim.MaxAttempts}: {error}");
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return (UnitEnd.Superseded, null);
        return StateNames.ToUnitState(r.GetString(0)) == UnitState.Failed ? (UnitEnd.Failed, null) : (UnitEnd.RetryLater, r.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>
    /// Hands a unit back from a silo that is stopping: <c>pending</c> again at once, and the attempt
    /// does not count, since the unit did not fail. Returns false when fenced off.
    /// </summary>
    public static async Task<bool> HandBackAsync(NpgsqlDataSource dataSource, UnitClaim claim, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            UPDATE ingest.units SET state = {StateSql.Unit.Pending}, attempts = attempts - 1, silo = NULL, dispatch = NULL, not_before = '-infinity'
            WHERE import_id = $1 AND unit_no = $2 AND fence_token = $3 AND state = {StateSql.Unit.Running}
            """);
        cmd.Parameters.AddWithValue(claim.ImportId);
        cmd.Parameters.AddWithValue(claim.UnitNo);
        cmd.Parameters.AddWithValue(claim.Token);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }
}
