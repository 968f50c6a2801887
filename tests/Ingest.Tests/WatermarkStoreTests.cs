using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ingest.Catalog;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// The watermark store without silos: its entries written and cleared in the caller's transaction,
/// the cursor that only advances, a file committed only when its entries cover it, the judgement of
/// touched and rewritten files, and what of a spec the store depends on.
/// </summary>
public class WatermarkStoreTests
{
    private static FileWatermark Entry(string key, long start, long? end, string version = "v1", long size = 100, long importId = 1, byte[]? hash = null) =>
        new(key, start, end, version, size, DateTimeOffset.UnixEpoch, hash, importId);

    [Fact]
    public void A_file_counts_as_committed_only_when_its_entries_cover_every_byte()
    {
        Assert.True(FileWatermark.Cover([Entry("a", 0, null)], 100));
        Assert.True(FileWatermark.Cover([Entry("a", 0, null)], null));
        Assert.True(FileWatermark.Cover([Entry("a", 60, 100), Entry("a", 0, 60)], 100));
        Assert.True(FileWatermark.Cover([Entry("a", 0, 50), Entry("a", 50, null)], 100));
        Assert.False(FileWatermark.Cover([], 0));
        Assert.False(FileWatermark.Cover([Entry("a", 0, 60)], 100));             // its last range did not commit
        Assert.False(FileWatermark.Cover([Entry("a", 0, 40), Entry("a", 50, 100)], 100)); // one in the middle did not
        Assert.False(FileWatermark.Cover([Entry("a", 40, null)], 100));           // nor the first
        Assert.False(FileWatermark.Cover([Entry("a", 0, 100)], null));            // the size is unknown: only a range to the end covers it
    }

    [Fact]
    public async Task A_file_is_skipped_when_its_version_was_committed_whole_and_a_touched_one_only_when_its_bytes_are_the_same()
    {
        using var data = new TempFolder();
        var path = data.Write("a.json", "[{\"id\": 1}]");
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Specs.Files(data.Path, records: null)).Source with { Incremental = true });
        var filter = new IncrementalFilter(source);
        var listed = await ListAsync(source);
        var hash = SHA256.HashData(File.ReadAllBytes(path));

        // The version listed, committed whole (or in ranges that cover it): skipped.
        var whole = Entry("a.json", 0, null, listed.ETag!, listed.Size!.Value, importId: 3, hash: hash);
        var same = await filter.JudgeAsync(listed, [whole]);
        Assert.Equal((true, 3L, 0), (same.Skip, same.CommittedBy, same.Refreshed.Count));
        var halves = await filter.JudgeAsync(listed, [whole with { RangeEnd = 5, ImportId = 4 }, whole with { RangeStart = 5, ImportId = 5 }]);
        Assert.True(halves.Skip);
        Assert.Equal(5, halves.CommittedBy);
        // Part of it: loads.
        Assert.False((await filter.JudgeAsync(listed, [whole with { RangeEnd = 5 }])).Skip);
        Assert.False((await filter.JudgeAsync(listed, [])).Skip);

        // Touched: same size, another modification time, the same bytes: skipped, its entry taking the new version.
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddMinutes(1));
        var touched = await ListAsync(source);
        var verdict = await filter.JudgeAsync(touched, [whole]);
        Assert.True(verdict.Skip);
        var refreshed = Assert.Single(verdict.Refreshed);
        Assert.Equal((touched.ETag, touched.Modified), (refreshed.Version, refreshed.Modified));

        // Rewritten with the same size: other bytes, so it loads; and without a hash nothing tells, so it loads too.
        File.WriteAllText(path, "[{\"id\": 2}]");
        var rewritten = await ListAsync(source);
        Assert.Equal(listed.Size, rewritten.Size);
        Assert.Equal(FileVerdict.Load, await filter.JudgeAsync(rewritten, [whole]));
        File.WriteAllText(path, "[{\"id\": 1}]");
        Assert.Equal(FileVerdict.Load, await filter.JudgeAsync(await ListAsync(source), [whole with { ContentHash = null }]));
        // Another size: loads without reading it.
        Assert.Equal(FileVerdict.Load, await filter.JudgeAsync(await ListAsync(source), [whole with { Size = 99 }]));
    }

    private static async Task<UnitDescriptor> ListAsync(ImportSource source)
    {
        await foreach (var unit in source.PlanAsync()) return unit;
        throw new InvalidOperationException("nothing listed");
    }

    [Fact]
    public async Task A_local_file_read_to_its_end_is_hashed_whole_also_when_resumed_at_a_checkpoint()
    {
        using var data = new TempFolder();
        var text = "{\"results\": [" + string.Join(", ", Enumerable.Range(1, 50).Select(i => $"{{\"id\": {i}}}")) + "], \"next\": null}\n";
        var path = data.Write("a.json", text);
        var spec = ImportSpecParser.ParseJson(Specs.Files(data.Path));
        var source = TestSources.Registry.For(spec with { Source = spec.Source with { Incremental = true } });
        var unit = await ListAsync(source);

        await using var reading = await source.OpenAsync(unit, null);
        for (var i = 0; i < 20; i++) Assert.True(await reading.MoveNextAsync());
        Assert.Null(reading.Version);
        var checkpoint = reading.Checkpoint;
        while (await reading.MoveNextAsync()) { }
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(text)), reading.Version!.ContentHash);
        Assert.Equal(unit.ETag, reading.Version.Object.ETag);

        await using var resumed = await source.OpenAsync(unit, checkpoint);
        var ids = new List<int>();
        while (await resumed.MoveNextAsync()) ids.Add(JsonDocument.Parse(resumed.Current).RootElement.GetProperty("id").GetInt32());
        Assert.Equal(Enumerable.Range(21, 30), ids);
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(text)), resumed.Version!.ContentHash);

        // Not incremental: nothing hashed.
        await using var plain = await TestSources.Registry.For(spec).OpenAsync(unit, null);
        while (await plain.MoveNextAsync()) { }
        Assert.Null(plain.Version!.ContentHash);
    }

    [Fact]
    public async Task A_range_of_a_local_file_is_hashed_over_its_own_bytes_also_when_resumed_and_a_touched_split_file_is_judged_range_by_range()
    {
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(path, 3000, 16 * 1024, new SplitCsv.Dialect());
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Specs.SplitCsvFiles(data.Path, 16 * 1024, incremental: true)));
        var file = await ListAsync(source);
        var ranges = await source.SplitAsync(file).ToListAsync();
        Assert.True(ranges.Count >= 4, $"{ranges.Count} ranges");
        var bytes = await File.ReadAllBytesAsync(path);
        var range = ranges[1].Range!;
        var hash = SHA256.HashData(bytes.AsSpan((int)range.Start, (int)(range.End - range.Start)));

        // Read to its end, and taken up again at a checkpoint: the same records after it, and the hash of the range's bytes only.
        await using var reading = await source.OpenAsync(ranges[1], null);
        for (var i = 0; i < 20; i++) Assert.True(await reading.MoveNextAsync());
        var checkpoint = reading.Checkpoint;
        var rest = new List<string>();
        while (await reading.MoveNextAsync()) rest.Add(Encoding.UTF8.GetString(reading.Current.Span));
        Assert.Equal(hash, reading.Version!.ContentHash);
        await using var resumed = await source.OpenAsync(ranges[1], checkpoint);
        var again = new List<string>();
        while (await resumed.MoveNextAsync()) again.Add(Encoding.UTF8.GetString(resumed.Current.Span));
        Assert.Equal(rest, again);
        Assert.Equal(hash, resumed.Version!.ContentHash);

        // Each range's entry is its bytes; the file is committed once they all are.
        var entries = new List<FileWatermark>();
        foreach (var unit in ranges)
        {
            await using var whole = await source.OpenAsync(unit, null);
            while (await whole.MoveNextAsync()) { }
            entries.Add(FileWatermark.Of(unit, whole.Version!, importId: 7)!);
        }
        Assert.Equal(ranges.Select(u => (u.Range!.Start, (long?)u.Range.End)), entries.Select(e => (e.RangeStart, e.RangeEnd)));
        Assert.All(entries, e => Assert.Equal((file.ETag, file.Size), (e.Version, e.Size)));
        var filter = new IncrementalFilter(source);
        Assert.True((await filter.JudgeAsync(file, entries)).Skip);
        Assert.False((await filter.JudgeAsync(file, [.. entries.Where(e => e.RangeStart != range.Start)])).Skip);

        // Touched: each range hashed at planning as its entry says, the same bytes, so skipped with every entry refreshed.
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddMinutes(1));
        var touched = await ListAsync(source);
        var verdict = await filter.JudgeAsync(touched, entries);
        Assert.True(verdict.Skip);
        Assert.Equal(entries.Select(e => (e.RangeStart, touched.ETag)), verdict.Refreshed.Select(e => (e.RangeStart, (string?)e.Version)));
        // One byte of one range changed, the size kept: it loads.
        bytes[(int)range.Start + 1] = bytes[(int)range.Start + 1] == (byte)'0' ? (byte)'1' : (byte)'0';
        await File.WriteAllBytesAsync(path, bytes);
        Assert.Equal(FileVerdict.Load, await filter.JudgeAsync(await ListAsync(source), entries));
    }

    [Fact]
    public async Task Entries_and_the_cursor_are_written_in_the_callers_transaction_and_a_rollback_leaves_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();
        var a = Entry("a.json", 0, null, "v1", hash: [1, 2, 3]);
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            await using var tx = await connection.BeginTransactionAsync();
            await Watermarks.RecordFilesAsync(connection, "nightly", [a]);
            await Watermarks.AdvanceCursorAsync(connection, "nightly", 1, JsonSerializer.SerializeToElement(10));
            await tx.RollbackAsync();
        }
        Assert.Null(await db.Catalog.GetWatermarksAsync("nightly"));
        Assert.Null(await Watermarks.ReadCursorAsync(db.DataSource, "nightly"));

        await InTransactionAsync(db, async c =>
        {
            await Watermarks.RecordFilesAsync(c, "nightly", [a, Entry("b.json", 0, 50, "v1", importId: 2), Entry("b.json", 50, null, "v1", importId: 2)]);
            await Watermarks.AdvanceCursorAsync(c, "nightly", 2, JsonSerializer.SerializeToElement(10));
        });
        // A lower cursor leaves it; a higher one advances it.
        await InTransactionAsync(db, c => Watermarks.AdvanceCursorAsync(c, "nightly", 3, JsonSerializer.SerializeToElement(7)));
        Assert.Equal(10, (await Watermarks.ReadCursorAsync(db.DataSource, "nightly"))!.Value.GetInt32());
        await InTransactionAsync(db, c => Watermarks.AdvanceCursorAsync(c, "nightly", 4, JsonSerializer.SerializeToElement(12)));
        Assert.Equal(12, (await Watermarks.ReadCursorAsync(db.DataSource, "nightly"))!.Value.GetInt32());
        Assert.Null(await Watermarks.ReadCursorAsync(db.DataSource, "other"));

        // A new version of b replaces both of its ranges' entries.
        await InTransactionAsync(db, c => Watermarks.RecordFilesAsync(c, "nightly", [Entry("b.json", 0, null, "v2", importId: 5)]));
        var state = (await db.Catalog.GetWatermarksAsync("nightly"))!;
        Assert.Equal([("a.json", 0L, (long?)null, "v1", 1L), ("b.json", 0L, null, "v2", 5L)],
            state.Files.Select(f => (f.Key, f.RangeStart, f.RangeEnd, f.Version, f.ImportId)));
        Assert.Equal([1, 2, 3], state.Files[0].ContentHash);
        Assert.Equal(12, state.Cursor!.Value.GetInt32());

        // Reset one file, then the rest.
        Assert.Equal((1, false, false), await db.Catalog.ResetWatermarksAsync("nightly", "a.json"));
        Assert.Equal((0, false, false), await db.Catalog.ResetWatermarksAsync("nightly", "a.json"));
        Assert.Equal((1, true, true), await db.Catalog.ResetWatermarksAsync("nightly"));
        Assert.Null(await db.Catalog.GetWatermarksAsync("nightly"));
    }

    [Fact]
    public async Task A_listing_taken_up_again_does_not_count_as_skipped_a_file_whose_unit_or_ranges_the_import_stored()
    {
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(Specs.Files("/unused", name: "nightly", incremental: true));
        static SkippedFile Skipped(string key) => new(key, "v1", 200, 1);
        await InTransactionAsync(db, async c =>
        {
            await PlannedUnits.InsertAsync(c, id, [
                new UnitDescriptor("a.json", 200, "v1"),
                new UnitDescriptor("big.csv", 200, "v1", Range: new UnitRange(0, 120, 0, 0)),
                new UnitDescriptor("big.csv", 200, "v1", Range: new UnitRange(120, 200, 6, 6)),
            ]);
            // Stored before the listing was cut: a.json whole, big.csv as two ranges (named "big.csv [0-120)", …); "big" is another file.
            await PlannedUnits.SkipAsync(c, id, [Skipped("a.json"), Skipped("big.csv"), Skipped("big"), Skipped("c.json")]);
        });

        Assert.Equal("big,c.json", await db.ScalarAsync<string>($"SELECT string_agg(key, ',' ORDER BY key) FROM ingest.skipped_files WHERE import_id = {id}"));
        Assert.Equal(2, (await db.StatusAsync(id)).Files.Skipped);
    }

    private static async Task InTransactionAsync(TestDatabase db, Func<Npgsql.NpgsqlConnection, Task> write)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await write(connection);
        await tx.CommitAsync();
    }

    [Fact]
    public void A_changed_path_pattern_table_or_mapping_is_named_and_how_the_import_runs_is_not()
    {
        var spec = ImportSpecParser.ParseJson(Specs.Files("/data/a", name: "nightly"));
        var (source, target) = (WatermarkScope.Source(spec), WatermarkScope.Target(spec));

        var tuned = spec with
        {
            Source = spec.Source with { Incremental = true, ChunkRows = 10 },
            Target = spec.Target with { Create = false, ForeignKeys = false },
            Parallelism = 9,
        };
        Assert.Empty(WatermarkScope.Differences(source, target, tuned));

        var moved = spec with { Source = spec.Source with { Path = "/data/b", Pattern = "*.ndjson" } };
        Assert.Equal(["source.path: \"/data/a\" → \"/data/b\"", "source.pattern: \"*.json\" → \"*.ndjson\""], WatermarkScope.Differences(source, target, moved));
        var retargeted = ImportSpecParser.ParseJson(Specs.Files("/data/a", table: "games2", name: "nightly").Replace("\"released\"", "\"released_on\""));
        Assert.Equal(["target.columns: changed", "target.table: \"games\" → \"games2\""], WatermarkScope.Differences(source, target, retargeted));
        Assert.Empty(WatermarkScope.Differences(null, null, retargeted));
    }

    [Fact]
    public void An_api_s_request_records_and_cursor_path_are_its_scope_and_how_it_is_read_is_not()
    {
        static ImportSpec Api(string url = "https://api.example/changes", string query = "\"lang\": \"es\"", string extra = "", string cursor = "updated_at", string param = "updated_since") =>
            ImportSpecParser.ParseJson($$"""
                { "name": "changes", "source": { "kind": "http", "url": "{{url}}", "query": { {{query}} }, "records": "results"{{extra}},
                    "incremental": { "cursorPath": "{{cursor}}", "param": "{{param}}", "initial": "2020-01-01" } },
                  "target": { "table": "t", "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } } } }
                """);
        var spec = Api();
        var (source, target) = (WatermarkScope.Source(spec), WatermarkScope.Target(spec));
        Assert.Contains("\"url\":\"https://api.example/changes\"", source);

        var tuned = Api(param: "since", extra: """
            , "headers": { "Authorization": "Bearer ${TOKEN}" }, "paginate": { "type": "page", "totalPagesPath": "total_pages" }, "timeoutSeconds": 5,
              "retry": { "attempts": 2 }, "rateLimit": { "key": "k", "requests": 1, "perSeconds": 1 }
            """);
        Assert.Empty(WatermarkScope.Differences(source, target, tuned));
        Assert.Empty(WatermarkScope.Differences(source, target, spec with { Source = spec.Source with { Cursor = spec.Source.Cursor! with { LagSeconds = 300, Initial = null } } }));

        Assert.Equal(["source.url: \"https://api.example/changes\" → \"https://api.example/v2/changes\""],
            WatermarkScope.Differences(source, target, Api(url: "https://api.example/v2/changes")));
        Assert.Equal(["source.query: changed"], WatermarkScope.Differences(source, target, Api(query: "\"lang\": \"en\"")));
        Assert.Equal(["source.cursorPath: \"updated_at\" → \"modified_at\""], WatermarkScope.Differences(source, target, Api(cursor: "modified_at")));
    }

    [Fact]
    public void A_sql_source_s_table_or_query_cursor_and_tie_break_are_its_scope_and_its_lag_is_not()
    {
        static ImportSpec Sql(string from = "\"table\": \"orders\"", string cursor = "updated_at", string tieBreak = "id", int lag = 30, string extra = "") =>
            ImportSpecParser.ParseJson($$"""
                { "name": "orders", "source": { "kind": "sql", "engine": "postgres", "connection": "${SHOP_DB}", {{from}}{{extra}},
                    "incremental": { "cursor": "{{cursor}}", "tieBreak": "{{tieBreak}}", "lagSeconds": {{lag}} } },
                  "target": { "table": "t", "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } } } }
                """);
        var spec = Sql();
        var (source, target) = (WatermarkScope.Source(spec), WatermarkScope.Target(spec));
        Assert.Empty(WatermarkScope.Differences(source, target, Sql(lag: 300, extra: ", \"chunkRows\": 10")));
        Assert.Equal(["source.sql: changed"], WatermarkScope.Differences(source, target, Sql(from: "\"table\": \"shop.orders\"")));
        Assert.Equal(["source.sql: changed"], WatermarkScope.Differences(source, target, Sql(from: "\"query\": \"SELECT * FROM orders\"")));
        Assert.Equal(["source.cursorPath: \"updated_at\" → \"modified_at\""], WatermarkScope.Differences(source, target, Sql(cursor: "modified_at")));
        Assert.Equal(["source.tieBreak: \"id\" → \"order_id\""], WatermarkScope.Differences(source, target, Sql(tieBreak: "order_id")));
    }
}
