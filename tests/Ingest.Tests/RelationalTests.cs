using Ingest.Engine.Relational;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingest.Bench;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;
using Ingest.Catalog;

namespace Ingest.Tests;

/// <summary>Nested records into related tables (children, dimensions, surrogates), on real silos and a real PostgreSQL.</summary>
public class RelationalTests
{
    private static readonly string[] NestedTables =
        ["games", "game_platforms", "game_genres", "game_tags", "game_stores", "game_screenshots", "game_aliases", "game_store_scores",
         "esrb_ratings", "platforms", "genres", "tags", "stores"];

    [Fact]
    public async Task Nested_RAWG_records_fill_every_table_exactly_and_a_reload_with_changed_children_makes_them_match()
    {
        using var data = new TempFolder();
        RawgSample.WriteNested(data.Path, files: 6, perFile: 40);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        db.StartSilo();

        var first = await db.WaitForAsync(await db.SubmitAsync(RawgSample.NestedSpec("nested", data.Path)));
        Assert.Equal(ImportState.Completed, first.State);
        Assert.Equal(new RowCounts(240, 240, 0, 0, 0), first.Rows);
        var expected = Expected(data.Path);
        await AssertTablesAsync(db, expected);
        Assert.NotNull(first.Tables);
        Assert.Equal(NestedTables.Order(), first.Tables!.Keys.Order());
        // In the order planning stored: the root, its descendants, the dimensions.
        Assert.Equal(new LoadPlan(ImportSpecParser.ParseJson(RawgSample.NestedSpec("nested", data.Path)).Target).ReportOrder.Select(t => t.Target.Name), first.Tables.Keys);
        Assert.Equal("games", first.Tables.Keys.First());
        foreach (var table in NestedTables)
            Assert.Equal(new TableCounts(expected[table].Count, 0, 0, 0), first.Tables[table] with { Unchanged = 0 });
        Assert.Equal(new TableCounts(240, 0, 0, 0), first.Tables["games"]);

        // Created with primary keys, a unique natural key for the surrogate dimension, and foreign keys.
        Assert.Equal(12, await db.ScalarAsync<long>("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'orleans%'"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM pg_constraint WHERE contype = 'u' AND conrelid = 'genres'::regclass"));

        // An identical reload writes nothing.
        var versions = await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY game_id, platform_id) FROM game_platforms");
        var again = await db.WaitForAsync(await db.SubmitAsync(RawgSample.NestedSpec("nested-again", data.Path)));
        Assert.Equal(new RowCounts(240, 0, 0, 240, 0), again.Rows);
        Assert.All(again.Tables!.Values, c => Assert.Equal(0, c.Inserted + c.Updated + c.Deleted));
        Assert.Equal(versions, await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY game_id, platform_id) FROM game_platforms"));

        // A tag removed, a platform added, a screenshot changed, all aliases of a game gone, a map entry changed.
        var page = Path.Combine(data.Path, "page-00002.json");
        var doc = JsonNode.Parse(File.ReadAllText(page))!;
        var games = doc["results"]!.AsArray();
        var withTags = games.First(g => g!["tags"]!.AsArray().Count >= 2)!;
        withTags["tags"]!.AsArray().RemoveAt(0);
        var fewPlatforms = games.First(g => g!["platforms"]!.AsArray().All(p => (int)p!["platform"]!["id"]! != 8))!;
        fewPlatforms["platforms"]!.AsArray().Add(JsonNode.Parse("""{"platform": {"id": 8, "name": "Android", "slug": "android"}, "released_at": "2020-02-02"}"""));
        var withShots = games.First(g => g!["short_screenshots"]!.AsArray().Count > 0)!;
        withShots["short_screenshots"]![0]!["image"] = "https://media.example/changed.jpg";
        var withAliases = games.First(g => g!["alternative_names"]!.AsArray().Count > 0)!;
        var aliasCount = withAliases["alternative_names"]!.AsArray().Count;
        withAliases["alternative_names"] = null;
        var withScores = games.First(g => g!["score_by_store"]!.AsObject().Count > 0)!;
        var store = withScores["score_by_store"]!.AsObject().First().Key;
        withScores["score_by_store"]![store] = 0.55;
        File.WriteAllText(page, doc.ToJsonString());

        var changed = await db.WaitForAsync(await db.SubmitAsync(RawgSample.NestedSpec("nested-changed", data.Path)));
        Assert.Equal(ImportState.Completed, changed.State);
        await AssertTablesAsync(db, Expected(data.Path));
        var t = changed.Tables!;
        Assert.Equal(new TableCounts(0, 0, 240, 0), t["games"]);
        Assert.Equal((0L, 0L, 1L), (t["game_tags"].Inserted, t["game_tags"].Updated, t["game_tags"].Deleted));
        Assert.Equal((1L, 0L, 0L), (t["game_platforms"].Inserted, t["game_platforms"].Updated, t["game_platforms"].Deleted));
        Assert.Equal((0L, 1L, 0L), (t["game_screenshots"].Inserted, t["game_screenshots"].Updated, t["game_screenshots"].Deleted));
        Assert.Equal((0L, 0L, (long)aliasCount), (t["game_aliases"].Inserted, t["game_aliases"].Updated, t["game_aliases"].Deleted));
        Assert.Equal((0L, 1L, 0L), (t["game_store_scores"].Inserted, t["game_store_scores"].Updated, t["game_store_scores"].Deleted));
        Assert.Equal(0, t["platforms"].Inserted + t["platforms"].Updated + t["platforms"].Deleted);
    }

    [Fact]
    public async Task A_unit_larger_than_what_a_load_holds_is_written_in_several_flushes_exactly()
    {
        using var data = new TempFolder();
        RawgSample.WriteNested(data.Path, files: 1, perFile: 12_000);
        var spec = RawgSample.NestedSpec("nested-big", data.Path);

        // The file holds more rows than a load keeps waiting (RelationalLoad.FlushBytes, FlushHeldRows): its unit flushes along the way.
        var plan = new LoadPlan(ImportSpecParser.ParseJson(spec).Target);
        var mapper = new RelationalMapper(plan);
        foreach (var sink in mapper.Sinks) sink.EncodeRecords(RelationalLoad.Encoding(sink.Table, direct: true));
        var file = Directory.GetFiles(data.Path).Single();
        var (flushes, records) = (0, 0L);
        await using (var stream = File.OpenRead(file))
            await foreach (var record in new Engine.Json.JsonRecordReader(file, "results", ndjson: false).ReadAsync(stream))
            {
                Assert.True(mapper.TryMap(record.Span, new Engine.Mapping.UnitFacts(1, new Engine.Sources.SourceObject(file, 0)), records++, out _));
                if (!RelationalLoad.IsFull(mapper)) continue;
                flushes++;
                foreach (var sink in mapper.Sinks) sink.Clear();
            }
        Assert.True(flushes >= 2, $"{flushes} flushes");

        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var import = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, import.State);
        Assert.Equal(new RowCounts(12_000, 12_000, 0, 0, 0), import.Rows);
        var expected = Expected(data.Path);
        await AssertTablesAsync(db, expected);
        foreach (var table in NestedTables)
            Assert.Equal(new TableCounts(expected[table].Count, 0, 0, 0), import.Tables![table] with { Unchanged = 0 });
    }

    [Fact]
    public async Task One_record_files_load_in_batches_and_an_identical_reload_counts_every_row_of_every_table_unchanged_once()
    {
        using var data = new TempFolder();
        RawgSample.WriteNested(data.Path, files: 40, perFile: 1);
        await using var db = await TestDatabase.CreateAsync();
        await using var cluster = await InProcessCluster.StartAsync(db);

        var first = await db.WaitForAsync((await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(RawgSample.NestedSpec("nested", data.Path)))).Id);
        Assert.Equal(ImportState.Completed, first.State);
        await AssertTablesAsync(db, Expected(data.Path));

        // Batches stage their units one after another in one transaction: each unit merges and counts its own rows only.
        var again = await db.WaitForAsync((await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(RawgSample.NestedSpec("nested-again", data.Path)))).Id);
        Assert.Equal(ImportState.Completed, again.State);
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {again.Id} AND dispatch = batch") >= 2, "no batch was merged");
        await AssertTablesAsync(db, Expected(data.Path));
        foreach (var table in NestedTables)
            Assert.True(again.Tables![table].Inserted + again.Tables[table].Updated + again.Tables[table].Deleted == 0, $"{table}: {again.Tables[table]}");
        foreach (var table in new[] { "games", "game_platforms", "game_genres", "game_tags", "game_stores", "game_screenshots", "game_aliases", "game_store_scores" })
            Assert.Equal(first.Tables![table].Inserted, again.Tables![table].Unchanged);
    }

    [Fact]
    public async Task A_batch_of_units_shares_one_load_counts_rows_per_unit_keeps_a_dimensions_later_attributes_and_a_key_that_exists_rolls_it_back_to_staging()
    {
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 1, "name": "one", "platforms": [{"platform": {"id": 1, "name": "PC"}}]}]}""");
        data.Write("b.json", """
            {"results": [{"id": 2, "name": "two", "platforms": [{"platform": {"id": 1, "name": "PC"}}, {"platform": {"id": 2, "name": "PS5"}}]},
                         {"id": "x", "name": "bad"}]}
            """);
        data.Write("c.json", """{"results": [{"id": 3, "name": "three", "platforms": [{"platform": {"id": 1, "name": "Windows"}}]}]}""");
        data.Write("d.json", """{"results": [{"id": 4, "name": "four", "platforms": []}]}""");
        data.Write("e.json", """{"results": [{"id": 1, "name": "one again", "platforms": [{"platform": {"id": 3, "name": "Switch"}}]}]}""");
        var spec = $$"""
            {
              "name": "batch", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}}, "records": "results" },
              "target": {
                "table": "games", "key": ["id"], "create": true,
                "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" } },
                "children": [
                  { "table": "game_platforms", "path": "platforms", "parentKey": ["game_id"], "key": ["platform_id"],
                    "columns": { "platform_id": { "path": "platform.id", "type": "int" } },
                    "references": [ { "columns": ["platform_id"],
                      "dimension": { "table": "platforms", "path": "platform", "key": ["id"],
                                     "columns": { "id": { "path": "id", "type": "int" }, "name": { "path": "name", "type": "text" } } } } ] }
                ]
              }
            }
            """;
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(spec);
        Assert.Equal(5, await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id));
        var loader = UnitLoader.For(ImportSpecParser.ParseJson(spec), TestSources.Registry);

        var first = await db.LoadBatchAsync(loader, id, "a.json", "b.json", "c.json");
        Assert.Equal([1L, 2, 1], first.Select(r => r.RowsRead));
        Assert.Equal([0L, 1, 0], first.Select(r => r.Rejected));
        Assert.Equal([1L, 1, 1], first.Select(r => r.Tables!["games"].Inserted));
        Assert.Equal([1L, 2, 1], first.Select(r => r.Tables!["game_platforms"].Inserted));
        // The batch merges platform 1 once, with the attributes of the last unit that holds it; the counts fall to the unit that completed the load.
        Assert.Equal([0L, 0, 2], first.Select(r => r.Tables!["platforms"].Inserted));
        Assert.Equal(["1|Windows", "2|PS5"], await RowsAsync(db, "platforms", "id", "name"));
        Assert.Equal(["1|1", "2|1", "2|2", "3|1"], await RowsAsync(db, "game_platforms", "game_id", "platform_id"));

        // e.json holds a game that exists: the shared COPY fails and the transaction rolls back, d.json's game and e.json's platform with it.
        await Assert.ThrowsAsync<DirectCopyConflictException>(() => db.LoadBatchAsync(loader, id, "d.json", "e.json"));
        Assert.Equal(["1|one", "2|two", "3|three"], await RowsAsync(db, "games", "id", "name"));
        Assert.Equal(2, await db.ScalarAsync<long>("SELECT count(*) FROM platforms"));
        // Loaded again, the batch's units go through staging and merge, each with its own counts.
        var again = await db.LoadBatchAsync(loader, id, "d.json", "e.json");
        Assert.Equal([new LoadCounts(1, 0, 0), new LoadCounts(0, 1, 0)], again.Select(r => r.Counts));
        Assert.Equal((1L, 1L), (again[1].Tables!["game_platforms"].Inserted, again[1].Tables!["game_platforms"].Deleted));
        Assert.Equal(["1|3", "2|1", "2|2", "3|1"], await RowsAsync(db, "game_platforms", "game_id", "platform_id"));
        Assert.Equal(["1|Windows", "2|PS5", "3|Switch"], await RowsAsync(db, "platforms", "id", "name"));
    }

    [Fact]
    public async Task Countries_borders_language_map_and_currency_map_of_objects_into_a_currency_dimension()
    {
        using var data = new TempFolder();
        data.Write("countries.json", """
            [
              {"cca3": "NLD", "name": {"common": "Netherlands"}, "borders": ["BEL", "DEU"],
               "languages": {"nld": "Dutch", "fry": "Western Frisian"},
               "currencies": {"EUR": {"name": "Euro", "symbol": "€"}}},
              {"cca3": "CHE", "name": {"common": "Switzerland"}, "borders": ["AUT", "FRA", "ITA", "LIE", "DEU"],
               "languages": {"fra": "French", "gsw": "Swiss German", "ita": "Italian", "roh": "Romansh"},
               "currencies": {"CHF": {"name": "Swiss franc", "symbol": "Fr."}}},
              {"cca3": "ATA", "name": {"common": "Antarctica"}, "borders": null, "languages": {}, "currencies": null},
              {"cca3": "ZWE", "name": {"common": "Zimbabwe"}, "borders": ["BWA", "MOZ", "ZAF", "ZMB"],
               "languages": {"eng": "English", "sna": "Shona"},
               "currencies": {"USD": {"name": "United States dollar", "symbol": "$"}, "ZWL": {"name": "Zimbabwean dollar", "symbol": "$"},
                              "EUR": {"name": "Euro", "symbol": "€"}}}
            ]
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var id = await db.SubmitAsync($$"""
            {
              "name": "countries",
              "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}} },
              "target": {
                "table": "countries", "key": ["cca3"], "create": true,
                "columns": { "cca3": { "path": "cca3", "type": "text" }, "name": { "path": "name.common", "type": "text" },
                             "loaded_from": { "meta": "file" }, "position": { "meta": "record_index" },
                             "etag": { "meta": "etag" }, "modified": { "meta": "modified" }, "size": { "meta": "size" }, "import": { "meta": "import_id" } },
                "children": [
                  { "table": "country_borders", "path": "borders", "columns": { "border": { "path": "$", "type": "text" }, "ord": { "path": "$index", "type": "int" } } },
                  { "table": "country_languages", "path": "languages", "key": ["code"],
                    "columns": { "code": { "path": "$key", "type": "text" }, "language": { "path": "$value", "type": "text" } } },
                  { "table": "country_currencies", "path": "currencies", "key": ["currency"],
                    "columns": { "currency": { "path": "$key", "type": "text" } },
                    "references": [ { "columns": ["currency"],
                      "dimension": { "table": "currencies", "key": ["code"],
                                     "columns": { "code": { "path": "$key", "type": "text" }, "name": { "path": "name", "type": "text" },
                                                  "symbol": { "path": "$value.symbol", "type": "text" } } } } ] }
                ]
              }
            }
            """);
        var status = await db.WaitForAsync(id);
        var file = new FileInfo(Path.Combine(data.Path, "countries.json"));
        Assert.Equal([$"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}|{file.Length}|{id}"], (await RowsAsync(db, "countries", "etag", "size", "import")).Distinct());
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(DISTINCT modified) FROM countries WHERE abs(extract(epoch FROM modified - '{file.LastWriteTimeUtc:O}'::timestamptz)) < 0.001"));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(["ATA|Antarctica|countries.json|2", "CHE|Switzerland|countries.json|1", "NLD|Netherlands|countries.json|0", "ZWE|Zimbabwe|countries.json|3"],
            await RowsAsync(db, "countries", "cca3", "name", "loaded_from", "position"));
        Assert.Equal(["CHE|AUT|0", "CHE|DEU|4", "CHE|FRA|1", "CHE|ITA|2", "CHE|LIE|3", "NLD|BEL|0", "NLD|DEU|1", "ZWE|BWA|0", "ZWE|MOZ|1", "ZWE|ZAF|2", "ZWE|ZMB|3"],
            await RowsAsync(db, "country_borders", "countries_cca3", "border", "ord"));
        Assert.Equal(["CHE|fra|French", "CHE|gsw|Swiss German", "CHE|ita|Italian", "CHE|roh|Romansh", "NLD|fry|Western Frisian", "NLD|nld|Dutch", "ZWE|eng|English", "ZWE|sna|Shona"],
            await RowsAsync(db, "country_languages", "countries_cca3", "code", "language"));
        Assert.Equal(["CHE|CHF", "NLD|EUR", "ZWE|EUR", "ZWE|USD", "ZWE|ZWL"], await RowsAsync(db, "country_currencies", "countries_cca3", "currency"));
        Assert.Equal(["CHF|Swiss franc|Fr.", "EUR|Euro|€", "USD|United States dollar|$", "ZWL|Zimbabwean dollar|$"], await RowsAsync(db, "currencies", "code", "name", "symbol"));
        Assert.Equal(new TableCounts(4, 0, 0, 0), status.Tables!["currencies"]);
        Assert.Equal(new TableCounts(11, 0, 0, 0), status.Tables["country_borders"]);
    }

    [Fact]
    public async Task The_same_natural_key_gets_the_same_surrogate_across_imports_and_a_null_key_gives_no_dimension_row()
    {
        const string spec = """
            {
              "name": "sales", "source": { "kind": "files", "path": "FOLDER" },
              "target": {
                "table": "sales", "create": true,
                "columns": { "sale_id": { "path": "id", "type": "bigint" }, "amount": { "path": "amount", "type": "numeric" } },
                "references": [
                  { "column": "customer_sk",
                    "dimension": { "table": "customers", "path": "customer", "key": ["email"], "surrogate": "customer_sk",
                                   "columns": { "email": { "path": "email", "type": "text" }, "name": { "path": "name", "type": "text" } } } } ]
              }
            }
            """;
        using var one = new TempFolder();
        one.Write("day1.json", """
            [ {"id": 1, "amount": 10.5, "customer": {"email": "ana@example.com", "name": "Ana"}},
              {"id": 2, "amount": 3, "customer": {"email": "bo@example.com", "name": "Bo"}},
              {"id": 3, "amount": 7, "customer": {"email": "ana@example.com", "name": "Ana"}},
              {"id": 4, "amount": 1, "customer": {"email": null, "name": "walk-in"}},
              {"id": 5, "amount": 2} ]
            """);
        using var two = new TempFolder();
        two.Write("day2.json", """
            [ {"id": 6, "amount": 4, "customer": {"email": "bo@example.com", "name": "Bo B."}},
              {"id": 7, "amount": 5, "customer": {"email": "cy@example.com", "name": "Cy"}} ]
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var day1 = await db.WaitForAsync(await db.SubmitAsync(spec.Replace("FOLDER", one.Path)));
        Assert.Equal(ImportState.Completed, day1.State);
        var ana = await db.ScalarAsync<long>("SELECT customer_sk FROM customers WHERE email = 'ana@example.com'");
        var bo = await db.ScalarAsync<long>("SELECT customer_sk FROM customers WHERE email = 'bo@example.com'");
        var day2 = await db.WaitForAsync(await db.SubmitAsync(spec.Replace("FOLDER", two.Path)));
        Assert.Equal(ImportState.Completed, day2.State);

        Assert.Equal(new TableCounts(2, 0, 0, 0), day1.Tables!["customers"]);
        Assert.Equal(new TableCounts(1, 1, 0, 0), day2.Tables!["customers"]);
        Assert.Equal(bo, await db.ScalarAsync<long>("SELECT customer_sk FROM customers WHERE email = 'bo@example.com'"));
        Assert.Equal("Bo B.", await db.ScalarAsync<string>("SELECT name FROM customers WHERE email = 'bo@example.com'"));
        Assert.Equal(3, await db.ScalarAsync<long>("SELECT count(*) FROM customers"));
        var cy = await db.ScalarAsync<long>("SELECT customer_sk FROM customers WHERE email = 'cy@example.com'");
        Assert.Equal([$"1|{ana}", $"2|{bo}", $"3|{ana}", "4|∅", "5|∅", $"6|{bo}", $"7|{cy}"], await RowsAsync(db, "sales", "sale_id", "customer_sk"));
    }

    [Fact]
    public async Task A_first_load_sends_dimensions_of_every_type_and_composite_surrogate_lookups_without_temporary_tables()
    {
        const string spec = """
            {
              "name": "typed", "source": { "kind": "files", "path": "FOLDER", "records": "results" },
              "target": {
                "table": "items", "key": ["id"], "create": true,
                "columns": { "id": { "path": "id", "type": "bigint" }, "kind_id": { "path": "kind.id", "type": "int" } },
                "references": [
                  { "columns": ["kind_id"],
                    "dimension": { "table": "kinds", "path": "kind", "key": ["id"],
                                   "columns": { "id": { "path": "id", "type": "int" }, "big": { "path": "big", "type": "bigint" },
                                                "name": { "path": "name", "type": "text" }, "ratio": { "path": "ratio", "type": "double" },
                                                "price": { "path": "price", "type": "numeric" }, "active": { "path": "active", "type": "boolean" },
                                                "since": { "path": "since", "type": "date" }, "seen": { "path": "seen", "type": "timestamptz" },
                                                "extra": { "path": "extra", "type": "jsonb" } } } } ],
                "children": [
                  { "table": "item_labels", "path": "labels", "parentKey": ["item_id"], "key": ["label_sk"],
                    "references": [
                      { "column": "label_sk",
                        "dimension": { "table": "labels", "key": ["code", "since"], "surrogate": "label_sk",
                                       "columns": { "code": { "path": "code", "type": "text" }, "since": { "path": "since", "type": "date" },
                                                    "note": { "path": "note", "type": "text" } } } } ] },
                  { "table": "item_moments", "path": "moments", "parentKey": ["item_id"], "key": ["moment_sk"],
                    "references": [
                      { "column": "moment_sk",
                        "dimension": { "table": "moments", "key": ["at"], "surrogate": "moment_sk",
                                       "columns": { "at": { "path": "$", "type": "timestamptz" } } } } ] } ]
              }
            }
            """;
        using var data = new TempFolder();
        data.Write("a.json", """
            {"results": [
              {"id": 1, "kind": {"id": 1, "big": 9007199254740993, "name": "café 'q'", "ratio": 0.5, "price": 12.34, "active": true,
                                 "since": "2024-02-29", "seen": "2024-03-01T10:00:00Z", "extra": {"a": [1, 2]}},
               "labels": [{"code": "x", "since": "2020-01-01", "note": "first"}, {"code": "y", "since": "2020-01-01", "note": null}],
               "moments": ["2024-01-01T00:00:00.0000001Z", "2024-01-02T00:00:00Z"]},
              {"id": 2, "kind": {"id": 2, "big": null, "name": null, "ratio": null, "price": null, "active": null, "since": null, "seen": null, "extra": null},
               "labels": [{"code": "x", "since": "2021-01-01", "note": "second"}, {"code": "x", "since": "2020-01-01", "note": "first"}],
               "moments": ["2024-01-02T00:00:00Z"]} ]}
            """);
        data.Write("b.json", """
            {"results": [ {"id": 1, "kind": {"id": 1, "big": 1, "name": "changed"}, "labels": [{"code": "z", "since": "2022-01-01"}]} ]}
            """);
        var json = spec.Replace("FOLDER", data.Path);
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(json);
        Assert.Equal(2, await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id));
        var loader = UnitLoader.For(ImportSpecParser.ParseJson(json), TestSources.Registry);

        // The load, and how many temporary tables its session holds after the commit.
        async Task<(UnitLoadResult, long)> LoadAsync(string key)
        {
            await using var connection = await db.DataSource.OpenConnectionAsync();
            await using var tx = await connection.BeginTransactionAsync();
            var result = await loader.LoadAsync(connection, id, key);
            await tx.CommitAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'", connection);
            return (result, (long)(await count.ExecuteScalarAsync())!);
        }

        var (first, temporary) = await LoadAsync("a.json");
        Assert.Equal(new LoadCounts(2, 0, 0), first.Tables!["kinds"]);
        Assert.Equal(new LoadCounts(3, 0, 0), first.Tables["labels"]);
        Assert.Equal(new LoadCounts(4, 0, 0), first.Tables["item_labels"]);
        Assert.Equal(["1|9007199254740993|café 'q'|0.5|12.34|true|2024-02-29|2024-03-01 10:00:00|{\"a\": [1, 2]}", "2|∅|∅|∅|∅|∅|∅|∅|∅"],
            await RowsAsync(db, "kinds", "id", "big", "name", "ratio", "price", "active", "since", "(seen AT TIME ZONE 'UTC')", "extra"));
        Assert.Equal(["1|x|2020-01-01|first", "1|y|2020-01-01|∅", "2|x|2020-01-01|first", "2|x|2021-01-01|second"],
            await RowsAsync(db, "item_labels JOIN labels USING (label_sk)", "item_id", "code", "since", "note"));
        // A timestamptz natural key (microseconds in PostgreSQL, a tenth of that in .NET) is looked up by a join, not in the silo.
        Assert.Equal(["1|2024-01-01 00:00:00", "1|2024-01-02 00:00:00", "2|2024-01-02 00:00:00"],
            await RowsAsync(db, "item_moments JOIN moments USING (moment_sk)", "item_id", "(at AT TIME ZONE 'UTC')"));
        Assert.Equal(0, temporary);

        // Item 1 exists: the direct COPY fails; loaded again, staged, the dimension's change is an update.
        await Assert.ThrowsAsync<DirectCopyConflictException>(() => LoadAsync("b.json"));
        (var again, temporary) = await LoadAsync("b.json");
        Assert.Equal(new LoadCounts(0, 1, 0), again.Tables!["kinds"]);
        Assert.Equal(["1|z|2022-01-01", "2|x|2020-01-01", "2|x|2021-01-01"], await RowsAsync(db, "item_labels JOIN labels USING (label_sk)", "item_id", "code", "since"));
        Assert.Equal("1|changed", Assert.Single(await RowsAsync(db, "kinds WHERE id = 1", "big", "name")));
        Assert.Equal(["2|2024-01-02 00:00:00"], await RowsAsync(db, "item_moments JOIN moments USING (moment_sk)", "item_id", "(at AT TIME ZONE 'UTC')"));
        Assert.Equal(6, temporary); // staged: one per table
    }

    [Fact]
    public async Task The_same_parent_twice_in_a_unit_keeps_the_last_record_whole_children_included()
    {
        using var data = new TempFolder();
        data.Write("orders.json", """
            [ {"id": 1, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "tags": ["x", "y"]},
              {"id": 2, "lines": [{"sku": "c", "qty": 3}], "tags": ["z"]},
              {"id": 1, "lines": [{"sku": "b", "qty": 5}], "tags": ["x", "x"]},
              {"id": 3, "lines": [{"sku": "d", "qty": "many"}], "tags": []} ]
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync($$"""
            {
              "name": "orders", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}} },
              "target": {
                "table": "orders", "key": ["id"], "create": true, "columns": { "id": { "path": "id", "type": "bigint" } },
                "children": [
                  { "table": "order_lines", "path": "lines", "parentKey": ["order_id"], "key": ["sku"],
                    "columns": { "sku": { "path": "sku", "type": "text" }, "qty": { "path": "qty", "type": "int" } } },
                  { "table": "order_tags", "path": "tags", "parentKey": ["order_id"], "columns": { "tag": { "path": "$", "type": "text" } } } ]
              }
            }
            """));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(4, 2, 0, 1, 1), status.Rows);
        Assert.Equal(["1", "2"], await RowsAsync(db, "orders", "id"));
        Assert.Equal(["1|b|5", "2|c|3"], await RowsAsync(db, "order_lines", "order_id", "sku", "qty"));
        Assert.Equal(["1|x", "2|z"], await RowsAsync(db, "order_tags", "order_id", "tag"));
        var reason = await db.ScalarAsync<string>("SELECT reason FROM ingest.rejects");
        Assert.Contains("lines[0]: column 'qty' (int) at 'qty'", reason);
    }

    [Fact]
    public async Task Silos_killed_mid_import_leave_every_related_table_exact()
    {
        const int files = 30, perFile = 20;
        using var data = new TempFolder();
        RawgSample.WriteNested(data.Path, files, perFile);
        await using var db = await TestDatabase.CreateAsync();
        // The root table made slow (two seconds per unit of 20 games, batched or not: a batch shares
        // one COPY), so that kills land while units are in flight.
        await db.ExecuteAsync("""
            CREATE TABLE games (id bigint PRIMARY KEY, name text, released date, esrb_id integer, tenant text, source_file text);
            CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END $$;
            CREATE TRIGGER slow BEFORE INSERT ON games FOR EACH ROW EXECUTE FUNCTION slow();
            """);
        for (var i = 0; i < 3; i++) db.StartSilo();
        var id = await db.SubmitAsync(RawgSample.NestedSpec("nested-kill", data.Path, parallelism: 4));

        for (var k = 0; k < 2; k++)
        {
            // Units on their first attempt, alone (attempts 1) or in a batch (whose attempt counts when it commits).
            var holder = await Poll.UntilAsync(() => db.ScalarAsync<string>($"""
                SELECT coalesce(min(silo), '') FROM (
                  SELECT silo FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running} GROUP BY silo HAVING max(attempts) <= 1) h
                """), silo => db.Silos.Any(n => n.Address == silo && !n.HasExited), TimeSpan.FromSeconds(30), "a unit in flight");
            db.Silos.Single(n => n.Address == holder).Kill();
            await db.StartSilo().StartedAsync();
        }
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(files * perFile, files * perFile, 0, 0, 0), status.Rows);
        var expected = Expected(data.Path);
        await AssertTablesAsync(db, expected);
        // Counted once each, though dimension keys arrived from many units at once on different silos.
        foreach (var table in NestedTables) Assert.Equal(expected[table].Count, status.Tables![table].Inserted);
        // An interrupted unit took a second attempt; an interrupted batch's units each ran alone after it.
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND (attempts > 1 OR dispatch <> batch)") >= 1,
            "no unit was interrupted: the test did not exercise failover");
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND message LIKE '%deadlock%'"));
    }

    // Every table's rows as sorted "a|b|c" lines, computed from the files without the product's code.
    private static Dictionary<string, List<string>> Expected(string folder)
    {
        var t = NestedTables.ToDictionary(n => n, _ => new HashSet<string>());
        var genreSlugs = new HashSet<string>();
        foreach (var file in Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var g in doc.RootElement.GetProperty("results").EnumerateArray())
            {
                var id = g.GetProperty("id").GetInt64();
                var esrb = g.GetProperty("esrb_rating");
                t["games"].Add(Line(id, g.GetProperty("name").GetString(), g.GetProperty("released").GetString(),
                    esrb.ValueKind == JsonValueKind.Null ? null : esrb.GetProperty("id").GetInt32(), "rawg", Path.GetFileName(file)));
                if (esrb.ValueKind != JsonValueKind.Null) t["esrb_ratings"].Add(Line(esrb.GetProperty("id").GetInt32(), esrb.GetProperty("name").GetString()));
                foreach (var p in g.GetProperty("platforms").EnumerateArray())
                {
                    var platform = p.GetProperty("platform");
                    t["game_platforms"].Add(Line(id, platform.GetProperty("id").GetInt32(), p.GetProperty("released_at").GetString()));
                    t["platforms"].Add(Line(platform.GetProperty("id").GetInt32(), platform.GetProperty("name").GetString(), platform.GetProperty("slug").GetString()));
                }
                foreach (var genre in g.GetProperty("genres").EnumerateArray())
                {
                    t["game_genres"].Add(Line(id, genre.GetProperty("slug").GetString()));
                    t["genres"].Add(Line(genre.GetProperty("slug").GetString(), genre.GetProperty("name").GetString()));
                }
                foreach (var tag in g.GetProperty("tags").EnumerateArray())
                {
                    t["game_tags"].Add(Line(id, tag.GetProperty("id").GetInt32()));
                    t["tags"].Add(Line(tag.GetProperty("id").GetInt32(), tag.GetProperty("name").GetString(), tag.GetProperty("language").GetString()));
                }
                foreach (var s in g.GetProperty("stores").EnumerateArray())
                {
                    var store = s.GetProperty("store");
                    t["game_stores"].Add(Line(id, store.GetProperty("id").GetInt32(), s.GetProperty("id").GetInt64()));
                    t["stores"].Add(Line(store.GetProperty("id").GetInt32(), store.GetProperty("name").GetString(), store.GetProperty("slug").GetString()));
                }
                foreach (var shot in g.GetProperty("short_screenshots").EnumerateArray())
                    t["game_screenshots"].Add(Line(id, shot.GetProperty("id").GetInt64(), shot.GetProperty("image").GetString()));
                if (g.GetProperty("alternative_names") is { ValueKind: JsonValueKind.Array } aliases)
                    foreach (var alias in aliases.EnumerateArray()) t["game_aliases"].Add(Line(id, alias.GetString()));
                foreach (var score in g.GetProperty("score_by_store").EnumerateObject())
                    t["game_store_scores"].Add(Line(id, score.Name, score.Value.GetDouble()));
            }
        }
        return t.ToDictionary(kv => kv.Key, kv => kv.Value.Order(StringComparer.Ordinal).ToList());
    }

    private static async Task AssertTablesAsync(TestDatabase db, Dictionary<string, List<string>> expected)
    {
        Assert.Equal(expected["games"], await RowsAsync(db, "games", "id", "name", "released", "esrb_id", "tenant", "source_file"));
        Assert.Equal(expected["esrb_ratings"], await RowsAsync(db, "esrb_ratings", "id", "name"));
        Assert.Equal(expected["game_platforms"], await RowsAsync(db, "game_platforms", "game_id", "platform_id", "released_at"));
        Assert.Equal(expected["platforms"], await RowsAsync(db, "platforms", "id", "name", "slug"));
        Assert.Equal(expected["game_genres"], await RowsAsync(db, "game_genres g JOIN genres d USING (genre_sk)", "g.game_id", "d.slug"));
        Assert.Equal(expected["genres"], await RowsAsync(db, "genres", "slug", "name"));
        Assert.Equal(expected["game_tags"], await RowsAsync(db, "game_tags", "game_id", "tag_id"));
        Assert.Equal(expected["tags"], await RowsAsync(db, "tags", "id", "name", "language"));
        Assert.Equal(expected["game_stores"], await RowsAsync(db, "game_stores", "game_id", "store_id", "listing_id"));
        Assert.Equal(expected["stores"], await RowsAsync(db, "stores", "id", "name", "slug"));
        Assert.Equal(expected["game_screenshots"], await RowsAsync(db, "game_screenshots", "game_id", "id", "image"));
        Assert.Equal(expected["game_aliases"], await RowsAsync(db, "game_aliases", "game_id", "alias"));
        Assert.Equal(expected["game_store_scores"], await RowsAsync(db, "game_store_scores", "game_id", "store", "score"));
        Assert.Equal(await db.ScalarAsync<long>("SELECT count(*) FROM game_genres"), await db.ScalarAsync<long>("SELECT count(*) FROM game_genres g JOIN genres d USING (genre_sk)"));
    }

    private static string Line(params object?[] values) =>
        string.Join("|", values.Select(v => v switch
        {
            null => "∅",
            double d => d.ToString(CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => v.ToString(),
        }));

    internal static async Task<List<string>> RowsAsync(TestDatabase db, string from, params string[] columns)
    {
        var rows = new List<string>();
        await using var cmd = db.DataSource.CreateCommand($"SELECT concat_ws('|', {string.Join(", ", columns.Select(c => $"coalesce({c}::text, '∅')"))}) FROM {from}");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }
}
