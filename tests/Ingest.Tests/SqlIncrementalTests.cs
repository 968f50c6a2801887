using System.Text.Json;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// Incremental SQL sources on real silos against a second PostgreSQL and a MariaDB: each import of a
/// name reads the rows whose (cursor, tieBreak) pair is above the greatest pair committed by the last
/// import of the name that completed, and whose cursor is below the source's clock less the lag at
/// planning. Thousands of rows share one updated_at; an import SIGKILLed and cancelled between them
/// leaves the store where it was, and the next reads them all again: nothing lost, nothing twice.
/// <c>ingest validate</c> and <c>ingest diff</c> read the whole source, not the window, and leave the store.
/// </summary>
public class SqlIncrementalTests(SqlSources sources, ITestOutputHelper output) : IClassFixture<SqlSources>
{
    private static string Spec(string engine, string extra = "", double lag = 30, string cursor = "updated_at", string tieBreak = "id") => $$"""
        {
          "name": "items",
          "source": { "kind": "sql", "engine": "{{engine}}", "connection": "${SHOP_DB}", "table": "items"{{extra}},
                      "incremental": { "cursor": "{{cursor}}", "tieBreak": "{{tieBreak}}", "lagSeconds": {{lag}} } },
          "target": { "table": "items", "key": ["id"], "create": true,
                      "columns": { "id": { "path": "id", "type": "bigint" }, "title": { "path": "title", "type": "text" } } },
          "retry": { "attempts": 3, "backoffSeconds": 0.2 }
        }
        """;

    private static Dictionary<string, string> Env(string connectionString) => new() { ["SHOP_DB"] = connectionString };

    private static async Task<string?> CommittedAsync(TestDatabase db) => (await Watermarks.ReadCursorAsync(db.DataSource, "items"))?.GetRawText();

    // The pair as the store writes it: jsonb's text of [cursor, tieBreak].
    private static string Pair(string at, long id) => $"[\"{at}\", {id}]";

    private static async Task<string> SourceRowsAsync(NpgsqlDataSource admin)
    {
        await using var cmd = admin.CreateCommand("SELECT coalesce(string_agg(id || '|' || title, ';' ORDER BY id), '') FROM items");
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    private static Task<string> TargetRowsAsync(TestDatabase db) => db.ScalarAsync<string>("SELECT coalesce(string_agg(id || '|' || title, ';' ORDER BY id), '') FROM items");

    private static async Task Execute(NpgsqlDataSource source, string sql)
    {
        await using var cmd = source.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Three_imports_with_thousands_of_rows_sharing_one_updated_at_and_a_crash_between_them_lose_nothing_and_read_nothing_twice()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, """
            CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL);
            INSERT INTO items SELECT g, 'first ' || g, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 1000) g;
            """);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "PERFORM pg_sleep((SELECT seconds FROM test_delay));", forEachRow: false);
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0);
            CREATE TABLE items (id bigint PRIMARY KEY, title text);
            CREATE TRIGGER test_trigger BEFORE INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();
            """);
        var spec = Spec("postgres", """, "splitBy": "id", "ranges": 4, "chunkRows": 250""");
        var silo = db.StartSilo(slots: 2, env: Env(shop));
        await silo.StartedAsync();

        // 1: every row; the store holds the greatest pair.
        var first = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromMinutes(2));
        Assert.True(first.State == ImportState.Completed, await db.DescribeAsync(first.Id));
        Assert.Equal(1000L, first.Rows.Read);
        Assert.Equal(Pair("2024-05-01 00:16:40.000000", 1000), await CommittedAsync(db));
        Assert.Equal(JsonValueKind.Null, first.Since!.Value.GetProperty("after").ValueKind);
        Assert.Equal(await SourceRowsAsync(admin), await TargetRowsAsync(db));

        // Two rows updated and 5,000 inserted, all in one transaction: one updated_at for the 5,002.
        await Execute(admin, """
            BEGIN;
            UPDATE items SET title = 'second ' || id, updated_at = timestamptz '2024-06-01 00:00:00+00' WHERE id IN (10, 20);
            INSERT INTO items SELECT g, 'second ' || g, timestamptz '2024-06-01 00:00:00+00' FROM generate_series(2001, 7000) g;
            COMMIT;
            """);

        // 2: slowed down; once a range committed part of its rows (between ties of that updated_at), its silo is SIGKILLed and the import cancelled.
        await SlowTarget.SetDelayAsync(db, 0.3);
        var second = await db.SubmitAsync(spec);
        const string midRange = "state = 'running' AND descriptor ? 'keys' AND (checkpoint->>'records')::bigint > 0";
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {second} AND {midRange}") > 0,
            TimeSpan.FromSeconds(90), () => $"a range committed mid-way:\n{db.SiloOutput[^Math.Min(3000, db.SiloOutput.Length)..]}");
        silo.Kill();
        Assert.True((await db.Catalog.CancelAsync(second)).Applied);
        var cancelled = await db.StatusAsync(second);
        Assert.Equal(ImportState.Cancelled, cancelled.State);
        // It committed rows of the shared updated_at, and their pair with them; the store did not move.
        var reached = await db.ScalarAsync<string>($"SELECT cursor::text FROM ingest.units WHERE import_id = {second} AND cursor IS NOT NULL ORDER BY cursor DESC LIMIT 1");
        output.WriteLine($"cancelled import {second} reached {reached}, read {cancelled.Rows.Read}");
        Assert.StartsWith("[\"2024-06-01 00:00:00.000000\", ", reached);
        Assert.InRange(cancelled.Rows.Read, 1, 5001);
        Assert.Equal(Pair("2024-05-01 00:16:40.000000", 1000), await CommittedAsync(db));

        // More changes: one of the ties updated again, a row added later.
        await Execute(admin, """
            UPDATE items SET title = 'third 3000', updated_at = timestamptz '2024-06-02 00:00:00+00' WHERE id = 3000;
            INSERT INTO items VALUES (7001, 'third 7001', timestamptz '2024-06-02 00:00:00+00');
            """);

        // 3: from the pair the first import committed: the 5,002 rows (those the cancelled import loaded again, unchanged) and 7001.
        await SlowTarget.SetDelayAsync(db, 0);
        var survivor = db.StartSilo(slots: 2, env: Env(shop));
        await survivor.StartedAsync();
        var third = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromMinutes(2));
        Assert.True(third.State == ImportState.Completed, await db.DescribeAsync(third.Id));
        Assert.Equal(5003L, third.Rows.Read);
        Assert.Equal(5003L, third.Rows.Inserted + third.Rows.Updated + third.Rows.Unchanged);
        Assert.Equal("", await db.CountersMismatchAsync(third.Id));
        Assert.Equal(await SourceRowsAsync(admin), await TargetRowsAsync(db));
        Assert.Equal(6001L, await db.ScalarAsync<long>("SELECT count(*) FROM items")); // 1 … 1000, 2001 … 7001
        Assert.Equal(Pair("2024-06-02 00:00:00.000000", 7001), await CommittedAsync(db));
        Assert.Equal(Pair("2024-05-01 00:16:40.000000", 1000), third.Since!.Value.GetProperty("after").GetRawText());

        // 4: a row sharing the committed updated_at with a greater id, and an update: exactly those two.
        await Execute(admin, """
            INSERT INTO items VALUES (7002, 'fourth 7002', timestamptz '2024-06-02 00:00:00+00');
            UPDATE items SET title = 'fourth 5', updated_at = timestamptz '2024-06-03 00:00:00+00' WHERE id = 5;
            """);
        var fourth = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromMinutes(2));
        Assert.True(fourth.State == ImportState.Completed, await db.DescribeAsync(fourth.Id));
        Assert.Equal((2L, 1L, 1L), (fourth.Rows.Read, fourth.Rows.Inserted, fourth.Rows.Updated));
        Assert.Equal(await SourceRowsAsync(admin), await TargetRowsAsync(db));
        Assert.Equal(Pair("2024-06-03 00:00:00.000000", 5), await CommittedAsync(db));

        // The console shows the pair committed and the window an import read.
        var state = (await CliProcess.RunAsync(db.ConnectionString, "state", "items")).Stdout;
        Assert.Contains("2024-06-03 00:00:00.000000", state);
        var status = JsonDocument.Parse((await CliProcess.RunAsync(db.ConnectionString, "status", fourth.Id.ToString(), "--json")).Stdout).RootElement;
        Assert.Equal(7001, status.GetProperty("since").GetProperty("after")[1].GetInt64());
        Assert.Equal(JsonValueKind.String, status.GetProperty("since").GetProperty("before").ValueKind);
        Assert.Contains("after [\"2024-06-02 00:00:00.000000\", 7001], before ", (await CliProcess.RunAsync(db.ConnectionString, "status", fourth.Id.ToString())).Stdout);
    }

    [Fact]
    public async Task Validate_and_diff_read_the_whole_source_not_the_window_and_leave_the_store_where_it_was()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, """
            CREATE TABLE items (id bigint PRIMARY KEY, title text, updated_at timestamptz);
            INSERT INTO items SELECT g, 'first ' || g, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 5) g;
            """);
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: Env(shop));
        await silo.StartedAsync();
        var spec = Spec("postgres").Replace("\"create\": true,", "\"create\": true, \"validate\": { \"required\": [\"title\"] },");
        using var specs = new TempFolder();
        var file = specs.Write("spec.json", spec);

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(first.State == ImportState.Completed, await db.DescribeAsync(first.Id));
        Assert.Equal(5L, first.Rows.Read);
        Assert.Equal(Pair("2024-05-01 00:00:05.000000", 5), await CommittedAsync(db));

        // After it: 2 deleted, 3 updated, 5's updated_at cleared (the row is still there), 6 added, 7 added without a title.
        await Execute(admin, """
            DELETE FROM items WHERE id = 2;
            UPDATE items SET title = 'second 3', updated_at = timestamptz '2024-06-01 00:00:00+00' WHERE id = 3;
            UPDATE items SET updated_at = NULL WHERE id = 5;
            INSERT INTO items VALUES (6, 'second 6', timestamptz '2024-06-01 00:00:00+00'), (7, NULL, timestamptz '2024-06-01 00:00:00+00');
            """);
        var store = await db.ScalarAsync<string>("SELECT cursor::text || ' ' || import_id || ' ' || updated_at FROM ingest.watermarks WHERE name = 'items'");
        var target = await db.ScalarAsync<string>("SELECT string_agg(id || ':' || xmin, ',' ORDER BY id) FROM items");

        // Validate reads the source's rows, every one (not those after the committed pair only): 7 breaks the rule.
        var validate = await CliProcess.RunAsync(null, Env(shop), "validate", file, "--json");
        Assert.True(validate.ExitCode == 1, validate.ToString());
        using (var report = JsonDocument.Parse(validate.Stdout))
        {
            var r = report.RootElement;
            Assert.Equal((6L, 1L), (r.GetProperty("records").GetInt64(), r.GetProperty("rejected").GetInt64()));
            Assert.Equal(1L, r.GetProperty("rules").GetProperty("required.title").GetProperty("records").GetInt64());
        }

        // Diff reads the whole source: 6 would be inserted, 3 updated, 1, 4 and 5 unchanged; only 2 is in the table and no longer in the source.
        var diff = await CliProcess.RunAsync(db.ConnectionString, Env(shop), "diff", file, "--json");
        Assert.True(diff.ExitCode == 0, diff.ToString());
        using (var report = JsonDocument.Parse(diff.Stdout))
        {
            var r = report.RootElement;
            Assert.Equal((6L, 1L), (r.GetProperty("records").GetInt64(), r.GetProperty("rejected").GetInt64()));
            Assert.Equal((1L, 1L, 3L, 1L), (r.GetProperty("inserted").GetInt64(), r.GetProperty("updated").GetInt64(), r.GetProperty("unchanged").GetInt64(),
                r.GetProperty("onlyInTable").GetInt64()));
        }

        // Neither moved the store, submitted an import or wrote to the table.
        Assert.Equal(store, await db.ScalarAsync<string>("SELECT cursor::text || ' ' || import_id || ' ' || updated_at FROM ingest.watermarks WHERE name = 'items'"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports"));
        Assert.Equal(target, await db.ScalarAsync<string>("SELECT string_agg(id || ':' || xmin, ',' ORDER BY id) FROM items"));

        // The next import reads after the pair the first one committed: 3, 6 and 7 (rejected), not 5, whose cursor is NULL.
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(second.State == ImportState.Completed, await db.DescribeAsync(second.Id));
        Assert.Equal(new RowCounts(3, 1, 1, 0, 1), second.Rows);
        Assert.Equal(Pair("2024-06-01 00:00:00.000000", 7), await CommittedAsync(db));
    }

    [Fact]
    public async Task On_MariaDB_rows_sharing_the_committed_updated_at_are_read_once_by_the_next_import()
    {
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync("""
            CREATE TABLE items (id BIGINT PRIMARY KEY, title VARCHAR(50) NOT NULL, updated_at DATETIME(6) NOT NULL);
            INSERT INTO items SELECT seq, CONCAT('first ', seq), '2024-05-01 00:00:00' FROM seq_1_to_300;
            """, database);
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: Env(maria.ConnectionString(database, user, password)));
        await silo.StartedAsync();
        var spec = Spec("mariadb", """, "splitBy": "id", "ranges": 3, "chunkRows": 50""");

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(first.State == ImportState.Completed, await db.DescribeAsync(first.Id));
        Assert.Equal(300L, first.Rows.Read);
        Assert.Equal(Pair("2024-05-01 00:00:00.000000", 300), await CommittedAsync(db));

        // Rows with the committed updated_at and a greater id, one with an earlier id (not read: below the pair), an update.
        await maria.ExecuteAsync("""
            INSERT INTO items SELECT seq, CONCAT('second ', seq), '2024-05-01 00:00:00' FROM seq_301_to_310;
            UPDATE items SET title = 'second 7', updated_at = '2024-05-02 00:00:00.5' WHERE id = 7;
            """, database);
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(second.State == ImportState.Completed, await db.DescribeAsync(second.Id));
        Assert.Equal((11L, 10L, 1L), (second.Rows.Read, second.Rows.Inserted, second.Rows.Updated));
        Assert.Equal(Pair("2024-05-02 00:00:00.500000", 7), await CommittedAsync(db));

        // Nothing changed: nothing read, the store as it was.
        var third = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(third.State == ImportState.Completed, await db.DescribeAsync(third.Id));
        Assert.Equal(0L, third.Rows.Read);
        Assert.Equal(Pair("2024-05-02 00:00:00.500000", 7), await CommittedAsync(db));
        Assert.Equal(310L, await db.ScalarAsync<long>("SELECT count(*) FROM items"));
        Assert.Equal("second 7", await db.ScalarAsync<string>("SELECT title FROM items WHERE id = 7"));
        Assert.Equal(299L, await db.ScalarAsync<long>("SELECT count(*) FROM items WHERE title LIKE 'first %'"));
        output.WriteLine($"imports {first.Id}, {second.Id}, {third.Id}");
    }

    [Fact]
    public async Task A_row_newer_than_the_clock_less_the_lag_waits_for_the_next_import_and_cursors_without_an_order_are_refused()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        // Row 3 was updated 5 seconds ago on the source's clock; the lag is 20 seconds.
        await Execute(admin, """
            CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL, version bigint NOT NULL, code text NOT NULL);
            INSERT INTO items VALUES (1, 'one', '2024-05-01', 1, 'a'), (2, 'two', '2024-05-02', 2, 'b'), (3, 'three', now() - interval '5 seconds', 3, 'c');
            """);
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: Env(shop));
        await silo.StartedAsync();
        var spec = Spec("postgres", lag: 20);

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(first.State == ImportState.Completed, await db.DescribeAsync(first.Id));
        var before = first.Since!.Value.GetProperty("before").GetString()!;
        await using (var cmd = admin.CreateCommand($"SELECT updated_at >= timestamptz '{before}+00' FROM items WHERE id = 3"))
            Assert.True((bool)(await cmd.ExecuteScalarAsync())!, $"row 3 is older than the bound {before}: planning came too late for this test to mean anything");
        Assert.Equal(2L, first.Rows.Read);
        Assert.Equal("1|one;2|two", await TargetRowsAsync(db));

        // Once the source's clock less the lag passed row 3, the next import reads it, and only it.
        await Poll.UntilAsync(async () =>
        {
            await using var cmd = admin.CreateCommand("SELECT now() - interval '20 seconds' > updated_at FROM items WHERE id = 3");
            return (bool)(await cmd.ExecuteScalarAsync())!;
        }, TimeSpan.FromSeconds(60), "the source's clock less the lag passes row 3");
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(second.State == ImportState.Completed, await db.DescribeAsync(second.Id));
        Assert.Equal(1L, second.Rows.Read);
        Assert.Equal("1|one;2|two;3|three", await TargetRowsAsync(db));

        // A number has no clock to hold back; a text tie-break orders by collation; a column that is not there: each fails at planning, saying so.
        foreach (var (name, bad, message) in new[]
                 {
                     ("by-version", Spec("postgres", lag: 5, cursor: "version"), "'version' is a number, not a time"),
                     ("by-code", Spec("postgres", tieBreak: "code"), "source.incremental.tieBreak: 'code' is text"),
                     ("by-nothing", Spec("postgres", cursor: "changed_at"), "source.incremental.cursor: 'changed_at' is not a column of items"),
                 })
        {
            var failed = await db.WaitForAsync(await db.SubmitAsync(bad.Replace("\"name\": \"items\"", $"\"name\": \"{name}\"")));
            Assert.Equal(ImportState.Failed, failed.State);
            Assert.Contains(message, failed.Error);
        }
        // A numeric cursor without a lag reads by value.
        var byVersion = await db.WaitForAsync(await db.SubmitAsync(Spec("postgres", lag: 0, cursor: "version").Replace("\"name\": \"items\"", "\"name\": \"by-version-0\"")));
        Assert.True(byVersion.State == ImportState.Completed, await db.DescribeAsync(byVersion.Id));
        Assert.Equal("[3, 3]", (await Watermarks.ReadCursorAsync(db.DataSource, "by-version-0"))?.GetRawText());

        // "columns": "*" is recorded as written, not as the columns planning found: the same spec again is not a changed one.
        var everything = Spec("postgres", lag: 0, cursor: "version").Replace("\"name\": \"items\"", "\"name\": \"all-columns\"")
            .Replace("\"table\": \"items\", \"key\"", "\"table\": \"all_items\", \"key\"");
        everything = everything[..everything.IndexOf("\"columns\": {", StringComparison.Ordinal)] + "\"columns\": \"*\" },\n  \"retry\": { \"attempts\": 3 }\n}";
        var all = await db.WaitForAsync(await db.SubmitAsync(everything));
        Assert.True(all.State == ImportState.Completed, await db.DescribeAsync(all.Id));
        Assert.Equal(3L, all.Rows.Read);
        await Execute(admin, "INSERT INTO items VALUES (4, 'four', '2024-05-03', 4, 'd')");
        var again = await db.WaitForAsync(await db.SubmitAsync(everything));
        Assert.True(again.State == ImportState.Completed, await db.DescribeAsync(again.Id));
        Assert.Equal(1L, again.Rows.Read);
        Assert.Equal("1|a;2|b;3|c;4|d", await db.ScalarAsync<string>("SELECT string_agg(id || '|' || code, ';' ORDER BY id) FROM all_items"));
    }
}
