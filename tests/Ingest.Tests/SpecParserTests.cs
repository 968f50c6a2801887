using Ingest.GrainInterfaces;
using Xunit;

namespace Ingest.Tests;

public class SpecParserTests
{
    // The spec of the issue, as the sample generator writes it.
    private static readonly string Valid = Ingest.Bench.RawgSample.Spec("rawg-games", "/data/rawg", "games");

    [Fact]
    public void Parses_the_documented_spec()
    {
        var spec = ImportSpecParser.ParseJson(Valid);

        Assert.Equal("rawg-games", spec.Name);
        Assert.Equal(SourceKind.Files, spec.Source.Kind);
        Assert.Equal("results", spec.Source.Records);
        Assert.Equal(["id"], spec.Target.Key);
        Assert.Equal(["id", "name", "released", "rating", "esrb", "raw"], spec.Target.Columns.Select(c => c.Name));
        Assert.Equal(ColumnType.Jsonb, spec.Target.Columns[^1].Type);
        Assert.Equal(4, spec.Parallelism);
        Assert.Equal(new RetrySpec(3, 1), spec.Retry);
    }

    [Fact]
    public void Yaml_gives_the_same_spec_as_json()
    {
        const string yaml = """
            name: rawg-games
            source: { kind: s3, bucket: dumps, prefix: rawg/, pattern: "*.json" }
            target:
              table: games
              key: [id]
              columns:
                id: { path: id, type: bigint }
                name: { path: name, type: text }
            """;
        var spec = ImportSpecParser.ParseYaml(yaml);

        Assert.Equal(SourceKind.S3, spec.Source.Kind);
        Assert.Equal("dumps", spec.Source.Bucket);
        Assert.Equal("rawg/", spec.Source.Prefix);
        Assert.Equal(ColumnType.Bigint, spec.Target.Columns[0].Type);
        Assert.Equal("public", spec.Target.Schema);
    }

    [Fact]
    public void Every_problem_is_named_at_once()
    {
        const string bad = """
            {
              "source": { "kind": "ftp" },
              "target": {
                "table": "games; drop table x",
                "key": ["missing"],
                "columns": { "id": { "path": "id", "type": "integer128" }, "ok": { "type": "text" } }
              },
              "parallelism": 0,
              "colour": "blue"
            }
            """;
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(bad));
        var all = string.Join("\n", e.Problems);

        Assert.Contains("name", all);
        Assert.Contains("ftp", all);
        Assert.Contains("games; drop table x", all);
        Assert.Contains("integer128", all);
        Assert.Contains("missing", all);
        Assert.Contains("target.columns.ok: needs exactly one of path, value or meta", all);
        Assert.Contains("parallelism", all);
        Assert.Contains("colour", all);
        Assert.True(e.Problems.Count >= 8, all);
    }

    [Theory]
    [InlineData("""{ "name": "x", "source": { "kind": "files" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } } }""", "source.path")]
    [InlineData("""{ "name": "x", "source": { "kind": "s3", "prefix": "p" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } } }""", "source.bucket")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "t" } }""", "target.columns")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "t", "columns": { "A\"b": { "path": "a", "type": "text" } } } }""", "A\"b")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } }, "retry": { "attempts": 0 } }""", "retry.attempts")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } }""", "JSON")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d", "splitBytes": 0 }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } } }""", "source.splitBytes: must be at least 1")]
    [InlineData("""{ "name": "x", "source": { "kind": "files", "path": "/d", "splitBytes": "64MB" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } } }""", "source.splitBytes: must be a whole number")]
    public void Names_the_offending_field(string json, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(json));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    private static string Http(string incremental, string query = "") => $$"""
        { "name": "changes", "source": { "kind": "http", "url": "https://api.example/changes", {{query}} "records": "results", "incremental": {{incremental}} },
          "target": { "table": "t", "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } } } }
        """;

    [Fact]
    public void An_http_source_reads_its_incremental_cursor()
    {
        var spec = ImportSpecParser.ParseJson(Http("""{ "cursorPath": "meta.updated_at", "param": "updated_since", "initial": "2020-01-01", "lagSeconds": 60 }"""));
        Assert.Equal(new CursorSpec("meta.updated_at", "updated_since", "2020-01-01", 60), spec.Source.Cursor);
        Assert.True(spec.Source.Incremental);
        Assert.False(spec.Source.IncrementalFiles);
        // Stored and read back the same; the bound an import reads from is not part of the stored spec.
        var stored = ImportSpecJson.Serialize(spec with { Source = spec.Source with { Since = System.Text.Json.JsonDocument.Parse("\"2024-05-01\"").RootElement } });
        Assert.DoesNotContain("2024-05-01", stored);
        Assert.Equal(spec.Source.Cursor, ImportSpecJson.Deserialize(stored).Source.Cursor);

        var plain = ImportSpecParser.ParseJson(Http("""{ "cursorPath": "updated_at", "param": "since", "initial": 1700000000 }"""));
        Assert.Equal(new CursorSpec("updated_at", "since", "1700000000", 0), plain.Source.Cursor);
        Assert.Null(ImportSpecParser.ParseJson(Http("null")).Source.Cursor);
    }

    [Theory]
    [InlineData("""{ "param": "updated_since" }""", "source.incremental.cursorPath: required")]
    [InlineData("""{ "cursorPath": "updated_at" }""", "source.incremental.param: required")]
    [InlineData("""{ "cursorPath": "updated_at", "param": "" }""", "source.incremental.param: must not be empty")]
    [InlineData("""{ "cursorPath": "updated_at.", "param": "since" }""", "source.incremental.cursorPath: 'updated_at.' is not a dotted path")]
    [InlineData("""{ "cursorPath": "updated_at", "param": "since", "lagSeconds": -1 }""", "source.incremental.lagSeconds: must not be negative")]
    [InlineData("""{ "cursorPath": "updated_at", "param": "since", "lagSeconds": "60s" }""", "source.incremental.lagSeconds: must be a number")]
    [InlineData("""{ "cursorPath": "updated_at", "param": "since", "initial": { "at": 1 } }""", "source.incremental.initial: must be a string (an ISO 8601 time) or a number")]
    [InlineData("""{ "cursorPath": "updated_at", "param": "since", "every": 5 }""", "source.incremental.every: unknown field")]
    [InlineData("true", "source.incremental: for an HTTP source, an object with cursorPath, param")]
    public void Names_what_is_wrong_with_an_http_cursor(string incremental, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Http(incremental)));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    [Fact]
    public void An_http_cursor_param_the_query_sends_already_is_named()
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Http("""{ "cursorPath": "updated_at", "param": "since" }""", "\"query\": { \"since\": \"x\" },")));
        Assert.Contains(e.Problems, p => p.Contains("source.incremental.param: 'since' is also in source.query"));
    }

    private static string WithArchive(string archive) =>
        $$"""{ "name": "x", "source": { "kind": "files", "path": "/d" }, "target": { "table": "t", "columns": { "a": { "path": "a", "type": "text" } } }, "archive": {{archive}} }""";

    [Fact]
    public void The_archive_of_the_issue_parses_and_fills_its_key_template()
    {
        var spec = ImportSpecParser.ParseJson(WithArchive("""
            { "bucket": "extractorov-data",
              "key": "oficina-virtual/{tenant}/{yyyy}/{MM}/{dd}/{record:numero_reclamo_sgc}/{file}",
              "tenant": "afinia" }
            """));

        var archive = Assert.IsType<ArchiveSpec>(spec.Archive);
        Assert.Equal("extractorov-data", archive.Bucket);
        Assert.Equal(["numero_reclamo_sgc"], archive.RecordPaths);
        var loaded = new DateTimeOffset(2024, 3, 9, 23, 30, 0, TimeSpan.FromHours(-5)); // 10 March in UTC
        Assert.Equal("oficina-virtual/afinia/2024/03/10/RC_12_34/reclamo.json",
            archive.KeyOf("inbox/reclamo.json", "x", 7, loaded, new Dictionary<string, string?> { ["numero_reclamo_sgc"] = "RC/12\\34" }));
        Assert.Equal("{name}-{import}/{file}", ImportSpecParser.ParseJson(WithArchive("""{ "bucket": "b12", "key": "{name}-{import}/{file}" }""")).Archive!.Key);
        Assert.Null(ImportSpecParser.ParseJson(Valid).Archive);
    }

    [Theory]
    [InlineData("""{ "key": "{file}" }""", "archive.bucket: required")]
    [InlineData("""{ "bucket": "b12" }""", "archive.key: required")]
    [InlineData("""{ "bucket": "Not_A_Bucket", "key": "{file}" }""", "archive.bucket: 'Not_A_Bucket' is not an S3 bucket name")]
    [InlineData("""{ "bucket": "b12", "key": "{yyyy}/{filename}" }""", "archive.key: unknown placeholder {filename}")]
    [InlineData("""{ "bucket": "b12", "key": "{tenant}/{file}" }""", "archive.key: {tenant} needs archive.tenant")]
    [InlineData("""{ "bucket": "b12", "key": "{record:}/{file}" }""", "archive.key: {record:} needs a path")]
    [InlineData("""{ "bucket": "b12", "key": "{yyyy}/{MM}/{dd}" }""", "archive.key: must hold {file} or a {record:PATH}")]
    [InlineData("""{ "bucket": "b12", "key": "{file" }""", "archive.key: a '{' or '}' that opens or closes no placeholder")]
    [InlineData("""{ "bucket": "b12", "key": "/{file}" }""", "archive.key: must not start with '/'")]
    [InlineData("""{ "bucket": "b12", "key": "{tenant}/{file}", "tenant": "a/b" }""", "archive.tenant: must not be empty, nor hold '/'")]
    [InlineData("""{ "bucket": "b12", "key": "{file}", "region": "eu" }""", "archive.region: unknown field")]
    [InlineData("\"b12/{file}\"", "archive: must be an object with bucket and key")]
    public void Names_what_is_wrong_with_an_archive(string archive, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(WithArchive(archive)));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }

    private static string Sql(string incremental) => $$"""
        { "name": "orders", "source": { "kind": "sql", "engine": "postgres", "connection": "${SHOP_DB}", "table": "orders", "incremental": {{incremental}} },
          "target": { "table": "t", "key": ["id"], "columns": { "id": { "path": "id", "type": "bigint" } } } }
        """;

    [Fact]
    public void A_sql_source_reads_its_incremental_cursor_and_tie_break()
    {
        var spec = ImportSpecParser.ParseJson(Sql("""{ "cursor": "updated_at", "tieBreak": "id", "lagSeconds": 30 }"""));
        Assert.Equal(new CursorSpec("updated_at", null, null, 30, "id"), spec.Source.Cursor);
        Assert.True(spec.Source.Incremental);
        Assert.False(spec.Source.IncrementalFiles);
        Assert.Equal(spec.Source.Cursor, ImportSpecJson.Deserialize(ImportSpecJson.Serialize(spec)).Source.Cursor);
        Assert.Equal(0, ImportSpecParser.ParseJson(Sql("""{ "cursor": "version", "tieBreak": "id" }""")).Source.Cursor!.LagSeconds);
        Assert.Null(ImportSpecParser.ParseJson(Sql("null")).Source.Cursor);
    }

    [Theory]
    [InlineData("""{ "cursor": "updated_at" }""", "source.incremental.tieBreak: required: a column unique among the rows that share one updated_at value")]
    [InlineData("""{ "cursor": "updated_at" }""", "an import that stopped between them")]
    [InlineData("""{ "tieBreak": "id" }""", "source.incremental.cursor: required")]
    [InlineData("""{ "cursor": "updated at", "tieBreak": "id" }""", "source.incremental.cursor: 'updated at' is not a valid identifier")]
    [InlineData("""{ "cursor": "updated_at", "tieBreak": "id;" }""", "source.incremental.tieBreak: 'id;' is not a valid identifier")]
    [InlineData("""{ "cursor": "id", "tieBreak": "id" }""", "source.incremental.tieBreak: must be another column than the cursor")]
    [InlineData("""{ "cursor": "updated_at", "tieBreak": "id", "lagSeconds": -1 }""", "source.incremental.lagSeconds: must not be negative")]
    [InlineData("""{ "cursor": "updated_at", "tieBreak": "id", "param": "since" }""", "source.incremental.param: unknown field (expected one of cursor, tieBreak, lagSeconds)")]
    [InlineData("true", "source.incremental: for a SQL source, an object with cursor, tieBreak and lagSeconds")]
    public void Names_what_is_wrong_with_a_sql_cursor(string incremental, string expected)
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Sql(incremental)));
        Assert.Contains(e.Problems, p => p.Contains(expected));
    }
}
