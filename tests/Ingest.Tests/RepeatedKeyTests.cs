using System.Text.Json;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// A key met twice in a direct load (a unit, or a batch of units sharing one COPY) stays on the
/// fast path: the later records are set aside and merged after the COPY, in the same transaction,
/// with the rows and counts of a load staged unit by unit. Before, such a load failed its COPY with
/// <see cref="DirectCopyConflictException"/> and went through staging; that it does not throw is
/// the path taken.
/// </summary>
public sealed class RepeatedKeyTests
{
    private static string Spec(string folder, string target) => $$"""
        { "name": "repeats", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "records": "results" }, "target": {{target}} }
        """;

    private const string Flat = """
        { "table": "t", "key": ["id"], "create": true,
          "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "raw": { "path": "$", "type": "jsonb" } } }
        """;

    private static async Task<(TestDatabase Db, long Id, UnitLoader Loader)> PlanAsync(TempFolder data, string spec)
    {
        var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(spec);
        await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id);
        return (db, id, UnitLoader.For(ImportSpecParser.ParseJson(spec), TestSources.Registry));
    }

    [Fact]
    public async Task A_batch_takes_keys_repeated_within_and_across_its_units_in_one_COPY_with_exact_rows_and_counts()
    {
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 1, "name": "one-a"}, {"id": 2, "name": "two"}, {"id": 1, "name": "one-b"}, {"id": 1, "name": "one-c"}]}""");
        data.Write("b.json", """{"results": [{"id": 3, "name": "three"}, {"id": 2, "name": "two-b"}, {"id": 3, "name": "three-b"}]}""");
        data.Write("c.json", """{"results": [{"id": 2, "name": "two-b"}]}""");
        data.Write("d.json", """{"results": [{"id": 12, "name": "x"}, {"id": 11, "name": "x"}, {"id": 12, "name": "y"}, {"id": 10, "name": "x"}]}""");
        var (db, id, loader) = await PlanAsync(data, Spec(data.Path, Flat));
        await using var _ = db;

        var results = await db.LoadBatchAsync(loader, id, "a.json", "b.json", "c.json");

        // As if each unit were staged after the one before it: a.json inserts 1 and 2 (1's two earlier
        // occurrences unchanged), b.json inserts 3 and updates 2, c.json finds 2 as b.json left it.
        Assert.Equal([new LoadCounts(2, 0, 2), new LoadCounts(1, 1, 1), new LoadCounts(0, 0, 1)], results.Select(r => r.Counts));
        Assert.Equal([4L, 3, 1], results.Select(r => r.RowsRead));
        Assert.Equal(["1|one-c", "2|two-b", "3|three-b"], await RowsAsync(db, "t", "id", "name"));
        Assert.Equal(["1|one-c", "2|two-b", "3|three-b"], await RowsAsync(db, "t", "(raw->>'id')", "(raw->>'name')"));

        // The loader stays on the direct path: the next unit's rows lie in file order (staging merges in
        // key order), but 12, taken back and written again after the COPY.
        var alone = await LoadAloneAsync(db, loader, id, "d.json");
        Assert.Equal(new LoadCounts(3, 0, 1), alone.Counts);
        Assert.Equal("11,10,12", await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY ctid) FROM t WHERE id >= 10"));
        Assert.Equal("y", await db.ScalarAsync<string>("SELECT name FROM t WHERE id = 12"));
    }

    [Fact]
    public async Task A_CSV_unit_mapped_from_its_fields_sets_its_repeats_aside_with_their_lines_and_exact_counts()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id,name\n1,one-a\n2,two\n1,one-b\n3,\"three, \"\"quoted\"\"\"\nx,bad\n1,one-c\n");
        var spec = $$"""
            { "name": "repeats", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}}, "pattern": "*.csv" },
              "target": { "table": "t", "key": ["id"], "create": true,
                          "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "line": { "meta": "line" } } } }
            """;
        var (db, id, loader) = await PlanAsync(data, spec);
        await using var _ = db;

        var result = await LoadAloneAsync(db, loader, id, "a.csv");

        // 1 is inserted once (its two earlier occurrences unchanged), as the row of its last line.
        Assert.Equal(new LoadCounts(3, 0, 2), result.Counts);
        Assert.Equal((6L, 1L), (result.RowsRead, result.Rejected));
        Assert.Contains("line 6: column 'id' (bigint) at 'id': \"x\" is not a whole number", Assert.Single(result.Rejects).Reason);
        Assert.Equal(["1|one-c|7", "2|two|3", "3|three, \"quoted\"|5"], await RowsAsync(db, "t", "id", "name", "line"));
    }

    [Fact]
    public async Task A_key_that_exists_before_the_load_still_stages_the_load()
    {
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 1, "name": "one"}, {"id": 1, "name": "one-b"}]}""");
        data.Write("b.json", """{"results": [{"id": 2, "name": "two"}, {"id": 1, "name": "one-c"}, {"id": 1, "name": "one-d"}]}""");
        var (db, id, loader) = await PlanAsync(data, Spec(data.Path, Flat));
        await using var _ = db;
        Assert.Equal(new LoadCounts(1, 0, 1), (await db.LoadBatchAsync(loader, id, "a.json"))[0].Counts);

        await Assert.ThrowsAsync<DirectCopyConflictException>(() => db.LoadBatchAsync(loader, id, "b.json"));
        var staged = await db.LoadBatchAsync(loader, id, "b.json");

        Assert.Equal(new LoadCounts(1, 1, 1), staged[0].Counts);
        Assert.Equal(["1|one-d", "2|two"], await RowsAsync(db, "t", "id", "name"));
    }

    [Theory]
    [InlineData("update")]
    [InlineData("keep")]
    public async Task Dedup_and_keep_count_a_repeated_key_as_staging_would(string onConflict)
    {
        using var data = new TempFolder();
        // a.json: 1 twice with the same content, 2 twice with a change. b.json: 2 again, unchanged from a.json's last.
        data.Write("a.json", """{"results": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 1, "name": "one"}, {"id": 2, "name": "two-b"}]}""");
        data.Write("b.json", """{"results": [{"id": 2, "name": "two-c"}, {"id": 3, "name": "three"}]}""");
        var target = $$"""
            { "table": "t", "key": ["id"], "create": true, "onConflict": "{{onConflict}}",
              "dedup": { "hash": ["id", "name"], "column": "h" },
              "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" } } }
            """;
        var (db, id, loader) = await PlanAsync(data, Spec(data.Path, target));
        await using var _ = db;

        var results = await db.LoadBatchAsync(loader, id, "a.json", "b.json");

        // Within a unit the last occurrence wins, keep or not (nothing existed before the unit).
        // Across units, keep leaves 2 as a.json left it; update takes b.json's change.
        Assert.Equal(new LoadCounts(2, 0, 2), results[0].Counts);
        Assert.Equal(onConflict == "keep" ? new LoadCounts(1, 0, 1) : new LoadCounts(1, 1, 0), results[1].Counts);
        Assert.Equal(["1|one", onConflict == "keep" ? "2|two-b" : "2|two-c", "3|three"], await RowsAsync(db, "t", "id", "name"));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM t WHERE h IS NULL"));
    }

    [Fact]
    public async Task A_chunk_holding_a_key_twice_loads_directly()
    {
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 5, "name": "a"}, {"id": 4, "name": "a"}, {"id": 5, "name": "b"}, {"id": 3, "name": "a"}, {"id": 5, "name": "c"}]}""");
        var (db, id, loader) = await PlanAsync(data, Spec(data.Path, Flat));
        await using var _ = db;

        var result = await LoadAloneAsync(db, loader, id, "a.json");

        Assert.Equal(new LoadCounts(3, 0, 2), result.Counts);
        Assert.Equal(["3|a", "4|a", "5|c"], await RowsAsync(db, "t", "id", "name"));
        // 5 was taken back and written again after the COPY: 4 and 3 lie in file order, as a direct COPY wrote them.
        Assert.Equal("4,3", await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY ctid) FROM t WHERE id < 5"));
    }

    [Fact]
    public async Task A_nested_batch_takes_a_repeated_root_whole_children_included_within_and_across_units()
    {
        using var data = new TempFolder();
        data.Write("a.json", """
            {"results": [
              {"id": 1, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "tags": ["x", "y"]},
              {"id": 2, "lines": [{"sku": "c", "qty": 3}], "tags": ["z"]},
              {"id": 1, "lines": [{"sku": "b", "qty": 5}], "tags": ["x", "x"]} ]}
            """);
        data.Write("b.json", """
            {"results": [
              {"id": 2, "lines": [{"sku": "c", "qty": 4}, {"sku": "e", "qty": 1}], "tags": ["z"]},
              {"id": 3, "lines": [{"sku": "d", "qty": 1}], "tags": []} ]}
            """);
        const string target = """
            { "table": "orders", "key": ["id"], "create": true, "columns": { "id": { "path": "id", "type": "bigint" } },
              "children": [
                { "table": "order_lines", "path": "lines", "parentKey": ["order_id"], "key": ["sku"],
                  "columns": { "sku": { "path": "sku", "type": "text" }, "qty": { "path": "qty", "type": "int" } } },
                { "table": "order_tags", "path": "tags", "parentKey": ["order_id"], "columns": { "tag": { "path": "$", "type": "text" } } } ] }
            """;
        var (db, id, loader) = await PlanAsync(data, Spec(data.Path, target));
        await using var _ = db;

        var results = await db.LoadBatchAsync(loader, id, "a.json", "b.json");

        // a.json: order 1's last record wins whole; b.json: order 2 is an upsert of a.json's (c updated, e inserted).
        Assert.Equal(new LoadCounts(2, 0, 1), results[0].Tables!["orders"]);
        Assert.Equal(new LoadCounts(2, 0, 0), results[0].Tables!["order_lines"]);
        Assert.Equal(new LoadCounts(2, 0, 0), results[0].Tables!["order_tags"]);
        Assert.Equal(new LoadCounts(1, 0, 1), results[1].Tables!["orders"]);
        Assert.Equal(new LoadCounts(2, 1, 0), results[1].Tables!["order_lines"]);
        Assert.Equal(new LoadCounts(0, 0, 1), results[1].Tables!["order_tags"]);
        Assert.Equal(results.Select(r => r.Tables!["orders"]), results.Select(r => r.Counts));
        Assert.Equal(["1", "2", "3"], await RowsAsync(db, "orders", "id"));
        Assert.Equal(["1|b|5", "2|c|4", "2|e|1", "3|d|1"], await RowsAsync(db, "order_lines", "order_id", "sku", "qty"));
        Assert.Equal(["1|x", "2|z"], await RowsAsync(db, "order_tags", "order_id", "tag"));
    }

    private static async Task<UnitLoadResult> LoadAloneAsync(TestDatabase db, UnitLoader loader, long id, string key)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var result = await loader.LoadAsync(connection, id, key);
        await tx.CommitAsync();
        return result;
    }

    private static async Task<List<string>> RowsAsync(TestDatabase db, string table, params string[] columns)
    {
        var rows = new List<string>();
        await using var cmd = db.DataSource.CreateCommand(
            $"SELECT concat_ws('|', {string.Join(", ", columns)}) FROM {table} ORDER BY {string.Join(", ", columns)}");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
        return rows;
    }
}
