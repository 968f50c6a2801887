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

    [Fact]
    public async Task A_row_maps_from_its_fields_to_the_same_values_and_rejects_as_from_its_JSON()
    {
        using var data = new TempFolder();
        data.Write("a.csv", string.Join("\n",
            "id,name,n,price,rate,ok,day,at,local,uid,code,fecha,note",
            "1,uno,12,1.50,2.5e3,true,2024-02-29,2024-02-29T10:00:00+02:00,2024-02-29 10:00:00,6f9619ff-8b86-d011-b42d-00cf4fc964ff, x ,29/02/2024,\"a \"\"q\"\" b\"",
            "2,,,,,,,,,,,,",
            "3,\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"",
            " 4 ,dos,-7,\"1,5\",-0,False,20240101,2024-01-01,2024-01-01T23:59:59Z,{6F9619FF-8B86-D011-B42D-00CF4FC964FF}, N/A ,01/01/2024,é ü €",
            "x5,cinco,1,1,1,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "6,seis,99999999999,1,1,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "7,siete,1,uno,1,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "8,ocho,1,1,NaN,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "9,nueve,1,1,1,maybe,2024-02-30,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "10,diez,1,1,1,true,2024-01-01,never,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n",
            "11,once,1,1,1,true,2024-01-01,2024-01-01,2024-01-01,nope,c,01/01/2024,n",
            "12,doce,1,1,1,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,2024-01-01,n",
            ",trece,1,1,1,true,2024-01-01,2024-01-01,2024-01-01,6f9619ff-8b86-d011-b42d-00cf4fc964ff,c,01/01/2024,n") + "\n");
        var spec = ImportSpecParser.ParseJson(Spec(data.Path, """
            "id":    { "path": "id",    "type": "bigint" },
            "name":  { "path": "name",  "type": "text" },
            "n":     { "path": "n",     "type": "int" },
            "price": { "path": "price", "type": "numeric", "decimalSeparator": "," },
            "rate":  { "path": "rate",  "type": "double" },
            "ok":    { "path": "ok",    "type": "boolean" },
            "day":   { "path": "day",   "type": "date" },
            "at":    { "path": "at",    "type": "timestamptz" },
            "local": { "path": "local", "type": "timestamp" },
            "uid":   { "path": "uid",   "type": "uuid" },
            "code":  { "path": "code",  "type": "text", "trim": true, "nullIf": ["N/A", ""] },
            "fecha": { "path": "fecha", "type": "date", "format": "dd/MM/yyyy" },
            "note":  { "path": "note",  "type": "text" },
            "again": { "path": "id",    "type": "text" },
            "line":  { "meta": "line" },
            "fixed": { "value": 7, "type": "int" }
            """, key: "\"id\""));
        var source = TestSources.Registry.For(spec);
        var mapper = new Ingest.Engine.Quality.CheckedMapper(source.Target);
        var unit = await source.PlanAsync().SingleAsync();

        async Task<List<(Ingest.Engine.Mapping.MappedRow? Row, string? Reject, string Json)>> MapAsync(bool fromFields)
        {
            var mapped = new List<(Ingest.Engine.Mapping.MappedRow?, string?, string)>();
            await using var reading = await source.OpenAsync(unit, null);
            var facts = new Ingest.Engine.Mapping.UnitFacts(1, reading.Info);
            var slots = fromFields ? mapper.FieldSlots(reading.Fields!) : null;
            if (fromFields)
            {
                Assert.NotNull(slots);
                reading.Fields!.DeferJson();
            }
            var row = mapper.CreateRow();
            while (await reading.MoveNextAsync())
            {
                var ok = fromFields
                    ? mapper.TryMap(reading.Fields!, slots!, row, facts, reading.RecordIndex, DateTime.UtcNow, new(), out var reject)
                    : mapper.TryMap(reading.Current.Span, row, facts, reading.RecordIndex, DateTime.UtcNow, new(), out reject);
                mapped.Add((ok ? row.Clone() : null, reject?.Reason, Encoding.UTF8.GetString(reading.Current.Span)));
            }
            return mapped;
        }

        var fromJson = await MapAsync(fromFields: false);
        var fromFields = await MapAsync(fromFields: true);

        foreach (var (json, fields) in fromJson.Zip(fromFields))
        {
            output.WriteLine($"{json.Reject ?? "ok"} | {json.Json}");
            Assert.Equal(json.Json, fields.Json); // written when asked for, as the reader writes it otherwise
            Assert.Equal(json.Reject, fields.Reject);
            Assert.Equal(json.Row is null, fields.Row is null);
            if (json.Row is not null) Assert.True(json.Row.ValueEquals(fields.Row!), $"row {json.Json}: {string.Join(", ", Enumerable.Range(0, json.Row.Width).Select(c => $"{json.Row[c]} / {fields.Row![c]}"))}");
        }
        Assert.Equal(13, fromFields.Count);
        Assert.Equal([0, 1, 3], fromFields.Index().Where(r => r.Item.Row is not null).Select(r => r.Index));
        Assert.Equal([
            "column 'n' (int) at 'n': \"\" is not a whole number", // a quoted field is never NULL
            "column 'id' (bigint) at 'id': \"x5\" is not a whole number",
            "column 'n' (int) at 'n': 99999999999 is out of range",
            "column 'price' (numeric) at 'price': \"uno\" is not a decimal number (or out of range)",
            "column 'rate' (double) at 'rate': \"NaN\" is not a number",
            "column 'ok' (boolean) at 'ok': \"maybe\" is not a boolean",
            "column 'at' (timestamptz) at 'at': \"never\" is not a timestamp (expected ISO 8601, e.g. 2013-09-17T10:00:00Z)",
            "column 'uid' (uuid) at 'uid': \"nope\" is not a uuid",
            "column 'fecha' (date) at 'fecha': \"2024-01-01\" does not match the format 'dd/MM/yyyy'",
            "key column 'id' has no value at 'id'",
        ], fromFields.Where(r => r.Row is null).Select(r => r.Reject));
        var first = fromFields[0].Row!;
        // "." groups thousands where "," is the decimal separator: "1.50" is 150.
        Assert.Equal((1L, "uno", 12, 150m, 2500.0, true), ((long)first[0]!, (string)first[1]!, (int)first[2]!, (decimal)first[3]!, (double)first[4]!, (bool)first[5]!));
        Assert.Equal(("x", "a \"q\" b", "1", 2L, 7), ((string)first[10]!, (string)first[12]!, (string)first[13]!, (long)first[14]!, (int)first[15]!));
        Assert.All(Enumerable.Range(1, 12), c => Assert.Null(fromFields[1].Row![c]));
        Assert.Equal(4L, fromFields[3].Row![0]);
        Assert.Equal(1.5m, fromFields[3].Row![3]);
        Assert.Null(fromFields[3].Row![10]);
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

    // The warehouse's sales export: one row per invoice line, with the customer's and the product's codes and names.
    private sealed record Sale(string Factura, int Linea, string Cliente, string ClienteNombre, string Producto, string ProductoNombre, int Cantidad, decimal Precio, DateOnly Fecha);

    private static List<Sale> Sales(int first, int count) => Enumerable.Range(first, count).Select(i => new Sale(
        $"F-{i / 3:D5}", i % 3 + 1, $"C{i % 17:D3}", $"Cliente {i % 17}, S.A.", $"P-{i % 11}", i % 11 == 4 ? "Café \"premium\"" : $"Producto {i % 11}",
        i % 9 + 1, 1.25m * (i % 40 + 1), new DateOnly(2024, 1 + i % 12, 1 + i % 28))).ToList();

    private const string StarSpecColumns = """
        "factura":   { "path": "Factura", "type": "text" },
        "linea":     { "path": "Línea", "type": "int" },
        "cantidad":  { "path": "Cantidad", "type": "int" },
        "precio":    { "path": "Precio Unit.", "type": "numeric" },
        "fecha":     { "path": "Fecha", "type": "date", "format": "dd/MM/yyyy" },
        "archivo":   { "meta": "file" },
        "linea_csv": { "meta": "line" }
        """;

    private const string StarReferences = """
        "references": [
          { "column": "cliente_sk", "dimension": { "table": "dim_cliente", "key": ["codigo"], "surrogate": "cliente_sk",
              "columns": { "codigo": { "path": "Cód. Cliente", "type": "text" }, "nombre": { "path": "Cliente", "type": "text" } } } },
          { "column": "producto_sk", "dimension": { "table": "dim_producto", "key": ["codigo"], "surrogate": "producto_sk",
              "columns": { "codigo": { "path": "Cód. Producto", "type": "text" }, "nombre": { "path": "Producto", "type": "text" } } } }
        ],
        """;

    [Fact]
    public async Task A_star_schema_loads_from_three_CSV_files_a_fact_with_two_surrogate_dimensions_row_for_row()
    {
        using var data = new TempFolder();
        // Three exports of the same sales, each in its own dialect: commas, semicolons with every field quoted, pipes.
        var files = new[] { ("ventas_1.csv", ",", false), ("ventas_2.csv", ";", true), ("ventas_3.csv", "|", false) };
        var expected = new List<string>();
        for (var f = 0; f < files.Length; f++)
        {
            var (name, delimiter, quoteAll) = files[f];
            string Field(string v) => quoteAll || v.Contains(delimiter) || v.Contains('"') ? "\"" + v.Replace("\"", "\"\"") + "\"" : v;
            var text = new StringBuilder(string.Join(delimiter, new[] { "Factura", "Línea", "Cód. Cliente", "Cliente", "Cód. Producto", "Producto", "Cantidad", "Precio Unit.", "Fecha" }.Select(Field)) + "\r\n");
            var line = 2;
            foreach (var s in Sales(f * 300, 300))
            {
                text.Append(string.Join(delimiter, new[] { s.Factura, s.Linea.ToString(), s.Cliente, s.ClienteNombre, s.Producto, s.ProductoNombre, s.Cantidad.ToString(),
                    s.Precio.ToString(System.Globalization.CultureInfo.InvariantCulture), s.Fecha.ToString("dd/MM/yyyy") }.Select(Field)) + "\r\n");
                expected.Add($"{s.Factura}|{s.Linea}|{s.Cliente}|{s.ClienteNombre}|{s.Producto}|{s.ProductoNombre}|{s.Cantidad}|{s.Precio:0.00}|{s.Fecha:yyyy-MM-dd}|{name}|{line++}");
            }
            data.Write(name, text.ToString());
        }
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Spec(data.Path, StarSpecColumns, pattern: "ventas_*.csv", table: "fact_ventas",
            key: "\"factura\", \"linea\"", target: StarReferences + "\"foreignKeys\": true,")));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(status.Id));
        Assert.Equal(new RowCounts(900, 900, 0, 0, 0), status.Rows);
        var rows = await db.ScalarAsync<string>("""
            SELECT string_agg(concat_ws('|', f.factura, f.linea, c.codigo, c.nombre, p.codigo, p.nombre, f.cantidad, to_char(f.precio, 'FM999990.00'), f.fecha, f.archivo, f.linea_csv),
                              E'\n' ORDER BY f.archivo, f.linea_csv)
            FROM fact_ventas f JOIN dim_cliente c USING (cliente_sk) JOIN dim_producto p USING (producto_sk)
            """);
        Assert.Equal(string.Join("\n", expected), rows);
        Assert.Equal("17,11", await db.ScalarAsync<string>("SELECT (SELECT count(*) FROM dim_cliente) || ',' || (SELECT count(*) FROM dim_producto)"));
        Assert.Equal("Café \"premium\"", await db.ScalarAsync<string>("SELECT nombre FROM dim_producto WHERE codigo = 'P-4'"));
    }

    [Fact]
    public async Task Bad_rows_are_rejected_with_file_line_reason_and_original_text_and_a_file_lacking_a_mapped_column_fails_at_once()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id,name,note\n1,one,x\n2,two\n3,\"three\nlines\",y,extra\nx4,four,z\n5,\"bro\"ken,w\n6,six,\"\"\n");
        data.Write("b.csv", "id,nombre,note\n7,siete,x\n");
        data.Write("c.csv", "note,id,name\nq,8,eight\n");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Spec(data.Path, Columns + """, "raw": { "path": "$", "type": "jsonb" }""", key: "\"id\"")));

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal(("b.csv", 1), (failed.Key, failed.Attempts));
        Assert.Contains("b.csv: its header (line 1) lacks the mapped column 'name'", failed.Error);
        Assert.Equal("1:one:x,6:six:,8:eight:q", await db.ScalarAsync<string>("SELECT string_agg(id || ':' || name || ':' || coalesce(note, 'NULL'), ',' ORDER BY id) FROM ventas"));
        Assert.Equal("""{"id": "6", "name": "six", "note": ""}""", await db.ScalarAsync<string>("SELECT raw::text FROM ventas WHERE id = 6"));
        var rejects = await db.ScalarAsync<string>("SELECT string_agg(record_index || ' ' || reason || ' <' || raw || '>', E'\n' ORDER BY record_index) FROM ingest.rejects");
        output.WriteLine(rejects);
        Assert.Equal([
            "1 line 3: 2 fields, but the header has 3 <2,two>",
            "2 line 4: 4 fields, but the header has 3 <3,\"three\nlines\",y,extra>",
            "3 line 6: column 'id' (bigint) at 'id': \"x4\" is not a whole number <x4,four,z>",
            "4 line 7: a broken quote: text after the closing quote of a field <5,\"bro\"ken,w>",
        ], rejects.Split('\n').Where(l => l.Length > 0).Aggregate(new List<string>(), (list, l) =>
        {
            if (Regex.IsMatch(l, @"^\d+ line ")) list.Add(l); else list[^1] += "\n" + l;
            return list;
        }));

        // The same rejects exported as JSON lines, to a file and to stdout.
        var file = Path.Combine(data.Path, "rejects.jsonl");
        var exported = await CliProcess.RunAsync(db.ConnectionString, "rejects", status.Id.ToString(), "--output", file);
        var printed = await CliProcess.RunAsync(db.ConnectionString, "rejects", status.Id.ToString());
        Assert.True(exported.ExitCode == 0, exported.ToString());
        Assert.Contains($"4 rejects of import {status.Id} written to {file}", exported.Stderr);
        var lines = (await File.ReadAllLinesAsync(file)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["a.csv", "a.csv", "a.csv", "a.csv"], lines.Select(l => l.GetProperty("file").GetString()));
        Assert.Equal([1L, 2, 3, 4], lines.Select(l => l.GetProperty("recordIndex").GetInt64()));
        Assert.Equal("3,\"three\nlines\",y,extra", lines[1].GetProperty("raw").GetString());
        Assert.Equal("id", lines[2].GetProperty("column").GetString());
        Assert.Equal(await File.ReadAllTextAsync(file), printed.Stdout);
    }

    [Fact]
    public async Task A_large_CSV_resumes_mid_file_after_its_silo_is_killed_every_row_once_with_its_line()
    {
        const int records = 120_000, chunkRows = 10_000;
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.csv");
        long expectedLineSum = 0;
        await using (var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            file.Write("id,name,note\r\n");
            var line = 2L;
            for (var i = 1; i <= records; i++)
            {
                expectedLineSum += line;
                if (i % 1000 == 0) { file.Write($"{i},\"Row {i}, with a quoted\r\nline break\",\"say \"\"hi\"\"\"\r\n"); line += 2; }
                else { file.Write($"{i},Row {i} with a name long enough to make a file of some megabytes,x\r\n"); line++; }
            }
        }
        output.WriteLine($"big.csv: {new FileInfo(path).Length / (1 << 20)} MiB");
        await using var db = await TestDatabase.CreateAsync();
        // Each chunk's COPY sleeps (SlowTarget's trigger, on this test's table): the unit is slow enough to be killed between checkpoints.
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0.4);
            CREATE TABLE ventas (id bigint PRIMARY KEY, name text, note text, line bigint);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            CREATE TRIGGER test_trigger BEFORE INSERT ON ventas FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();
            """);
        var silos = new[] { db.StartSilo(slots: 1), db.StartSilo(slots: 1) };
        foreach (var silo in silos) await silo.StartedAsync();
        // Plain inserts into a table with a primary key: a row loaded twice fails the unit.
        var id = await db.SubmitAsync(Spec(data.Path, Columns + """, "line": { "meta": "line" }""", extra: $", \"chunkRows\": {chunkRows}")
            .Replace("\"retry\":", "\"parallelism\": 1, \"retry\":"));

        var seen = new SortedSet<long>();
        await Poll.UntilAsync(async () =>
        {
            seen.Add(await db.ScalarAsync<long>($"SELECT coalesce((SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id}), 0)"));
            return seen.Max >= 3 * chunkRows;
        }, TimeSpan.FromSeconds(60), () => $"three chunks committed; silo output:\n{db.SiloOutput}");
        var holder = await db.ScalarAsync<string>($"SELECT silo FROM ingest.units WHERE import_id = {id}");
        var (first, second) = silos[0].Address == holder ? (silos[0], silos[1]) : (silos[1], silos[0]);
        first.Kill();
        var committed = await db.ScalarAsync<long>($"SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id}");
        Assert.Equal(committed, await db.ScalarAsync<long>("SELECT count(*) FROM ventas"));
        await SlowTarget.SetDelayAsync(db, 0);

        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(2));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id));
        Assert.Equal(new RowCounts(records, records, 0, 0, 0), status.Rows);
        Assert.Equal($"{records},{records},1,{records},{expectedLineSum}",
            await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) || ',' || min(id) || ',' || max(id) || ',' || sum(line) FROM ventas"));
        Assert.Equal("Row 5000, with a quoted\r\nline break|say \"hi\"|5005", await db.ScalarAsync<string>("SELECT name || '|' || note || '|' || line FROM ventas WHERE id = 5000"));
        Assert.Equal("", await db.CountersMismatchAsync(id));
        var resumed = Regex.Match(second.Output, @"start: big\.csv \(attempt 2/3\) from record (\d+)");
        Assert.True(resumed.Success, second.Output);
        Assert.Equal(committed, long.Parse(resumed.Groups[1].Value));
        Assert.Equal((records - committed) / chunkRows, Regex.Matches(second.Output, "chunk committed").Count);
    }

    [Fact]
    public async Task Validate_and_diff_read_CSV_files()
    {
        using var data = new TempFolder();
        data.Write("a.csv", "id;name;note\n1;one;x\n2;two\n3;three;z\nx4;four;w\n");
        using var specs = new TempFolder();
        var spec = specs.Write("spec.json", Spec(data.Path, Columns, key: "\"id\""));
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        await db.ExecuteAsync("CREATE TABLE ventas (id bigint PRIMARY KEY, name text, note text); INSERT INTO ventas VALUES (1, 'one', 'x'), (3, 'tres', 'z'), (9, 'nine', 'q');");

        var validate = await CliProcess.RunAsync(null, "validate", spec);
        var diff = await CliProcess.RunAsync(db.ConnectionString, "diff", spec, "--json");

        Assert.True(validate.ExitCode == 1, validate.ToString());
        var report = Regex.Replace(validate.Stdout, @"\s+", " "); // wrapped to the terminal's width
        Assert.Contains("4 records read: 2 valid, 2 would be rejected", report);
        Assert.Contains("malformed.row: 1 records a.csv record 1: line 3: 2 fields, but the header has 3", report);
        Assert.Contains("convert.id: 1 records a.csv record 3: line 5: column 'id' (bigint) at 'id': \"x4\" is not a whole number", report);
        Assert.True(diff.ExitCode == 0, diff.ToString());
        var r = JsonDocument.Parse(diff.Stdout).RootElement;
        Assert.Equal((0L, 1L, 1L, 1L), (r.GetProperty("inserted").GetInt64(), r.GetProperty("updated").GetInt64(), r.GetProperty("unchanged").GetInt64(), r.GetProperty("onlyInTable").GetInt64()));
    }

    [Fact]
    public async Task A_file_without_a_header_loads_a_fact_and_its_surrogate_dimension_by_field_positions()
    {
        using var data = new TempFolder();
        data.Write("pedidos.csv", "1;C1;Ana;5\n2;C1;Ana;7\n3;C2;Luis;1\n");
        const string columns = """
            "pedido":   { "field": 1, "type": "bigint" },
            "cantidad": { "field": 4, "type": "int" }
            """;
        const string references = """
            "references": [{ "column": "cliente_sk", "dimension": { "table": "clientes", "key": ["codigo"], "surrogate": "cliente_sk",
                "columns": { "codigo": { "field": 2, "type": "text" }, "nombre": { "field": 3, "type": "text" } } } }],
            """;
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Spec(data.Path, columns, csv: "\"header\": false", table: "pedidos", key: "\"pedido\"", target: references)));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(status.Id));
        Assert.Equal("1:C1:Ana:5,2:C1:Ana:7,3:C2:Luis:1", await db.ScalarAsync<string>(
            "SELECT string_agg(concat_ws(':', p.pedido, c.codigo, c.nombre, p.cantidad), ',' ORDER BY p.pedido) FROM pedidos p JOIN clientes c USING (cliente_sk)"));
        Assert.Equal(2, await db.ScalarAsync<long>("SELECT count(*) FROM clientes"));
    }

    [Fact]
    public async Task A_CSV_object_in_S3_resumes_at_its_checkpoint_with_a_ranged_get()
    {
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new Amazon.S3.Model.PutBucketRequest { BucketName = "ventas-csv" });
        await s3.PutAsync(client, "ventas-csv", "export/ventas.csv",
            "id;name;note\r\n" + string.Concat(Enumerable.Range(1, 20).Select(i => i % 6 == 0 ? $"{i};\"two\r\nlines {i}\";x\r\n" : $"{i};n{i};\r\n")));
        var registry = new SourceRegistry([new S3Connector(s3.CreateClient()), new FolderConnector()], [Engine.Formats.Csv.CsvFormat.Csv, Engine.Formats.Csv.CsvFormat.Tsv]);
        var spec = ImportSpecParser.ParseJson(Spec("/unused", Columns + """, "line": { "meta": "line" }""")) is var parsed
            ? parsed with { Source = parsed.Source with { Kind = SourceKind.S3, Path = null, Bucket = "ventas-csv", Prefix = "export/" } }
            : null!;
        var source = registry.For(spec);
        var unit = await source.PlanAsync().SingleAsync();

        var all = new List<string>();
        UnitCheckpoint? at12 = null;
        await using (var reading = await source.OpenAsync(unit, null))
            while (await reading.MoveNextAsync())
            {
                all.Add(Encoding.UTF8.GetString(reading.Current.Span));
                if (reading.RecordIndex == 11) at12 = reading.Checkpoint;
            }
        var rest = new List<string>();
        await using (var resumed = await source.OpenAsync(unit, at12))
            while (await resumed.MoveNextAsync()) rest.Add(Encoding.UTF8.GetString(resumed.Current.Span));

        Assert.Equal(20, all.Count);
        Assert.Equal(all.Skip(12), rest);
        Assert.Equal("""{"id":"13","name":"n13","note":null,"$line":16}""", rest[0]);
    }
}
