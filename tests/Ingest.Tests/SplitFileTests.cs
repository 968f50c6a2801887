using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// Huge files split into record-aligned byte ranges: the ranges of a CSV file in each dialect (quoted
/// line breaks placed where a naive cut falls) and of an NDJSON file read exactly the records a
/// reading of the whole file does, with their indexes and lines; files that stay whole; a range of
/// a changed file fails; and on real silos, two silos load the ranges, one killed mid-range.
/// </summary>
public class SplitFileTests(ITestOutputHelper output)
{
    private const int SplitBytes = 16 * 1024;

    private const string Columns = """
        "id":   { "path": "id",   "type": "bigint" },
        "name": { "path": "name", "type": "text" },
        "note": { "path": "note", "type": "text" },
        "line": { "meta": "line" }
        """;

    private const string ColumnsByPosition = """
        "id":   { "field": 1, "type": "bigint" },
        "name": { "field": 2, "type": "text" },
        "note": { "field": 3, "type": "text" },
        "line": { "meta": "line" }
        """;

    private static string Spec(string folder, string pattern = "*.csv", string csv = "", long splitBytes = SplitBytes, string columns = Columns,
        string extra = "", string key = "") => $$"""
        {
          "name": "split-test",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "{{pattern}}", "splitBytes": {{splitBytes}}
                      {{(csv.Length > 0 ? $", \"csv\": {{ {csv} }}" : "")}}{{extra}} },
          "target": { "table": "ventas", "create": true, {{(key.Length > 0 ? $"\"key\": [{key}]," : "")}} "columns": { {{columns}} } },
          "retry": { "attempts": 3, "backoffSeconds": 0.2 }
        }
        """;

    /// <summary>One record as a reading yields it.</summary>
    private sealed record Read(long Index, long Line, string Json, string? Problem);

    private static async Task<List<Read>> ReadAsync(ImportSource source, IEnumerable<UnitDescriptor> units)
    {
        var records = new List<Read>();
        foreach (var unit in units)
        {
            await using var reading = await source.OpenAsync(unit, null);
            while (await reading.MoveNextAsync())
                records.Add(new Read(reading.RecordIndex, reading.Line, Encoding.UTF8.GetString(reading.Current.Span), reading.Unreadable?.Reason));
        }
        return records;
    }

    private static void AssertContiguous(IReadOnlyList<UnitDescriptor> ranges, long size)
    {
        Assert.All(ranges, r => Assert.NotNull(r.Range));
        Assert.Equal(0, ranges[0].Range!.Start);
        for (var i = 1; i < ranges.Count; i++) Assert.Equal(ranges[i - 1].Range!.End, ranges[i].Range!.Start);
        Assert.Equal(size, ranges[^1].Range!.End);
        Assert.Equal(ranges.Count, ranges.Select(r => r.Name).Distinct().Count());
    }

    public static TheoryData<string> Dialects => ["rfc-lf", "rfc-crlf", "backslash", "comments-skipped-rows", "no-header-semicolon"];

    [Theory]
    [MemberData(nameof(Dialects))]
    public async Task A_CSV_file_cut_where_a_naive_split_would_reads_in_ranges_exactly_as_whole(string name)
    {
        var (dialect, csv, columns) = name switch
        {
            "rfc-lf" => (new SplitCsv.Dialect(), "", Columns),
            "rfc-crlf" => (new SplitCsv.Dialect(Newline: "\r\n"), "", Columns),
            "backslash" => (new SplitCsv.Dialect(BackslashEscape: true), """ "escape": "\\" """, Columns),
            "comments-skipped-rows" => (new SplitCsv.Dialect(Newline: "\r\n", Comment: '#', SkipRows: 2), """ "comment": "#", "skipRows": 2 """, Columns),
            _ => (new SplitCsv.Dialect(Header: false, Delimiter: ';'), """ "header": false """, ColumnsByPosition),
        };
        const int rows = 12_000;
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(path, rows, SplitBytes, dialect);
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Spec(data.Path, csv: csv, columns: columns)));
        var file = await source.PlanAsync().SingleAsync();

        var ranges = await source.SplitAsync(file).ToListAsync();
        var whole = await ReadAsync(source, [file]);
        var split = await ReadAsync(source, ranges);

        output.WriteLine($"{new FileInfo(path).Length:N0} bytes, {ranges.Count} ranges");
        Assert.True(ranges.Count >= 10, $"{ranges.Count} ranges");
        AssertContiguous(ranges, new FileInfo(path).Length);
        Assert.Equal(rows, whole.Count);
        Assert.All(whole, r => Assert.Null(r.Problem));
        Assert.Equal(Enumerable.Range(1, rows).Select(i => i.ToString()), whole.Select(r => JsonDocument.Parse(r.Json).RootElement.EnumerateObject().First().Value.GetString()));
        Assert.Equal(whole, split);
        // A cut at the line break after each multiple of the size would have started a range inside a quoted field.
        var bytes = await File.ReadAllBytesAsync(path);
        var naive = Enumerable.Range(1, ranges.Count - 1).Select(k => Array.IndexOf(bytes, (byte)'\n', k * SplitBytes) + 1L).ToHashSet();
        Assert.NotEqual(naive, ranges.Skip(1).Select(r => r.Range!.Start).ToHashSet());
    }

    [Fact]
    public async Task An_NDJSON_file_with_blank_lines_reads_in_ranges_exactly_as_whole()
    {
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.ndjson");
        await using (var writer = new StreamWriter(path, false, new UTF8Encoding(false)))
            for (var i = 1; i <= 10_000; i++)
            {
                await writer.WriteAsync($$"""{"id":{{i}},"name":"line\nbreak \"quoted\" {{i}}","note":"{{new string('n', i % 50)}}"}""" + "\n");
                if (i % 97 == 0) await writer.WriteAsync(i % 2 == 0 ? "\n" : "  \t\r\n");
            }
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Spec(data.Path, "*.ndjson", columns: """
            "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "i": { "meta": "record_index" }
            """)));
        var file = await source.PlanAsync().SingleAsync();

        var ranges = await source.SplitAsync(file).ToListAsync();
        var whole = await ReadAsync(source, [file]);
        var split = await ReadAsync(source, ranges);

        Assert.True(ranges.Count >= 10, $"{ranges.Count} ranges");
        AssertContiguous(ranges, new FileInfo(path).Length);
        Assert.Equal(10_000, whole.Count);
        Assert.Equal(whole, split);
        Assert.Equal(Enumerable.Range(0, 10_000).Select(i => (long)i), split.Select(r => r.Index));
    }

    [Fact]
    public async Task Small_compressed_re_encoded_and_JSON_array_files_are_loaded_whole()
    {
        using var data = new TempFolder();
        var text = "id,name,note\n" + string.Concat(Enumerable.Range(1, 5000).Select(i => $"{i},name {i},note\n"));
        data.Write("small.csv", "id,name,note\n1,a,b\n");
        data.Write("latin1.csv", text);
        await using (var gz = new GZipStream(File.Create(Path.Combine(data.Path, "packed.csv.gz")), CompressionLevel.Fastest))
            await gz.WriteAsync(Encoding.UTF8.GetBytes(text));
        data.Write("array.json", "[" + string.Join(",", Enumerable.Range(1, 5000).Select(i => $$"""{"id":{{i}},"name":"n"}""")) + "]");

        async Task<int> UnitsAsync(string pattern, string csv = "")
        {
            var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Spec(data.Path, pattern, csv, splitBytes: 1024, columns: """ "id": { "path": "id", "type": "bigint" } """)));
            var units = 0;
            await foreach (var file in source.PlanAsync())
                units += await source.SplitAsync(file).CountAsync();
            return units;
        }

        Assert.Equal(1, await UnitsAsync("small.csv"));
        Assert.Equal(1, await UnitsAsync("latin1.csv", """ "encoding": "latin1" """));
        Assert.Equal(1, await UnitsAsync("packed.csv.gz"));
        Assert.Equal(1, await UnitsAsync("array.json"));
        Assert.True(await UnitsAsync("latin1.csv") > 10); // the same file, UTF-8
    }

    [Fact]
    public async Task A_range_of_a_local_file_appended_to_since_it_was_split_fails_saying_so()
    {
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(path, 3000, SplitBytes, new SplitCsv.Dialect());
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Spec(data.Path)));
        var ranges = await source.SplitAsync(await source.PlanAsync().SingleAsync()).ToListAsync();
        await File.AppendAllTextAsync(path, "999999,appended,later\n");

        var e = await Assert.ThrowsAsync<SourceDataException>(() => source.OpenAsync(ranges[1], null));

        Assert.Contains($"big.csv [{ranges[1].Range!.Start}-{ranges[1].Range!.End}): the file changed since it was split into ranges", e.Message);
    }

    [Fact]
    public async Task An_S3_object_is_split_read_with_ranged_gets_and_a_range_of_a_replaced_object_fails()
    {
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new Amazon.S3.Model.PutBucketRequest { BucketName = "split-csv" });
        using var data = new TempFolder();
        var path = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(path, 3000, SplitBytes, new SplitCsv.Dialect(Newline: "\r\n"));
        await s3.PutAsync(client, "split-csv", "export/big.csv", await File.ReadAllTextAsync(path));
        var registry = new SourceRegistry([new S3Connector(s3.CreateClient()), new FolderConnector()], [Engine.Formats.Csv.CsvFormat.Csv, Engine.Formats.Csv.CsvFormat.Tsv]);
        var spec = ImportSpecParser.ParseJson(Spec("/unused")) is var parsed
            ? parsed with { Source = parsed.Source with { Kind = SourceKind.S3, Path = null, Bucket = "split-csv", Prefix = "export/" } }
            : null!;
        var source = registry.For(spec);
        var file = await source.PlanAsync().SingleAsync();

        var ranges = await source.SplitAsync(file).ToListAsync();
        var split = await ReadAsync(source, ranges);
        var whole = await ReadAsync(TestSources.Registry.For(ImportSpecParser.ParseJson(Spec(data.Path))), [new UnitDescriptor("big.csv")]);

        Assert.True(ranges.Count >= 3, $"{ranges.Count} ranges");
        AssertContiguous(ranges, new FileInfo(path).Length);
        Assert.Equal(whole, split);

        await s3.PutAsync(client, "split-csv", "export/big.csv", (await File.ReadAllTextAsync(path)).Replace("plain", "PLAIN"));
        var e = await Assert.ThrowsAsync<SourceDataException>(() => ReadAsync(source, [ranges[1]]));
        Assert.Contains("the file changed since it was split into ranges", e.Message);
    }

    [Fact]
    public async Task Two_silos_load_the_ranges_of_a_CSV_and_an_NDJSON_file_one_killed_mid_range_every_row_once_with_its_line()
    {
        const int rows = 60_000, jsonRows = 20_000;
        const long splitBytes = 256 * 1024;
        using var data = new TempFolder();
        SplitCsv.Write(Path.Combine(data.Path, "big.csv"), rows, splitBytes, new SplitCsv.Dialect(Newline: "\r\n"));
        await using (var ndjson = new StreamWriter(Path.Combine(data.Path, "more.ndjson"), false, new UTF8Encoding(false)))
            for (var i = rows + 1; i <= rows + jsonRows; i++)
                await ndjson.WriteAsync($$"""{"id":{{i}},"name":"from ndjson {{i}} {{new string('j', i % 80)}}","note":"n"}""" + "\n");
        var csvSpec = Spec(data.Path, "big.csv", splitBytes: splitBytes, extra: ", \"chunkRows\": 1000", columns: Columns + """, "record": { "meta": "record_index" }""");
        var jsonSpec = Spec(data.Path, "more.ndjson", splitBytes: splitBytes, extra: ", \"chunkRows\": 1000", columns: """
            "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" }, "note": { "path": "note", "type": "text" },
            "record": { "meta": "record_index" }
            """).Replace("split-test", "split-test-json");
        // The lines and record indexes of a reading of the whole file: what the ranges must load.
        var csvRows = await ReadAsync(TestSources.Registry.For(ImportSpecParser.ParseJson(csvSpec)), [new UnitDescriptor("big.csv")]);
        var expected = csvRows.Sum(r => r.Line * 7 + r.Index);

        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0.2);
            CREATE TABLE ventas (id bigint PRIMARY KEY, name text, note text, line bigint, record bigint);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            CREATE TRIGGER test_trigger BEFORE INSERT ON ventas FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();
            """);
        var silos = new[] { db.StartSilo(slots: 2), db.StartSilo(slots: 2) };
        foreach (var silo in silos) await silo.StartedAsync();
        // Plain inserts into a table with a primary key: a row loaded twice fails its unit.
        var ids = new[] { await db.SubmitAsync(csvSpec), await db.SubmitAsync(jsonSpec) };
        var imports = string.Join(",", ids);

        // A range that has committed a chunk and goes on: its silo is killed there.
        var offsets = new HashSet<string>();
        async Task<bool> WatchAsync(string? condition = null)
        {
            foreach (var seen in (await db.ScalarAsync<string?>($"SELECT string_agg(import_id || '/' || unit_no || '@' || coalesce(checkpoint->>'offset', 'start'), ' ') FROM ingest.units WHERE import_id IN ({imports})") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                offsets.Add(seen);
            return condition is null || await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id IN ({imports}) AND {condition}") > 0;
        }
        await Poll.UntilAsync(() => WatchAsync("""
            state = 'running' AND descriptor ? 'range' AND (checkpoint->>'records')::bigint > (descriptor->'range'->>'records')::bigint
            """), TimeSpan.FromSeconds(60), () => $"a range committed mid-way; silo output:\n{db.SiloOutput}");
        var victim = await db.ScalarAsync<string>($"""
            SELECT silo FROM ingest.units WHERE import_id IN ({imports}) AND state = 'running' AND descriptor ? 'range'
               AND (checkpoint->>'records')::bigint > (descriptor->'range'->>'records')::bigint LIMIT 1
            """);
        var (killed, survivor) = silos[0].Address == victim ? (silos[0], silos[1]) : (silos[1], silos[0]);
        killed.Kill();
        await SlowTarget.SetDelayAsync(db, 0);
        foreach (var id in ids)
            await Poll.UntilAsync(async () => await WatchAsync() && (await db.StatusAsync(id)).State.IsFinal(), TimeSpan.FromMinutes(2), () => db.SiloOutput);

        foreach (var id in ids)
        {
            var status = await db.StatusAsync(id);
            Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id));
            Assert.True(status.Units.Total > 4, $"{status.Units.Total} units");
            Assert.Equal("", await db.CountersMismatchAsync(id));
        }
        Assert.Equal(new RowCounts(rows, rows, 0, 0, 0), (await db.StatusAsync(ids[0])).Rows);
        Assert.Equal(new RowCounts(jsonRows, jsonRows, 0, 0, 0), (await db.StatusAsync(ids[1])).Rows);
        Assert.Equal($"{rows + jsonRows},1,{rows + jsonRows}", await db.ScalarAsync<string>("SELECT count(DISTINCT id) || ',' || min(id) || ',' || max(id) FROM ventas"));
        Assert.Equal(expected, await db.ScalarAsync<long>($"SELECT sum(line * 7 + record)::bigint FROM ventas WHERE id <= {rows}"));
        Assert.Equal(Enumerable.Range(0, jsonRows).Sum(i => (long)i), await db.ScalarAsync<long>($"SELECT sum(record)::bigint FROM ventas WHERE id > {rows}"));
        // A range's checkpoint advanced chunk by chunk.
        Assert.Contains(offsets.GroupBy(o => o[..o.IndexOf('@')]), unit => unit.Count() >= 3);
        Assert.Contains("attempt 2/3", survivor.Output);

        foreach (var (id, file, count) in new[] { (ids[0], "big.csv", (long)rows), (ids[1], "more.ndjson", jsonRows) })
        {
            var files = (await db.Catalog.GetStatusAsync(id, files: true))!.Files.Units!;
            var only = Assert.Single(files);
            Assert.Equal((file, UnitState.Done, count), (only.Key, only.State, only.Rows.Inserted));
            Assert.True(only.Units > 4, $"{only}");
        }
    }
}
