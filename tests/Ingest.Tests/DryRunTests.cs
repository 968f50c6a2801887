using System.Text.Json;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary><c>ingest validate</c>: a dry run in the client that writes nothing.</summary>
public class DryRunTests
{
    private static string Spec(string folder) => $$"""
        {
          "name": "items", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}} },
          "target": {
            "table": "items", "key": ["id"], "create": true,
            "columns": { "id": { "path": "id", "type": "bigint" }, "rating": { "path": "rating", "type": "double" },
                         "currency": { "path": "currency", "type": "text" } },
            "validate": { "ranges": { "rating": { "min": 0, "max": 5 } }, "defaults": { "currency": "USD" } }
          }
        }
        """;

    [Fact]
    public async Task Validate_reports_rules_with_file_and_record_exits_1_and_writes_nothing_anywhere()
    {
        using var data = new TempFolder();
        data.Write("a.json", """[{"id": 1, "rating": 1}, {"id": 2, "rating": 9}, {"id": "x", "rating": 2}, {"id": 4, "rating": 3}]""");
        data.Write("b.json", """[{"id": 5, "rating": 7, "currency": "EUR"}]""");
        using var specs = new TempFolder();
        var spec = specs.Write("spec.json", Spec(data.Path));
        await using var db = await TestDatabase.CreateAsync(migrate: false);

        var text = await CliProcess.RunAsync(db.ConnectionString, "validate", spec);
        var json = await CliProcess.RunAsync(db.ConnectionString, "validate", spec, "--json", "--sample", "3");

        Assert.True(text.ExitCode == 1, text.ToString());
        Assert.DoesNotContain("expected", text.Stdout);
        Assert.Contains("5 records read: 2 valid, 3 would be rejected", text.Stdout.ReplaceLineEndings(" "));
        Assert.Contains("range.rating: 2 records", text.Stdout);
        Assert.Contains("a.json record 1: 9 is outside [0, 5]", text.Stdout);
        Assert.Contains("b.json record 0: 7 is outside [0, 5]", text.Stdout);
        Assert.Contains("convert.id: 1 records", text.Stdout);
        Assert.Equal(1, json.ExitCode);
        using var report = JsonDocument.Parse(json.Stdout);
        Assert.Equal(4, report.RootElement.GetProperty("records").GetInt64()); // 3 of a.json, 1 of b.json
        Assert.Equal(2, report.RootElement.GetProperty("rules").GetProperty("range.rating").GetProperty("records").GetInt64());
        Assert.Equal(2, report.RootElement.GetProperty("defaultsFilled").GetProperty("currency").GetInt64());
        // Nothing was created or migrated in the database the client can reach.
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"));
    }

    [Fact]
    public async Task Validate_exits_0_on_clean_data_without_a_database_and_64_on_a_bad_spec()
    {
        using var data = new TempFolder();
        data.Write("a.json", """[{"id": 1, "rating": 1}, {"id": 2, "rating": 5}]""");
        using var specs = new TempFolder();
        var spec = specs.Write("spec.json", Spec(data.Path));
        var bad = specs.Write("bad.json", Spec(data.Path).Replace("\"max\": 5", "\"max\": \"five\""));

        var clean = await CliProcess.RunAsync(null, "validate", spec);
        var invalid = await CliProcess.RunAsync(null, "validate", bad);

        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.Contains("2 records read: 2 valid, 0 would be rejected", clean.Stdout.ReplaceLineEndings(" "));
        Assert.Equal(64, invalid.ExitCode);
        Assert.Contains("target.validate.ranges.rating.max: must be a number", invalid.Stderr);
    }

    [Fact]
    public async Task Diff_counts_keys_to_insert_update_keep_and_only_in_the_table_and_writes_nothing()
    {
        using var data = new TempFolder();
        data.Write("a.json", """[{"id": 1, "rating": 1}, {"id": 2, "rating": 4}, {"id": 3, "rating": 3, "currency": "EUR"}, {"id": 9, "rating": 2}]""");
        using var specs = new TempFolder();
        var spec = specs.Write("spec.json", Spec(data.Path));
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        await db.ExecuteAsync("""
            CREATE TABLE items (id bigint PRIMARY KEY, rating double precision, currency text);
            INSERT INTO items VALUES (1, 1, 'USD'), (2, 2, 'USD'), (3, 3, 'USD'), (4, 4, 'USD'), (5, 5, 'USD');
            """);
        var before = await db.ScalarAsync<string>("SELECT string_agg(id || ':' || xmin, ',' ORDER BY id) FROM items");

        var text = await CliProcess.RunAsync(db.ConnectionString, "diff", spec);
        var json = await CliProcess.RunAsync(db.ConnectionString, "diff", spec, "--json");

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("key 2: rating: 2 → 4", text.Stdout);
        Assert.Contains("key 3: currency: USD → EUR", text.Stdout);
        using var report = JsonDocument.Parse(json.Stdout);
        var r = report.RootElement;
        Assert.Equal((1L, 2L, 1L, 2L), (r.GetProperty("inserted").GetInt64(), r.GetProperty("updated").GetInt64(), r.GetProperty("unchanged").GetInt64(), r.GetProperty("onlyInTable").GetInt64()));
        Assert.Equal(1, r.GetProperty("changedColumns").GetProperty("rating").GetInt64());
        Assert.Equal(before, await db.ScalarAsync<string>("SELECT string_agg(id || ':' || xmin, ',' ORDER BY id) FROM items"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"));
    }
}
