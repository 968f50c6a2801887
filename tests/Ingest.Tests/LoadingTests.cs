using System.Text;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ingest.Tests;

/// <summary>What lands in the target table and in the counters, with real nodes on a real PostgreSQL.</summary>
public class LoadingTests
{
    private static readonly ColumnSpec[] EveryType =
        [
            new("n", "n", ColumnType.Int), new("t", "t", ColumnType.Text), new("j", "j", ColumnType.Jsonb), new("b", "b", ColumnType.Bigint),
            new("d", "d", ColumnType.Double), new("m", "m", ColumnType.Numeric), new("bo", "bo", ColumnType.Boolean),
            new("da", "da", ColumnType.Date), new("ts", "ts", ColumnType.Timestamptz),
        ];

    private static readonly string Big = new('x', 100_000); // a row larger than the writer's 64 KiB buffer and an encoded chunk

    private static readonly string[] EveryTypeRecords =
        [
            """{"n": -2147483648, "t": "café \"x\" ✓", "j": {"a": [1, 2]}, "b": 9223372036854775807, "d": -0.0, "m": "12345678901234567890.1234567", "bo": true, "da": "1999-12-31", "ts": "1969-07-20T20:17:40.123456Z"}""",
            """{"n": 7, "t": "", "j": [], "b": -9223372036854775808, "d": 1e300, "m": "0.00001", "bo": false, "da": "2000-01-01", "ts": "2000-01-01T00:00:00Z"}""",
            """{"n": 8, "m": "-1.50"}""",
            """{"n": 9, "m": "0"}""",
            """{"n": 10, "m": "79228162514264337593543950335"}""",
            """{"n": 11, "m": "-0.0000000000000000000000000001"}""",
            """{"n": 12, "m": "100000000", "d": 0.1}""",
            $$"""{"n": 13, "j": {"big": "{{Big}}"}, "t": "{{Big}}"}""",
        ];

    [Fact]
    public async Task With_a_versionColumn_a_file_with_an_older_version_of_a_row_leaves_the_newer_one()
    {
        using var first = new TempFolder();
        using var second = new TempFolder();
        first.Write("a.json", """{"results": [{"id": 1, "name": "v2", "version": 2}, {"id": 2, "name": "v1", "version": 1}]}""");
        second.Write("b.json", """{"results": [{"id": 1, "name": "v1 late", "version": 1}, {"id": 2, "name": "v3", "version": 3}]}""");
        static string Spec(string folder) => $$"""
            {
              "name": "versions",
              "source": { "kind": "files", "path": {{System.Text.Json.JsonSerializer.Serialize(folder)}}, "pattern": "*.json", "records": "results" },
              "target": { "table": "items", "key": ["id"], "create": true, "versionColumn": "version",
                          "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "version": { "path": "version", "type": "bigint" } } }
            }
            """;
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(await db.SubmitAsync(Spec(first.Path)))).State);
        var later = await db.WaitForAsync(await db.SubmitAsync(Spec(second.Path)));

        Assert.Equal(ImportState.Completed, later.State);
        Assert.Equal((2L, 0L, 1L, 1L), (later.Rows.Read, later.Rows.Inserted, later.Rows.Updated, later.Rows.Unchanged));
        Assert.Equal("1|v2|2;2|v3|3", await db.ScalarAsync<string>("SELECT string_agg(id || '|' || name || '|' || version, ';' ORDER BY id) FROM items"));
    }

    [Fact]
    public async Task A_binary_COPY_writes_every_column_type_as_PostgreSQL_reads_it_back()
    {
        var records = EveryTypeRecords;
        var big = Big;
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE TABLE every_type (n int, t text, j jsonb, b bigint, d float8, m numeric, bo boolean, da date, ts timestamptz, ord bigint)");
        var mapper = new RecordMapper(EveryType, []);
        var row = mapper.CreateRow();
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        await using (var copy = await BinaryCopy.BeginAsync(connection, "COPY every_type (n, t, j, b, d, m, bo, da, ts, ord) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var (record, i) in records.Select((r, i) => (r, i)))
            {
                Assert.True(mapper.TryMap(Encoding.UTF8.GetBytes(record), row, out var reject), reject?.Reason);
                await copy.WriteAsync(row, 100 + i);
            }
            await copy.CompleteAsync();
            Assert.Equal(records.Length, copy.Rows);
        }

        const string text = """
            SELECT string_agg(concat_ws('|', n, t, j, b, d, m, bo, da, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), ord), E'\n' ORDER BY n)
            FROM every_type WHERE n <> 13
            """;
        Assert.Equal("""
            -2147483648|café "x" ✓|{"a": [1, 2]}|9223372036854775807|-0|12345678901234567890.1234567|t|1999-12-31|1969-07-20 20:17:40.123456|100
            7||[]|-9223372036854775808|1e+300|0.00001|f|2000-01-01|2000-01-01 00:00:00.000000|101
            8|-1.50|102
            9|0|103
            10|79228162514264337593543950335|104
            11|-0.0000000000000000000000000001|105
            12|0.1|100000000|106
            """.ReplaceLineEndings("\n"), await db.ScalarAsync<string>(text));
        Assert.Equal(big.Length * 2, await db.ScalarAsync<int>("SELECT length(t) + length(j->>'big') FROM every_type WHERE n = 13"));
    }

    [Fact]
    public async Task Rows_encoded_as_they_are_mapped_reach_PostgreSQL_as_the_COPY_encodes_them()
    {
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE TABLE by_copy (n int, t text, j jsonb, b bigint, d float8, m numeric, bo boolean, da date, ts timestamptz, ord bigint)");
        await db.ExecuteAsync("CREATE TABLE encoded (LIKE by_copy)");
        var mapper = new RecordMapper(EveryType, []);
        var row = mapper.CreateRow();
        var encoded = new EncodedRows(EveryType.Length, ord: true);
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            await using (var copy = await BinaryCopy.BeginAsync(connection, "COPY by_copy FROM STDIN (FORMAT BINARY)"))
            {
                // Twice over, so that the encoded rows fill more than one chunk before the big one.
                foreach (var (record, i) in EveryTypeRecords.Concat(EveryTypeRecords).Select((r, i) => (r, i)))
                {
                    Assert.True(mapper.TryMap(Encoding.UTF8.GetBytes(record), row, out var reject), reject?.Reason);
                    await copy.WriteAsync(row, 100 + i);
                    encoded.Add(row, 100 + i);
                }
                await copy.CompleteAsync();
            }
            Assert.True(encoded.Chunks.Count() > 2, "the big rows need chunks of their own");
            await using (var copy = await BinaryCopy.BeginAsync(connection, "COPY encoded FROM STDIN (FORMAT BINARY)"))
            {
                await copy.WriteAsync(row, -1); // a row encoded by the COPY before the encoded ones
                await copy.WriteAsync(encoded);
                await copy.CompleteAsync();
                Assert.Equal(2 * EveryTypeRecords.Length + 1, copy.Rows);
            }
        }

        Assert.Equal(2 * EveryTypeRecords.Length, await db.ScalarAsync<long>("SELECT count(*) FROM encoded WHERE ord >= 0"));
        Assert.Equal(0, await db.ScalarAsync<long>("""
            SELECT count(*) FROM ((TABLE by_copy EXCEPT ALL SELECT * FROM encoded WHERE ord >= 0) UNION ALL (SELECT * FROM encoded WHERE ord >= 0 EXCEPT ALL TABLE by_copy)) d
            """));
        encoded.Clear();
        Assert.Equal(0, encoded.Count);
        Assert.Empty(encoded.Chunks);
    }

    [Fact]
    public async Task Upserts_then_an_identical_reload_changes_nothing_and_a_changed_file_updates_only_its_rows()
    {
        using var data = new TempFolder().WithPages(files: 6, perFile: 50);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        db.StartSilo();

        var first = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));
        Assert.Equal(ImportState.Completed, first.State);
        Assert.Equal(new RowCounts(300, 300, 0, 0, 0), first.Rows);
        Assert.Equal(new UnitCounts(6, 6, 0, 0, 0, 0), first.Units);
        Assert.True(first.BytesRead > 0 && first.BytesRead == first.BytesTotal);
        Assert.NotNull(first.StartedAt);
        Assert.NotNull(first.FinishedAt);
        Assert.Equal(300, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        Assert.Equal("Teen", await db.ScalarAsync<string>("SELECT esrb FROM games WHERE esrb = 'Teen' LIMIT 1"));
        // Every column holds what its path points at in the record, which is itself kept whole.
        Assert.Equal(300, await db.ScalarAsync<long>(
            """
            SELECT count(*) FROM games
            WHERE (raw->>'id')::bigint = id AND raw->>'name' = name AND raw->>'released' = released::text
              AND (raw->>'rating')::float8 = rating AND raw->'esrb_rating'->>'name' IS NOT DISTINCT FROM esrb
            """));
        var versions = await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM games");

        var again = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));
        Assert.Equal(ImportState.Completed, again.State);
        Assert.Equal(new RowCounts(300, 0, 0, 300, 0), again.Rows);
        Assert.Equal(versions, await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM games"));

        var page = Path.Combine(data.Path, "page-00002.json");
        File.WriteAllText(page, File.ReadAllText(page).Replace("\"name\":\"Game 5", "\"name\":\"Renamed 5"));
        var changed = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));
        var renamed = await db.ScalarAsync<long>("SELECT count(*) FROM games WHERE name LIKE 'Renamed%'");
        Assert.True(renamed > 0);
        Assert.Equal(new RowCounts(300, 0, renamed, 300 - renamed, 0), changed.Rows);
    }

    [Fact]
    public async Task The_same_key_twice_in_one_file_keeps_the_last_occurrence()
    {
        using var data = new TempFolder();
        data.Write("dups.json", """
            {"results": [
              {"id": 1, "name": "first"}, {"id": 2, "name": "two"}, {"id": 1, "name": "second"},
              {"id": 3, "name": "three"}, {"id": 1, "name": "last"}
            ]}
            """);
        await using var db = await TestDatabase.CreateAsync();
        var node = db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(5, 3, 0, 2, 0), status.Rows);
        // One log line per unit start and end (the console logger writes them in the background).
        await Poll.UntilAsync(() => Task.FromResult(node.Output.Contains("unit 1/0 end: done")), TimeSpan.FromSeconds(10), () => $"the unit's end in the log:\n{node.Output}");
        Assert.Contains("unit 1/0 start: dups.json (attempt 1/3)", node.Output);
        Assert.Equal("last", await db.ScalarAsync<string>("SELECT name FROM games WHERE id = 1"));
        Assert.Equal(3, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task After_a_conflict_an_upsert_stages_until_a_unit_finds_only_new_keys_then_copies_directly_again()
    {
        // Files run one at a time, in name order, each alone (a batch goes direct again only as a whole). Ids are listed backwards: a direct COPY stores rows
        // in file order, staging and merge in key order, so the physical order tells which path ran.
        static string Page(params int[] ids) => $$"""{"results": [{{string.Join(",", ids.Select(i => $$"""{"id": {{i}}, "name": "g{{i}}"}"""))}}]}""";
        using var data = new TempFolder();
        data.Write("a.json", Page(3, 2, 3));                                   // a key that exists: conflict, staged
        data.Write("b.json", Page(Enumerable.Range(10, 10).Reverse().ToArray()));  // staged, only new keys
        data.Write("c.json", Page(Enumerable.Range(20, 10).Reverse().ToArray()));  // direct again
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(slots: 1, batches: false);
        await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, parallelism: 1, pattern: "a.json", name: "seed")));

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, parallelism: 1)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(23, 20, 0, 3, 0), status.Rows);
        Assert.Equal(string.Join(",", Enumerable.Range(10, 10)),
            await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY ctid) FROM games WHERE id BETWEEN 10 AND 19"));
        Assert.Equal(string.Join(",", Enumerable.Range(20, 10).Reverse()),
            await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY ctid) FROM games WHERE id BETWEEN 20 AND 29"));
    }

    [Fact]
    public async Task A_batch_of_units_in_one_COPY_counts_and_rejects_per_unit_and_a_key_that_exists_rolls_it_back_to_staging()
    {
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]}""");
        data.Write("b.json", """{"results": [{"id": 3, "name": "three"}, {"id": "x", "name": "bad"}, {"id": 4, "name": "four"}]}""");
        data.Write("c.json", """{"results": [{"id": 5, "name": "five"}, {"id": 6, "name": "six"}, {"id": 7, "name": "seven"}]}""");
        data.Write("d.json", """{"results": [{"id": 8, "name": "eight"}]}""");
        data.Write("e.json", """{"results": [{"id": 9, "name": "nine"}, {"id": 1, "name": "one"}]}""");
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(Specs.Files(data.Path));
        Assert.Equal(5, await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id));
        var loader = UnitLoader.For(ImportSpecParser.ParseJson(Specs.Files(data.Path)), TestSources.Registry);

        var first = await db.LoadBatchAsync(loader, id, "a.json", "b.json", "c.json");
        Assert.Equal([2L, 3, 3], first.Select(r => r.RowsRead));
        Assert.Equal([new LoadCounts(2, 0, 0), new LoadCounts(2, 0, 0), new LoadCounts(3, 0, 0)], first.Select(r => r.Counts));
        Assert.Equal([0L, 1, 0], first.Select(r => r.Rejected));
        Assert.Equal(1, Assert.Single(first[1].Rejects).RecordIndex);
        Assert.Equal("1,2,3,4,5,6,7", await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY id) FROM games"));

        // e.json holds a key that exists: the shared COPY fails, the transaction rolls back, d.json's row with it.
        await Assert.ThrowsAsync<DirectCopyConflictException>(() => db.LoadBatchAsync(loader, id, "d.json", "e.json"));
        Assert.Equal(7, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        // Loaded again, the batch's units go through staging and merge, each with its own counts.
        var again = await db.LoadBatchAsync(loader, id, "e.json", "d.json");
        Assert.Equal([new LoadCounts(1, 0, 1), new LoadCounts(1, 0, 0)], again.Select(r => r.Counts));
        Assert.Equal(9, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task A_pooled_session_keeps_a_bounded_number_of_staging_tables_however_many_tables_it_stages_for()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var held = new List<long>();
        for (var i = 0; i < 40; i++)
        {
            var table = new TargetTable("public", $"t{i}", [new TableColumn("id", ColumnType.Bigint)], ["id"], create: true);
            await using var tx = await connection.BeginTransactionAsync();
            await table.EnsureAsync(connection);
            await using (var loader = await CopyLoader.BeginAsync(connection, table, staged: true))
                await loader.CompleteAsync();
            await tx.CommitAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()", connection);
            held.Add((long)(await count.ExecuteScalarAsync())!);
        }

        // One more than the slack, then the session's staging tables are dropped and it starts again.
        var bound = 1 + StagedMerge.SessionStagingSlack + 1;
        Assert.Equal([.. Enumerable.Range(1, bound).Select(n => (long)n), .. Enumerable.Range(1, 40 - bound).Select(n => (long)n)], held);
    }

    [Fact]
    public async Task The_same_keys_in_many_files_loaded_at_once_by_several_nodes_give_exact_counts_and_no_errors()
    {
        const int files = 16, keys = 300;
        using var data = new TempFolder();
        for (var f = 0; f < files; f++)
        {
            // Half the files list the keys backwards: opposite lock orders are what deadlock a naive loader.
            var ids = f % 2 == 0 ? Enumerable.Range(1, keys) : Enumerable.Range(1, keys).Reverse();
            data.Write($"f{f:D2}.json", "{\"results\": [" + string.Join(",", ids.Select(i => $"{{\"id\": {i}, \"name\": \"game {i}\"}}")) + "]}");
        }
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(slots: 4);
        db.StartSilo(slots: 4);

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, parallelism: 8)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Empty(status.FailedUnits);
        Assert.Equal(new RowCounts(files * keys, keys, 0, (files - 1) * keys, 0), status.Rows);
        Assert.Equal(keys, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task A_value_that_does_not_convert_rejects_only_its_record_and_keeps_it_in_ingest_rejects()
    {
        using var data = new TempFolder();
        data.Write("mixed.json", """
            {"results": [
              {"id": 1, "name": "ok", "released": "2020-01-01"},
              {"id": 2, "name": "bad date", "released": "not a date"},
              {"id": 3, "name": "ok", "rating": 4.5},
              {"id": "x", "name": "bad id"},
              {"id": 5, "name": "ok"}
            ]}
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var id = await db.SubmitAsync(Specs.Files(data.Path));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(5, 3, 0, 0, 2), status.Rows);
        Assert.Equal("1,3,5", await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY id) FROM games"));
        Assert.Equal(
            $"{id}|0|1|released|not a date|{id}|0|3|id|bad id",
            await db.ScalarAsync<string>("""
                SELECT string_agg(concat_ws('|', import_id, unit_no, record_index, column_name,
                       CASE WHEN reason LIKE '%not a date%' THEN 'not a date' WHEN raw LIKE '%bad id%' THEN 'bad id' END), '|' ORDER BY record_index)
                FROM ingest.rejects
                """));
    }

    [Fact]
    public async Task Rejects_beyond_the_kept_limit_are_counted_and_summarised_so_memory_stays_bounded()
    {
        const int bad = Ingest.Engine.UnitLoader.MaxKeptRejects + 5;
        using var data = new TempFolder();
        data.Write("bad.json", "{\"results\": [{\"id\": 1, \"name\": \"good\"}, "
            + string.Join(",", Enumerable.Range(0, bad).Select(i => $"{{\"id\": \"x{i}\"}}")) + "]}");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var id = await db.SubmitAsync(Specs.Files(data.Path));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(bad + 1, 1, 0, 0, bad), status.Rows);
        Assert.Equal(Ingest.Engine.UnitLoader.MaxKeptRejects + 1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.rejects"));
        Assert.Equal("5 more rejected records in this unit were counted, not kept",
            await db.ScalarAsync<string>("SELECT reason FROM ingest.rejects WHERE column_name IS NULL"));
    }

    [Theory]
    [InlineData(4)] // each unit alone
    [InlineData(1)] // one batch of the three: it rolls back, and each unit runs alone
    public async Task A_malformed_file_fails_its_unit_with_file_and_offset_while_the_others_complete(int parallelism)
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 40);
        data.Write("page-00002.json", "{\"results\": [{\"id\": 41}, {\"id\": 42,]}");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, parallelism: parallelism)));

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        Assert.Equal(new UnitCounts(3, 2, 1, 0, 0, 0), status.Units);
        Assert.Equal(parallelism == 1 ? 3 : 0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {status.Id} AND batch IS NOT NULL"));
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal(1, failed.Attempts);
        Assert.EndsWith("page-00002.json", failed.Key);
        Assert.Contains("page-00002.json", failed.Error);
        Assert.Contains("byte 35", failed.Error);
        Assert.Contains("line 1", failed.Error);
        Assert.Equal(80, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task A_plain_insert_loads_every_record_exactly_once()
    {
        using var data = new TempFolder().WithPages(files: 8, perFile: 25);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, keyed: false)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(200, 200, 0, 0, 0), status.Rows);
        Assert.Equal(200, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(200, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
    }

    [Fact]
    public async Task Ndjson_and_top_level_arrays_need_no_records_path()
    {
        using var data = new TempFolder();
        data.Write("a.ndjson", "{\"id\": 1, \"name\": \"one\"}\n{\"id\": 2, \"name\": \"two\"}\n");
        data.Write("b.json", "[{\"id\": 3, \"name\": \"three\"}]");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, pattern: "*", records: null)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal("one,two,three", await db.ScalarAsync<string>("SELECT string_agg(name, ',' ORDER BY id) FROM games"));
    }

    [Fact]
    public async Task A_missing_folder_fails_the_import_with_a_clear_message()
    {
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files("/nonexistent/rawg")));

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("'/nonexistent/rawg' does not exist", status.Error);
        Assert.Equal(0, status.Units.Total);
    }

    [Fact]
    public async Task A_folder_without_matching_files_fails_the_import()
    {
        using var data = new TempFolder();
        data.Write("notes.txt", "hello");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("no files match '*.json'", status.Error);
    }

    [Fact]
    public async Task An_existing_table_that_does_not_match_fails_before_anything_loads()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE TABLE games (id bigint PRIMARY KEY, name integer, released date, rating double precision)");
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, create: false)));

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("name", status.Error);
        Assert.Contains("esrb", status.Error);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }
}
