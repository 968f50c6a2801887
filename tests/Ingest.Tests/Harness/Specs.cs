using System.Text.Json;

namespace Ingest.Tests.Harness;

/// <summary>Import specs for the RAWG-like sample pages the tests load.</summary>
public static class Specs
{
    public const string Columns = """
        "id":       { "path": "id",               "type": "bigint" },
        "name":     { "path": "name",             "type": "text" },
        "released": { "path": "released",         "type": "date" },
        "rating":   { "path": "rating",           "type": "double" },
        "esrb":     { "path": "esrb_rating.name", "type": "text" },
        "raw":      { "path": "$",                "type": "jsonb" }
        """;

    public static string Files(string folder, string table = "games", bool keyed = true, int parallelism = 4, int attempts = 3,
        double backoff = 0.2, string pattern = "*.json", string? records = "results", bool create = true, string name = "test-import", bool incremental = false) =>
        Build(name, $$"""{ "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "{{pattern}}"{{Records(records)}}{{Incremental(incremental)}} }""",
            table, keyed, parallelism, attempts, backoff, create);

    public static string S3(string bucket, string prefix, string table = "games", string pattern = "*.json", int parallelism = 4, string name = "s3-import", bool incremental = false) =>
        Build(name, $$"""{ "kind": "s3", "bucket": "{{bucket}}", "prefix": "{{prefix}}", "pattern": "{{pattern}}", "records": "results"{{Incremental(incremental)}} }""",
            table, true, parallelism, 3, 0.2, true);

    /// <summary>
    /// CSV files (id, name, note, as <see cref="SplitCsv"/> writes them) upserted into <c>ventas</c> by id;
    /// a file larger than <paramref name="splitBytes"/> loads in byte ranges.
    /// </summary>
    public static string SplitCsvFiles(string folder, long splitBytes, string name = "split-import", bool incremental = false, int attempts = 3,
        int chunkRows = 100_000) => $$"""
        {
          "name": "{{name}}",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "*.csv", "splitBytes": {{splitBytes}}, "chunkRows": {{chunkRows}}{{Incremental(incremental)}} },
          "target": {
            "table": "ventas", "key": ["id"], "create": true,
            "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "note": { "path": "note", "type": "text" } }
          },
          "retry": { "attempts": {{attempts}}, "backoffSeconds": 0.2 }
        }
        """;

    private static string Records(string? records) => records is null ? "" : $", \"records\": \"{records}\"";

    private static string Incremental(bool incremental) => incremental ? ", \"incremental\": true" : "";

    private static string Build(string name, string source, string table, bool keyed, int parallelism, int attempts, double backoff, bool create) => $$"""
        {
          "name": "{{name}}",
          "source": {{source}},
          "target": {
            "table": "{{table}}", {{(keyed ? "\"key\": [\"id\"]," : "")}} "create": {{(create ? "true" : "false")}},
            "columns": { {{Columns}} }
          },
          "parallelism": {{parallelism}},
          "retry": { "attempts": {{attempts}}, "backoffSeconds": {{backoff.ToString(System.Globalization.CultureInfo.InvariantCulture)}} }
        }
        """;
}
