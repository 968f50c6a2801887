using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// CSV files: the dialects and encodings the reader takes, what it makes of each row (the fields the
/// spec names, NULLs, the line), the rows it rejects with their line and text, the headers that fail
/// a file, resuming at a checkpoint; and on real silos the warehouse's loads: a star schema, rejects,
/// a large file resumed after a SIGKILL, validate and diff.
/// </summary>
public class CsvTests(ITestOutputHelper output)
{
    private static readonly Encoding Utf8Bom = new UTF8Encoding(true);

    private static string Spec(string folder, string columns, string csv = "", string pattern = "*.csv", string table = "ventas", string key = "",
        string extra = "", string target = "") => $$"""
        {
          "name": "csv-test",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "{{pattern}}"{{(csv.Length > 0 ? $", \"csv\": {{ {csv} }}" : "")}}{{extra}} },
          "target": { "table": "{{table}}", "create": true, {{(key.Length > 0 ? $"\"key\": [{key}]," : "")}} {{target}}
                      "columns": { {{columns}} } },
          "retry": { "attempts": 3, "backoffSeconds": 0.2 }
        }
        """;

    private const string Columns = """
        "id":   { "path": "id",   "type": "bigint" },
        "name": { "path": "name", "type": "text" },
        "note": { "path": "note", "type": "text" }
        """;

    /// <summary>One row as the reader yields it: the mapper's record, or why it is rejected, its line and its text.</summary>
    private sealed record Row(string Json, string? Problem, long Line, string Original);

    private static async Task<List<Row>> ReadAsync(string specJson, UnitCheckpoint? from = null, Action<UnitReading>? each = null)
    {
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(specJson));
        var unit = await source.PlanAsync().SingleAsync();
        var rows = new List<Row>();
        await using var reading = await source.OpenAsync(unit, from);
        while (await reading.MoveNextAsync())
        {
            rows.Add(new Row(Encoding.UTF8.GetString(reading.Current.Span), reading.Unreadable?.Reason, reading.Line, Encoding.UTF8.GetString(reading.Original.Span)));
            each?.Invoke(reading);
        }
        return rows;
    }

    private static void WriteBytes(TempFolder folder, string name, byte[] bytes) => File.WriteAllBytes(Path.Combine(folder.Path, name), bytes);

    [Fact]
    public async Task RFC_4180_quoting_a_BOM_and_CRLF_read_with_an_unquoted_empty_field_NULL_and_a_quoted_one_empty()
    {
        using var data = new TempFolder();
        WriteBytes(data, "a.csv", Utf8Bom.GetPreamble().Concat(Encoding.UTF8.GetBytes(
            "id,name,note\r\n1,\"a,b\",\"say \"\"hi\"\"\"\r\n2,\"multi\r\nline\",\r\n3,,\"\"\r\n")).ToArray());

        var rows = await ReadAsync(Spec(data.Path, Columns));

        Assert.Equal([
            """{"id":"1","name":"a,b","note":"say \"hi\""}""",
            """{"id":"2","name":"multi\r\nline","note":null}""",
            """{"id":"3","name":null,"note":""}""",
        ], rows.Select(r => r.Json));
        Assert.Equal([2L, 3, 5], rows.Select(r => r.Line));
        Assert.All(rows, r => Assert.Null(r.Problem));
    }

    [Fact]
    public async Task A_backslash_escape_reads_escaped_quotes_and_backslashes_inside_quotes()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id,name,note\n1,\"a \\\"quoted\\\" word\",\"C:\\\\dir\\\\\"\n2,\"x, y\",\\N\n");

        var rows = await ReadAsync(Spec(data.Path, Columns, csv: """ "escape": "\\", "nullValues": ["", "\\N"] """));

        Assert.Equal([
            """{"id":"1","name":"a \"quoted\" word","note":"C:\\dir\\"}""",
            """{"id":"2","name":"x, y","note":null}""",
        ], rows.Select(r => r.Json));
    }

    [Theory]
    [InlineData("latin1")]
    [InlineData("windows-1252")]
    [InlineData("utf-16")]
    [InlineData("utf-16be")]
    public async Task Files_in_latin1_windows_1252_and_UTF_16_read_as_their_text(string encoding)
    {
        using var data = new TempFolder();
        var text = "id;name;note\n1;Año Niño;ü\n2;\"€ 5\";x\n";
        if (encoding == "latin1") text = text.Replace("€", "¤"); // latin1 has no euro sign: 0xA4 is the currency sign there
        var bytes = encoding switch
        {
            "latin1" => Encoding.Latin1.GetBytes(text),
            "windows-1252" => Encoding.GetEncoding(1252).GetBytes(text),
            "utf-16" => Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes(text)).ToArray(),
            _ => Encoding.BigEndianUnicode.GetPreamble().Concat(Encoding.BigEndianUnicode.GetBytes(text)).ToArray(),
        };
        if (encoding == "windows-1252") Assert.Contains((byte)0x80, bytes); // where it and latin1 differ
        WriteBytes(data, "a.csv", bytes);

        var rows = await ReadAsync(Spec(data.Path, Columns, csv: $"\"encoding\": \"{(encoding == "utf-16be" ? "utf-16" : encoding)}\""));

        Assert.Equal(["""{"id":"1","name":"Año Niño","note":"ü"}""", $$"""{"id":"2","name":"{{(encoding == "latin1" ? "¤" : "€")}} 5","note":"x"}"""], rows.Select(r => r.Json));
    }

    [Fact]
    public async Task A_windows_1252_file_read_as_UTF_8_rejects_its_rows_saying_to_set_the_encoding()
    {
        using var data = new TempFolder();
        WriteBytes(data, "a.csv", Encoding.GetEncoding(1252).GetBytes("id,name,note\n1,plain,x\n2,€uro,y\n"));

        var rows = await ReadAsync(Spec(data.Path, Columns));

        Assert.Null(rows[0].Problem);
        Assert.Contains("source.csv.encoding", rows[1].Problem);
    }

    [Fact]
    public async Task Ragged_rows_and_a_broken_quote_are_rejected_with_their_line_and_original_text_and_the_rest_reads()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id,name,note\n1,one,x\n2,two\n3,\"three\nlines\",y,extra\n4,\"bro\"ken,z\n5,five,w\n");

        var rows = await ReadAsync(Spec(data.Path, Columns));

        Assert.Equal(5, rows.Count);
        Assert.Null(rows[0].Problem);
        Assert.Equal((3L, "2 fields, but the header has 3", "2,two"), (rows[1].Line, rows[1].Problem, rows[1].Original));
        Assert.Equal((4L, "4 fields, but the header has 3", "3,\"three\nlines\",y,extra"), (rows[2].Line, rows[2].Problem, rows[2].Original));
        Assert.Equal(6L, rows[3].Line);
        Assert.Contains("broken quote", rows[3].Problem);
        Assert.Equal("4,\"bro\"ken,z", rows[3].Original);
        Assert.Equal(("""{"id":"5","name":"five","note":"w"}""", 7L), (rows[4].Json, rows[4].Line));
    }

    [Theory]
    [InlineData(";")]
    [InlineData("|")]
    [InlineData("\t")]
    [InlineData(",")]
    public async Task The_delimiter_is_detected_when_the_spec_names_none(string delimiter)
    {
        using var data = new TempFolder();
        data.Write("a.csv", string.Join(delimiter, "id", "name", "note") + "\n" + string.Join(delimiter, "1", "\"a, b; c\"", "x") + "\n" + string.Join(delimiter, "2", "b", "y") + "\n");

        var rows = await ReadAsync(Spec(data.Path, Columns));

        Assert.Equal(["""{"id":"1","name":"a, b; c","note":"x"}""", """{"id":"2","name":"b","note":"y"}"""], rows.Select(r => r.Json));
    }

    [Fact]
    public async Task A_tsv_file_is_tab_delimited_by_its_extension_comments_and_rows_before_the_header_are_skipped()
    {
        using var data = new TempFolder();
        data.Write("a.tsv", "Ventas de enero\n# exported by the ERP\nid\tname\tnote\n1\ta,b;c|d\tx\n# a comment\n2\tb\ty\n");

        var rows = await ReadAsync(Spec(data.Path, Columns, csv: """ "skipRows": 1, "comment": "#" """, pattern: "*.tsv"));

        Assert.Equal(["""{"id":"1","name":"a,b;c|d","note":"x"}""", """{"id":"2","name":"b","note":"y"}"""], rows.Select(r => r.Json));
        Assert.Equal([4L, 6], rows.Select(r => r.Line));
    }

    [Fact]
    public async Task Header_names_are_matched_exactly_with_dots_spaces_and_dollars_and_the_row_and_its_line_can_be_kept()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "Nro. Factura,Cliente Nombre,$total,id\nF-1,Ana,10.5,1\n");
        const string columns = """
            "factura": { "path": "Nro. Factura", "type": "text" },
            "cliente": { "path": "Cliente Nombre", "type": "text" },
            "total":   { "path": "$total", "type": "numeric" },
            "raw":     { "path": "$", "type": "jsonb" },
            "line":    { "meta": "line" }
            """;

        var rows = await ReadAsync(Spec(data.Path, columns));

        var record = JsonDocument.Parse(Assert.Single(rows).Json).RootElement;
        Assert.Equal("F-1", record.GetProperty("Nro\u2024 Factura").GetString());
        Assert.Equal("10.5", record.GetProperty("\uFF04total").GetString());
        Assert.Equal(2, record.GetProperty("$line").GetInt64());
        Assert.Equal("""{"Nro. Factura":"F-1","Cliente Nombre":"Ana","$total":"10.5","id":"1"}""", record.GetProperty("$row").GetRawText());
    }

    [Fact]
    public async Task Fields_by_position_read_a_file_without_a_header_and_one_whose_header_repeats_a_name()
    {
        using var data = new TempFolder();
        const string columns = """
            "id":   { "field": 1, "type": "bigint" },
            "name": { "field": 3, "type": "text" },
            "raw":  { "path": "$", "type": "jsonb" }
            """;
        data.Write("a.csv", "1,skip,one\n2,skip,two\n");
        var headerless = await ReadAsync(Spec(data.Path, columns, csv: "\"header\": false"));
        File.Delete(Path.Combine(data.Path, "a.csv"));
        data.Write("b.csv", "code,code,name\n1,x,one\n");
        var repeated = await ReadAsync(Spec(data.Path, columns));

        Assert.Equal(["""{"field 1":"1","field 3":"one","$row":{"1":"1","2":"skip","3":"one"}}""", """{"field 1":"2","field 3":"two","$row":{"1":"2","2":"skip","3":"two"}}"""],
            headerless.Select(r => r.Json));
        Assert.Equal(["""{"field 1":"1","field 3":"one","$row":{"1":"1","2":"x","3":"one"}}"""], repeated.Select(r => r.Json));
    }

    [Theory]
    [InlineData("id,name,name\n1,a,b\n", "names given twice ('name')")]
    [InlineData("id,,note\n1,a,b\n", "blank names (field 2)")]
    [InlineData("id,Name,notes\n1,a,b\n", "lacks the mapped columns 'name', 'note'")]
    public async Task A_header_with_a_repeated_or_blank_name_or_without_a_mapped_column_fails_the_file_naming_them(string csv, string expected)
    {
        using var data = new TempFolder();
        data.Write("ventas.csv", csv);

        var e = await Assert.ThrowsAsync<SourceDataException>(() => ReadAsync(Spec(data.Path, Columns)));

        Assert.Contains("ventas.csv", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Equal(ErrorKind.Unit, e.Kind);
    }

    [Fact]
    public async Task Custom_null_values_apply_to_unquoted_fields_only()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id,name,note\n1,NULL,\"NULL\"\n2,,\"\"\n");

        var rows = await ReadAsync(Spec(data.Path, Columns, csv: """ "nullValues": ["NULL"] """));

        Assert.Equal(["""{"id":"1","name":null,"note":"NULL"}""", """{"id":"2","name":"","note":""}"""], rows.Select(r => r.Json));
    }

    [Theory]
    [InlineData("a.csv", "utf-8")]
    [InlineData("a.csv", "latin1")]
    [InlineData("a.csv.gz", "utf-8")]
    [InlineData("a.csv", "escape")]
    public async Task A_unit_opened_at_its_checkpoint_yields_the_rows_after_it_with_their_lines(string name, string dialect)
    {
        using var data = new TempFolder();
        var text = new StringBuilder("# header next\r\nid;name;note\r\n");
        var quote = dialect == "escape" ? "\\\"" : "\"\""; // an escaped quote inside quotes
        for (var i = 1; i <= 40; i++)
            text.Append(i % 7 == 0 ? $"{i};\"row {i}\r\nover two lines\";ñ\r\n" : i % 5 == 0 ? $"{i};\"a {quote}q{quote} {i}\";\r\n# comment\r\n\r\n" : $"{i};row {i};x\r\n");
        var bytes = dialect == "latin1" ? Encoding.Latin1.GetBytes(text.ToString()) : Utf8Bom.GetPreamble().Concat(Encoding.UTF8.GetBytes(text.ToString())).ToArray();
        if (name.EndsWith(".gz"))
        {
            using var zipped = new MemoryStream();
            using (var gz = new GZipStream(zipped, CompressionLevel.Fastest)) gz.Write(bytes);
            bytes = zipped.ToArray();
        }
        WriteBytes(data, name, bytes);
        var spec = Spec(data.Path, Columns + """, "line": { "meta": "line" }, "index": { "meta": "record_index" }""",
            csv: $"\"comment\": \"#\"{(dialect == "latin1" ? ", \"encoding\": \"latin1\"" : dialect == "escape" ? ", \"escape\": \"\\\\\"" : "")}", pattern: "a.csv*");

        var checkpoints = new Dictionary<long, UnitCheckpoint>();
        var all = await ReadAsync(spec, each: r => checkpoints[r.RecordIndex] = r.Checkpoint);
        Assert.Equal(40, all.Count);
        Assert.All(all, r => Assert.Null(r.Problem));
        foreach (var after in new long[] { 0, 4, 6, 13, 39 })
        {
            var rest = await ReadAsync(spec, checkpoints[after]);
            Assert.Equal(all.Skip((int)after + 1).Select(r => (r.Json, r.Line)), rest.Select(r => (r.Json, r.Line)));
        }
        // Lines count the header, comments, empty lines and the line breaks inside quotes.
        Assert.Equal(3, JsonDocument.Parse(all[0].Json).RootElement.GetProperty("$line").GetInt64());
        Assert.Equal(all.Select(r => r.Line), all.Select(r => JsonDocument.Parse(r.Json).RootElement.GetProperty("$line").GetInt64()));
        // Row 40: after the comment and the header, 39 rows (five of them on two lines), six of them followed by a comment and an empty line.
        Assert.Equal(2 + 39 + 5 + 6 * 2 + 1, all[^1].Line);
    }
}
