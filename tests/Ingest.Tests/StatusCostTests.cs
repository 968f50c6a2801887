using Ingest.Catalog;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// What a status costs does not grow with the import's units, measured without a clock: the rows
/// and blocks of <c>ingest.units</c> (and its indexes) that PostgreSQL's statistics say it read.
/// </summary>
public class StatusCostTests(ITestOutputHelper output)
{
    // What one call read of ingest.units: index entries and rows scanned, and heap and index blocks touched.
    private readonly record struct Read(long Rows, long Blocks);

    [Fact]
    public async Task A_status_reads_no_more_of_the_units_for_10_000_units_than_for_200()
    {
        await using var db = await TestDatabase.CreateAsync();
        // Every statement on the units runs on this one session, whose statistics are flushed on demand:
        // none can arrive late from another session and land in a measure.
        await using var session = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(db.ConnectionString) { MaxPoolSize = 1 }.ConnectionString);
        var catalog = new ImportCatalog(session);
        // Nor from autovacuum, whose reads of the table count in the same statistics.
        await ExecuteAsync(session, "ALTER TABLE ingest.units SET (autovacuum_enabled = false)");
        var small = await RunningImportAsync(db, session, units: 200);
        var large = await RunningImportAsync(db, session, units: 10_000);
        // As after planning (which analyzes the units) and autovacuum.
        await ExecuteAsync(session, "VACUUM ANALYZE ingest.units");

        var (smallStatus, largeStatus) = (await ReadByAsync(session, () => catalog.GetStatusAsync(small)), await ReadByAsync(session, () => catalog.GetStatusAsync(large)));
        output.WriteLine($"a status read {smallStatus} of the units for 200 units, {largeStatus} for 10,000");
        Assert.True(largeStatus.Rows <= 2 * smallStatus.Rows + 10 && largeStatus.Blocks <= 2 * smallStatus.Blocks + 10,
            $"a status read {largeStatus} of the units for 10,000 units, {smallStatus} for 200");

        // The measure sees a statement that reads every unit: what a status summing the units would do.
        Task SumUnitsAsync(long id) => ExecuteAsync(session, $"SELECT sum(rows_read) FROM ingest.units WHERE import_id = {id}");
        var (smallSum, largeSum) = (await ReadByAsync(session, () => SumUnitsAsync(small)), await ReadByAsync(session, () => SumUnitsAsync(large)));
        output.WriteLine($"summing the units read {smallSum} for 200 units, {largeSum} for 10,000");
        Assert.True(largeSum.Rows >= 10_000 && largeSum.Rows > 2 * smallSum.Rows + 10, $"summing the units read {largeSum} for 10,000 units, {smallSum} for 200");
    }

    // An import three quarters through its units, as a run leaves it: most done, three failed, four
    // running (its parallelism), the rest pending; every shard of its counters written.
    private static async Task<long> RunningImportAsync(TestDatabase db, NpgsqlDataSource session, int units)
    {
        var id = await db.StoreAsync(Specs.Files("/nowhere", parallelism: 4, name: $"{units}-units"));
        var ended = units * 3 / 4;
        await ExecuteAsync(session, $"""
            UPDATE ingest.imports SET state = {StateSql.Import.Running}, started_at = now() - interval '1 minute', planned_at = now() WHERE id = {id};
            INSERT INTO ingest.units (import_id, unit_no, key, size_bytes, state, attempts, silo, dispatch, rows_read)
            SELECT {id}, n, 'page-' || n || '.json', 1000,
                   CASE WHEN n IN (7, 77, 107) THEN {StateSql.Unit.Failed} WHEN n < {ended} THEN {StateSql.Unit.Done}
                        WHEN n < {ended + 4} THEN {StateSql.Unit.Running} ELSE {StateSql.Unit.Pending} END,
                   CASE WHEN n < {ended + 4} THEN 1 ELSE 0 END,
                   CASE WHEN n >= {ended} AND n < {ended + 4} THEN '127.0.0.1:1@1' END,
                   CASE WHEN n >= {ended} AND n < {ended + 4} THEN '{id}/' || n || '/attempt' END,
                   CASE WHEN n < {ended} THEN 50 ELSE 0 END
            FROM generate_series(0, {units - 1}) n;
            INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
            SELECT {id}, c.scope, c.counter, s, 1
            FROM generate_series(0, {ImportCounters.Shards - 1}) s, (VALUES ('units', 'total'), ('units', 'done'), ('units', 'failed'),
                 ('bytes', 'total'), ('bytes', 'ended'), ('bytes', 'read'), ('rows', 'read'), ('rows', 'inserted')) AS c(scope, counter);
            """);
        return id;
    }

    // What <paramref name="action"/>, run on the session, read of the units: the statistics before and
    // after, each time once the session's own are flushed (at the end of the statement that asks).
    private static async Task<Read> ReadByAsync(NpgsqlDataSource session, Func<Task> action)
    {
        await action(); // once before, so that the measured call finds every cache warm
        var before = await UnitsReadAsync(session);
        await action();
        var after = await UnitsReadAsync(session);
        return new Read(after.Rows - before.Rows, after.Blocks - before.Blocks);
    }

    private static async Task<Read> UnitsReadAsync(NpgsqlDataSource session)
    {
        await ExecuteAsync(session, "SELECT pg_stat_force_next_flush()");
        await using var cmd = session.CreateCommand(
            """
            SELECT s.seq_tup_read + (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i WHERE i.relid = s.relid),
                   io.heap_blks_read + io.heap_blks_hit + coalesce(io.idx_blks_read + io.idx_blks_hit, 0)
            FROM pg_stat_user_tables s JOIN pg_statio_user_tables io USING (relid)
            WHERE s.relid = 'ingest.units'::regclass
            """);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return new Read(Convert.ToInt64(r.GetValue(0)), r.GetInt64(1));
    }

    private static async Task ExecuteAsync(NpgsqlDataSource session, string sql)
    {
        await using var cmd = session.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }
}
