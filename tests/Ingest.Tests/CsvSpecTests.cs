using System.Text.RegularExpressions;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>The CSV parts of a spec: source.csv, header names and field positions, and what a CSV import cannot name.</summary>
public class CsvSpecTests
{
    private static string Spec(string source, string columns, string target = "") => $$"""
        { "name": "ventas", "source": { "kind": "files", "path": "/data/ventas", {{source}} },
          "target": { "table": "ventas", {{target}} "columns": { {{columns}} } } }
        """;

    private static string Problems(string json) => string.Join("\n", Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(json)).Problems);

    [Fact]
    public void The_documented_csv_source_parses_and_header_names_keep_their_dots_spaces_and_dollars()
    {
        var spec = ImportSpecParser.ParseJson(Spec("""
            "pattern": "*.csv", "format": "csv",
            "csv": { "delimiter": ";", "quote": "\"", "escape": "\"", "header": true, "encoding": "windows-1252", "skipRows": 2, "comment": "#", "nullValues": ["", "NULL"] }
            """, """
            "factura": { "path": "Nro. Factura", "type": "text" },
            "total":   { "path": "$ Total", "type": "numeric", "decimalSeparator": "," },
            "raw":     { "path": "$", "type": "jsonb" },
            "line":    { "meta": "line" }
            """));

        Assert.True(spec.Source.IsCsv());
        Assert.Equal(new CsvSpec(";", "\"", null, true, "windows-1252", 2, "#", spec.Source.Csv!.NullValues), spec.Source.Csv);
        Assert.Equal(["", "NULL"], spec.Source.Csv!.NullValues);
        Assert.Equal(["Nro. Factura", "$ Total", "$", null], spec.Target.Columns.Select(c => c.Path));
        Assert.Equal((UnitMeta.Line, ColumnType.Bigint), (spec.Target.Columns[3].Meta!.Value, spec.Target.Columns[3].Type));
        // Stored and read back as it was written.
        Assert.Equal(ImportSpecJson.Serialize(spec), ImportSpecJson.Serialize(ImportSpecJson.Deserialize(ImportSpecJson.Serialize(spec))));
    }

    [Fact]
    public void The_star_schema_spec_of_the_reference_parses_as_written()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "SPEC.md"));
        var section = doc[doc.IndexOf("## CSV files", StringComparison.Ordinal)..doc.IndexOf("## Large files", StringComparison.Ordinal)];
        var json = Regex.Matches(section, "```json\n(\\{.*?)```", RegexOptions.Singleline).Single().Groups[1].Value;

        var spec = ImportSpecParser.ParseJson(json);

        Assert.True(spec.Source.IsCsv());
        Assert.Equal(["cliente_sk", "producto_sk"], spec.Target.References.Select(r => r.Columns[0]));
        Assert.Equal(UnitMeta.Line, spec.Target.Columns[^1].Meta);
    }

    [Theory]
    [InlineData("\"pattern\": \"*.csv\"", true)]
    [InlineData("\"pattern\": \"ventas_*.tsv.gz\"", true)]
    [InlineData("\"pattern\": \"*\", \"csv\": { \"delimiter\": \"|\" }", true)]
    [InlineData("\"pattern\": \"*.txt\", \"format\": \"tsv\"", true)]
    [InlineData("\"pattern\": \"*.json\"", false)]
    public void A_source_reads_CSV_by_its_format_its_csv_object_or_its_pattern(string source, bool csv)
    {
        var columns = csv ? "\"id\": { \"path\": \"Código\", \"type\": \"text\" }" : "\"id\": { \"path\": \"id\", \"type\": \"text\" }";
        Assert.Equal(csv, ImportSpecParser.ParseJson(Spec(source, columns)).Source.IsCsv());
    }

    [Fact]
    public void Every_CSV_mistake_is_named()
    {
        var problems = Problems(Spec("""
            "pattern": "*.csv",
            "csv": { "delimiter": ";;", "quote": "ab", "escape": "/", "encoding": "ebcdic", "skipRows": -1, "comment": "//", "nullValues": [1], "colour": "x" }
            """, """
            "a": { "path": "A", "type": "text" },
            "b": { "field": 0, "type": "text" },
            "c": { "field": 2, "path": "C", "type": "text" },
            "d": { "field": 2, "type": "text" }
            """, target: """
            "key": ["a"], "children": [{ "table": "lines", "path": "x", "columns": { "y": { "path": "y", "type": "text" } } }],
            "references": [{ "columns": ["a"], "dimension": { "table": "dim", "path": "cliente", "key": ["a"], "columns": { "a": { "path": "A", "type": "text" } } } }],
            """));

        foreach (var expected in new[]
                 {
                     "source.csv.delimiter: one ASCII character", "source.csv.quote: one ASCII character", "source.csv.escape: the quote character",
                     "source.csv.encoding: unknown encoding 'ebcdic'", "source.csv.skipRows: must not be negative", "source.csv.comment: one ASCII character",
                     "source.csv.nullValues: must be a list of strings", "source.csv.colour: unknown field",
                     "target.columns.b.field: a field's position in its row, from 1", "target.columns.c: needs exactly one of path, value or meta (or field) (has path and field)",
                     "target.children: a CSV row has no nested collections", "target.references[0].dimension.path: a CSV row has no nested objects",
                     "target.columns.d.field: this spec names fields by header (target.columns.a.path)",
                 })
            Assert.Contains(expected, problems);
    }

    [Fact]
    public void Positions_and_the_line_are_for_CSV_only_and_a_file_without_a_header_needs_positions()
    {
        var json = Problems(Spec("\"pattern\": \"*.json\"", """
            "a": { "field": 1, "type": "text" },
            "l": { "meta": "line" }
            """));
        var headerless = Problems(Spec("\"pattern\": \"*.csv\", \"csv\": { \"header\": false }", "\"a\": { \"path\": \"A\", \"type\": \"text\" }"));
        var byPosition = ImportSpecParser.ParseJson(Spec("\"pattern\": \"*.csv\", \"csv\": { \"header\": false }", """
            "a": { "field": 3, "type": "text" }, "raw": { "path": "$", "type": "jsonb" }
            """, target: "\"dedup\": { \"hash\": [\"3\", \"$\"], \"column\": \"h\" },"));

        Assert.Contains("target.columns.a.field: only for CSV files", json);
        Assert.Contains("target.columns.l.meta: 'line' is only for CSV files", json);
        Assert.Contains("target.columns.a.path: source.csv.header is false", headerless);
        Assert.Equal(3, byPosition.Target.Columns[0].Field);
        Assert.Equal(["3", "$"], byPosition.Target.Dedup!.Hash);
    }
}
