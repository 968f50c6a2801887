using System.Text;
using System.Text.Json;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>Content-hash dedup and source priority (<c>onConflict: keep</c>).</summary>
public class DataQualityTests
{
    private const string HashFields = """["numero_radicado", "fecha", "tipo_pqr", "nic", "documento_identidad"]""";

    [Fact]
    public void The_hash_ignores_formatting_key_order_escapes_number_forms_and_timestamp_offsets()
    {
        var a = Hash("""{"numero_radicado": "R1", "fecha": "2024-03-01T10:00:00Z", "tipo_pqr": "queja", "nic": 1.0, "documento_identidad": {"tipo": "CC", "n": 12}}""");
        var b = Hash("""
            {
              "documento_identidad" : { "n" : 12.00, "tipo" : "\u0043C" },
              "nic" : 1, "tipo_pqr":"queja", "fecha": "2024-03-01T05:00:00-05:00",
              "numero_radicado" : "R1", "extra": "not hashed"
            }
            """);
        Assert.Equal(a, b);
        Assert.Matches("^[0-9a-f]{64}$", a);
        // Null differs from the empty string and from a missing field only by being null: missing and null are the same.
        Assert.NotEqual(Hash("""{"numero_radicado": "R1", "tipo_pqr": null}"""), Hash("""{"numero_radicado": "R1", "tipo_pqr": ""}"""));
        Assert.Equal(Hash("""{"numero_radicado": "R1", "tipo_pqr": null}"""), Hash("""{"numero_radicado": "R1"}"""));
        // The order of the fields counts: "a" then "" is not "" then "a".
        Assert.NotEqual(Hash("""{"tipo_pqr": "a", "documento_identidad": ""}"""), Hash("""{"tipo_pqr": "", "documento_identidad": "a"}"""));
        Assert.NotEqual(a, Hash("""{"numero_radicado": "R1", "fecha": "2024-03-01T10:00:00Z", "tipo_pqr": "queja", "nic": 2, "documento_identidad": {"tipo": "CC", "n": 12}}"""));
    }

    [Fact]
    public async Task Complaints_count_as_new_updated_or_duplicate_by_business_key_and_content_hash_across_files_and_imports()
    {
        using var day1 = new TempFolder();
        day1.Write("a.json", Records(("R1", "queja", 100), ("R2", "peticion", 200), ("R2", "peticion", 200), ("R3", "reclamo", 300)));
        day1.Write("b.json", Records(("R1", "queja", 100), ("R4", "queja", 400), ("R3", "reclamo", 301)));
        using var day2 = new TempFolder();
        // R4 again, written differently (keys reordered, 400.0); R1 unchanged; R5 new.
        day2.Write("c.json", """
            [ {"nic": 400.0, "tipo_pqr": "queja", "documento_identidad": "CC-R4", "fecha": "2024-03-01", "numero_radicado": "R4", "observacion": "other text"},
              {"numero_radicado": "R1", "fecha": "2024-03-01", "tipo_pqr": "queja", "nic": 100, "documento_identidad": "CC-R1", "observacion": "x"},
              {"numero_radicado": "R5", "fecha": "2024-03-01", "tipo_pqr": "queja", "nic": 500, "documento_identidad": "CC-R5", "observacion": "x"} ]
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var first = await db.WaitForAsync(await db.SubmitAsync(PqrSpec(day1.Path, keyed: true)));
        Assert.Equal(ImportState.Completed, first.State);
        // a.json: R1, R2, R3 new, R2 again (same content) a duplicate; b.json: R1 a duplicate, R4 new, R3 changed.
        Assert.Equal(new RowCounts(7, 4, 1, 2, 0, Duplicates: 2), first.Rows);
        var files = (await db.Catalog.GetStatusAsync(first.Id, files: true))!.Files.Units!;
        Assert.Equal([("a.json", 3L, 0L, 1L), ("b.json", 1L, 1L, 1L)], files.Select(f => (f.Key, f.Rows.Inserted, f.Rows.Updated, f.Rows.Duplicates)));
        Assert.Equal(["R1|100", "R2|200", "R3|301", "R4|400"], await RelationalTests.RowsAsync(db, "pqr", "numero_radicado", "nic"));
        var r4 = await db.ScalarAsync<string>("SELECT hash_registro FROM pqr WHERE numero_radicado = 'R4'");
        var versions = await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY numero_radicado) FROM pqr WHERE numero_radicado IN ('R1', 'R4')");

        var second = await db.WaitForAsync(await db.SubmitAsync(PqrSpec(day2.Path, keyed: true)));
        Assert.Equal(new RowCounts(3, 1, 0, 2, 0, Duplicates: 2), second.Rows);
        Assert.Equal(r4, await db.ScalarAsync<string>("SELECT hash_registro FROM pqr WHERE numero_radicado = 'R4'"));
        // Duplicates are not rewritten, not even their unhashed columns.
        Assert.Equal(versions, await db.ScalarAsync<string>("SELECT string_agg(xmin::text, ',' ORDER BY numero_radicado) FROM pqr WHERE numero_radicado IN ('R1', 'R4')"));
        Assert.Equal(5, await db.ScalarAsync<long>("SELECT count(*) FROM pqr"));
    }

    [Fact]
    public async Task Without_a_key_the_hash_is_the_identity_and_identical_records_load_once()
    {
        using var data = new TempFolder();
        data.Write("a.json", Records(("R1", "queja", 1), ("R1", "queja", 1), ("R2", "queja", 2)));
        data.Write("b.json", Records(("R1", "queja", 1), ("R1", "reclamo", 1)));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(PqrSpec(data.Path, keyed: false)));

        Assert.Equal(new RowCounts(5, 3, 0, 2, 0, Duplicates: 2), status.Rows);
        Assert.Equal(["R1|queja", "R1|reclamo", "R2|queja"], await RelationalTests.RowsAsync(db, "pqr", "numero_radicado", "tipo_pqr"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM pg_index WHERE indrelid = 'pqr'::regclass AND indisprimary"));
    }

    [Fact]
    public async Task A_relational_target_dedups_by_the_parents_hash()
    {
        using var data = new TempFolder();
        const string orders = """
            [ {"id": 1, "customer": "ana", "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
              {"id": 2, "customer": "bo",  "lines": [{"sku": "c", "qty": 3}]} ]
            """;
        data.Write("orders.json", orders);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var spec = $$"""
            { "name": "orders", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}} },
              "target": { "table": "orders", "key": ["id"], "create": true,
                          "dedup": { "hash": ["id", "customer", "lines"], "column": "content_hash" },
                          "columns": { "id": { "path": "id", "type": "bigint" }, "customer": { "path": "customer", "type": "text" } },
                          "children": [ { "table": "order_lines", "path": "lines", "key": ["sku"],
                                          "columns": { "sku": { "path": "sku", "type": "text" }, "qty": { "path": "qty", "type": "int" } } } ] } }
            """;

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        // The same content, written differently: every order a duplicate.
        data.Write("orders.json", orders.Replace("\"qty\": 1", "\"qty\": 1.0").Replace(", \"customer\": \"bo\"", ", \"customer\": \"bo\" "));
        var again = await db.WaitForAsync(await db.SubmitAsync(spec));
        data.Write("orders.json", orders.Replace("\"qty\": 3", "\"qty\": 4"));
        var changed = await db.WaitForAsync(await db.SubmitAsync(spec));

        Assert.Equal(new RowCounts(2, 2, 0, 0, 0), first.Rows);
        Assert.Equal(new RowCounts(2, 0, 0, 2, 0, Duplicates: 2), again.Rows);
        Assert.Equal(new RowCounts(2, 0, 1, 1, 0, Duplicates: 1), changed.Rows);
        Assert.Equal(1, changed.Tables!["order_lines"].Updated);
        Assert.Equal(["1|a|1", "1|b|2", "2|c|4"], await RelationalTests.RowsAsync(db, "order_lines", "orders_id", "sku", "qty"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_keep_source_never_overwrites_and_the_update_source_wins_in_either_order(bool highFirst)
    {
        using var high = new TempFolder();
        high.Write("high.json", """[{"id": 1, "name": "one (high)"}, {"id": 2, "name": "two (high)"}]""");
        using var low = new TempFolder();
        low.Write("low.json", """[{"id": 2, "name": "two (low)"}, {"id": 3, "name": "three (low)"}]""");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        string Spec(string folder, string onConflict) => $$"""
            { "name": "{{onConflict}}", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}} },
              "target": { "table": "entities", "key": ["id"], "create": true, "onConflict": "{{onConflict}}",
                          "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" } } } }
            """;

        ImportStatus lowStatus, highStatus;
        if (highFirst)
        {
            highStatus = await db.WaitForAsync(await db.SubmitAsync(Spec(high.Path, "update")));
            lowStatus = await db.WaitForAsync(await db.SubmitAsync(Spec(low.Path, "keep")));
            Assert.Equal(new RowCounts(2, 1, 0, 1, 0, Kept: 1), lowStatus.Rows);
        }
        else
        {
            lowStatus = await db.WaitForAsync(await db.SubmitAsync(Spec(low.Path, "keep")));
            highStatus = await db.WaitForAsync(await db.SubmitAsync(Spec(high.Path, "update")));
            Assert.Equal(new RowCounts(2, 1, 1, 0, 0), highStatus.Rows);
        }

        Assert.Equal(ImportState.Completed, lowStatus.State);
        Assert.Equal(ImportState.Completed, highStatus.State);
        Assert.Equal(["1|one (high)", "2|two (high)", "3|three (low)"], await RelationalTests.RowsAsync(db, "entities", "id", "name"));
    }

    [Theory]
    [InlineData("""{ "hash": [], "column": "h" }""", "target.dedup.hash: required")]
    [InlineData("""{ "hash": ["a"], "column": "id" }""", "'id' is also one of target.columns")]
    [InlineData("""{ "hash": ["$key"], "column": "h" }""", "'$key' is not a dotted path into the record")]
    public void Dedup_mistakes_are_named(string dedup, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson($$"""
            { "name": "x", "source": { "kind": "files", "path": "/d" },
              "target": { "table": "t", "columns": { "id": { "path": "id", "type": "bigint" } }, "dedup": {{dedup}} } }
            """));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    [Theory]
    [InlineData("""{ "required": ["nope"] }""", "target.validate.required: 'nope' is not one of the target's columns")]
    [InlineData("""{ "ranges": { "name": { "min": 0 } } }""", "target.validate.ranges.name: 'name' is text; this rule needs a number")]
    [InlineData("""{ "ranges": { "id": { "min": 5, "max": 1 } } }""", "min is above max")]
    [InlineData("""{ "patterns": { "name": "([" } }""", "is not a valid regular expression")]
    [InlineData("""{ "defaults": { "name": "now()" } }""", "now() needs a timestamptz or date column")]
    [InlineData("""{ "defaults": { "id": { "generate": "X" } } }""", "generate needs a text column")]
    [InlineData("""{ "onInvalid": "ignore" }""", "'ignore' is not 'reject' or 'fail'")]
    public void Validation_mistakes_are_named(string validate, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson($$"""
            { "name": "x", "source": { "kind": "files", "path": "/d" },
              "target": { "table": "t", "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" } }, "validate": {{validate}} } }
            """));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    [Fact]
    public void Keep_needs_a_key()
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson("""
            { "name": "x", "source": { "kind": "files", "path": "/d" },
              "target": { "table": "t", "onConflict": "keep", "columns": { "id": { "path": "id", "type": "bigint" } } } }
            """));
        Assert.Contains(e.Problems, p => p.Contains("'keep' needs a key"));
    }

    [Fact]
    public async Task Defaults_fill_then_every_broken_rule_is_named_in_the_reject_and_counted()
    {
        using var data = new TempFolder();
        data.Write("items.json", $$"""
            [ {"id": 1, "name": "one", "rating": 4.5, "slug": "one-1", "status": "active"},
              {"id": 2, "name": null, "rating": 7, "slug": "Bad Slug", "status": "deleted"},
              {"id": 3, "name": "{{new string('x', 201)}}", "rating": 1, "slug": "three", "status": "inactive", "currency": "EUR", "code": "C3"},
              {"id": 4, "name": "four", "rating": 0, "slug": "four", "status": "active", "currency": null} ]
            """);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var spec = ValidatedSpec(data.Path, "reject");

        var status = await db.WaitForAsync(await db.SubmitAsync(spec));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(4, 2, 0, 0, 2), status.Rows);
        Assert.Equal(new Dictionary<string, long> { ["allowed.status"] = 1, ["maxLength.name"] = 1, ["pattern.slug"] = 1, ["range.rating"] = 1, ["required.name"] = 1 },
            status.Quality!.Violations);
        Assert.Equal(new Dictionary<string, long> { ["code"] = 3, ["created_at"] = 4, ["currency"] = 3 }, status.Quality.DefaultsFilled);
        Assert.Equal(["1|one|USD", "4|four|USD"], await RelationalTests.RowsAsync(db, "items", "id", "name", "currency"));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM items WHERE code !~ '^AUTO_[0-9a-f]{16}$' OR created_at IS NULL"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(DISTINCT created_at) FROM items"));
        var reason = await db.ScalarAsync<string>("SELECT reason FROM ingest.rejects WHERE record_index = 1");
        foreach (var rule in new[] { "required 'name'", "range 'rating': 7 is outside [0, 5]", "pattern 'slug': 'Bad Slug'", "allowed 'status': 'deleted'" })
            Assert.Contains(rule, reason);
        Assert.Contains("maxLength 'name': is 201 characters long", await db.ScalarAsync<string>("SELECT reason FROM ingest.rejects WHERE record_index = 2"));
        Assert.Contains("\"Bad Slug\"", await db.ScalarAsync<string>("SELECT raw FROM ingest.rejects WHERE record_index = 1"));

        // A generated id is stable: loading the same records again gives the same codes.
        var codes = await db.ScalarAsync<string>("SELECT string_agg(code, ',' ORDER BY id) FROM items");
        await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(codes, await db.ScalarAsync<string>("SELECT string_agg(code, ',' ORDER BY id) FROM items"));
    }

    [Fact]
    public async Task With_onInvalid_fail_a_file_with_an_invalid_record_loads_nothing_and_the_others_load()
    {
        using var data = new TempFolder();
        data.Write("a-good.json", """[{"id": 1, "name": "one", "rating": 1, "slug": "one", "status": "active"}]""");
        data.Write("b-bad.json", """[{"id": 2, "name": "two", "rating": 2, "slug": "two", "status": "active"}, {"id": 3, "name": "three", "rating": 9, "slug": "three", "status": "active"}]""");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(ValidatedSpec(data.Path, "fail")));

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        Assert.Equal(["1"], await RelationalTests.RowsAsync(db, "items", "id"));
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal("b-bad.json", failed.Key);
        Assert.Equal(1, failed.Attempts);
        Assert.Contains("b-bad.json: record 1 is invalid", failed.Error);
        Assert.Contains("range 'rating': 9 is outside [0, 5]", failed.Error);
    }

    private static string ValidatedSpec(string folder, string onInvalid) => $$"""
        {
          "name": "items", "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}} },
          "target": {
            "table": "items", "key": ["id"], "create": true,
            "columns": {
              "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" },
              "rating": { "path": "rating", "type": "double" }, "slug": { "path": "slug", "type": "text" },
              "status": { "path": "status", "type": "text" }, "currency": { "path": "currency", "type": "text" },
              "created_at": { "path": "created_at", "type": "timestamptz" }, "code": { "path": "code", "type": "text" }
            },
            "validate": {
              "required": ["id", "name"],
              "ranges": { "rating": { "min": 0, "max": 5 } },
              "patterns": { "slug": "^[a-z0-9-]+$" },
              "allowed": { "status": ["active", "inactive"] },
              "maxLength": { "name": 200 },
              "defaults": { "currency": "USD", "created_at": "now()", "code": { "generate": "AUTO_" } },
              "onInvalid": "{{onInvalid}}"
            }
          }
        }
        """;

    [Fact]
    public void Formats_read_real_world_dates_decimal_commas_padding_and_null_markers()
    {
        var spec = ImportSpecParser.ParseJson("""
            { "name": "x", "source": { "kind": "files", "path": "/d" },
              "target": { "table": "t", "columns": {
                "fecha":   { "path": "fecha", "type": "date", "format": "dd/MM/yyyy" },
                "listed":  { "path": "listed", "type": "date", "format": "MMM dd yyyy" },
                "at":      { "path": "at", "type": "timestamptz", "format": "dd/MM/yyyy HH:mm" },
                "valor":   { "path": "valor", "type": "numeric", "decimalSeparator": "," },
                "ratio":   { "path": "ratio", "type": "double", "decimalSeparator": "," },
                "barrio":  { "path": "barrio", "type": "text", "trim": true, "nullIf": ["", "N/A"] },
                "estrato": { "path": "estrato", "type": "int", "trim": true, "nullIf": ["N/A"] } } } }
            """);
        var mapper = new RecordMapper(spec.Target.Columns, []);
        var row = mapper.CreateRow();

        Assert.True(mapper.TryMap("""
            {"fecha": "17/09/2013", "listed": "Sep 07 2021", "at": "01/02/2024 13:45", "valor": "1.234,50", "ratio": "3,5", "barrio": "  Centro ", "estrato": " 3 "}
            """u8, row, out var reject), reject?.Reason);
        Assert.Equal(new DateOnly(2013, 9, 17), row[0]);
        Assert.Equal(new DateOnly(2021, 9, 7), row[1]);
        Assert.Equal(new DateTime(2024, 2, 1, 13, 45, 0, DateTimeKind.Utc), row[2]);
        Assert.Equal(1234.50m, row[3]);
        Assert.Equal(3.5, row[4]);
        Assert.Equal("Centro", row[5]);
        Assert.Equal(3, row[6]);

        Assert.True(mapper.TryMap("""{"barrio": " N/A ", "estrato": "N/A", "valor": 12.5}"""u8, row, out _));
        Assert.Null(row[5]);
        Assert.Null(row[6]);
        Assert.Equal(12.5m, row[3]);

        Assert.False(mapper.TryMap("""{"fecha": "2013-09-17"}"""u8, row, out reject));
        Assert.Contains("column 'fecha' (date) at 'fecha': \"2013-09-17\" does not match the format 'dd/MM/yyyy'", reject!.Reason);
    }

    private static string Hash(string json)
    {
        var spec = ImportSpecParser.ParseJson(PqrSpec("/d", keyed: false));
        var mapper = new RecordMapper(spec.Target.Columns, []);
        var row = mapper.CreateRow();
        Assert.True(mapper.TryMap(Encoding.UTF8.GetBytes(json), row, out var reject), reject?.Reason);
        return (string)row[spec.Target.Columns.Count - 1]!;
    }

    private static string Records(params (string Key, string Type, int Nic)[] records) =>
        JsonSerializer.Serialize(records.Select(r => new Dictionary<string, object>
        {
            ["numero_radicado"] = r.Key, ["fecha"] = "2024-03-01", ["tipo_pqr"] = r.Type, ["nic"] = r.Nic,
            ["documento_identidad"] = "CC-" + r.Key, ["observacion"] = "free text",
        }));

    private static string PqrSpec(string folder, bool keyed) => $$"""
        {
          "name": "pqr", "parallelism": 1,
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}} },
          "target": {
            "table": "pqr", "create": true, {{(keyed ? "\"key\": [\"numero_radicado\"]," : "")}}
            "dedup": { "hash": {{HashFields}}, "column": "hash_registro" },
            "columns": {
              "numero_radicado": { "path": "numero_radicado", "type": "text" },
              "fecha":           { "path": "fecha", "type": "date" },
              "tipo_pqr":        { "path": "tipo_pqr", "type": "text" },
              "nic":             { "path": "nic", "type": "bigint" },
              "observacion":     { "path": "observacion", "type": "text" }
            }
          }
        }
        """;
}
