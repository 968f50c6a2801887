using System.Text;
using System.Text.Json;
using Ingest.Engine;
using Ingest.Engine.Json;
using Xunit;

namespace Ingest.Tests;

public class JsonRecordReaderTests
{
    private static async Task<List<string>> ReadAllAsync(string json, string? path, bool ndjson = false, int chunk = 7)
    {
        var reader = new JsonRecordReader("page.json", path, ndjson);
        var records = new List<string>();
        // A stream that returns a few bytes per read exercises records split across buffer refills.
        await foreach (var r in reader.ReadAsync(new TrickleStream(Encoding.UTF8.GetBytes(json), chunk)))
            records.Add(Encoding.UTF8.GetString(r.Span));
        return records;
    }

    [Fact]
    public async Task Reads_the_array_at_a_dotted_path_and_skips_everything_else()
    {
        const string json = """{ "count": 2, "next": {"deep": [1, {"results": [9]}]}, "data": { "results": [ {"id": 1}, {"id": 2, "x": [1,2,{"y":"}"}]} ] }, "after": true }""";

        var records = await ReadAllAsync(json, "data.results");

        Assert.Equal(["""{"id": 1}""", """{"id": 2, "x": [1,2,{"y":"}"}]}"""], records);
    }

    [Fact]
    public async Task Reads_a_top_level_array()
    {
        Assert.Equal(["1", "\"two\"", "{\"a\":3}"], await ReadAllAsync("""[1, "two", {"a":3}]""", null));
    }

    [Fact]
    public async Task Reads_ndjson_one_value_per_line()
    {
        Assert.Equal(["{\"id\":1}", "{\"id\":2}", "{\"id\":3}"], await ReadAllAsync("{\"id\":1}\n{\"id\":2}\r\n\n{\"id\":3}\n", null, ndjson: true));
    }

    [Fact]
    public async Task A_record_larger_than_the_buffer_is_read_whole()
    {
        var big = new string('x', 300_000);
        var records = await ReadAllAsync($$"""{"results": [{"a":"{{big}}"}, {"b":1}]}""", "results", chunk: 50_000);

        Assert.Equal(2, records.Count);
        Assert.Equal(big, JsonDocument.Parse(records[0]).RootElement.GetProperty("a").GetString());
    }

    [Fact]
    public async Task Malformed_json_names_the_file_byte_offset_and_line()
    {
        const string json = "{\"results\": [\n  {\"id\": 1},\n  {\"id\": 2,, }\n]}";

        var e = await Assert.ThrowsAsync<SourceDataException>(() => ReadAllAsync(json, "results"));

        Assert.Contains("page.json", e.Message);
        Assert.Contains($"byte {json.IndexOf(",,", StringComparison.Ordinal) + 1}", e.Message);
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public async Task A_missing_records_path_is_an_error_naming_the_path()
    {
        var e = await Assert.ThrowsAsync<SourceDataException>(() => ReadAllAsync("""{"data": []}""", "results"));
        Assert.Contains("results", e.Message);
    }

    [Fact]
    public async Task Truncated_file_is_an_error()
    {
        var e = await Assert.ThrowsAsync<SourceDataException>(() => ReadAllAsync("""{"results": [{"id": 1}, {"id": """, "results"));
        Assert.Contains("page.json", e.Message);
    }

    [Theory]
    [InlineData("{ \"count\": 4, \"data\": { \"results\" : [ {\"id\": 1} ,{\"id\": 2, \"x\": [1, {\"y\": \"],\"}]},\n {\"id\": 3}\t, 4 ] , \"after\": [1] }, \"z\": {} }", "data.results", false)]
    [InlineData("""[1,"two" , {"a":3},[4]]""", null, false)]
    [InlineData("[1 // one\n , /* two */ 2 /* end */ ]", null, false)]
    [InlineData("[]", null, false)]
    [InlineData("{\"id\":1}\n{\"id\":2}\r\n\n{\"id\":3}", null, true)]
    public async Task A_reader_started_at_a_records_end_reads_exactly_the_records_after_it(string json, string? path, bool ndjson)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var all = await ReadAllAsync(json, path, ndjson);
        var ends = new List<long> { 0 };
        var whole = new JsonRecordReader("page.json", path, ndjson);
        await foreach (var _ in whole.ReadAsync(new TrickleStream(bytes, 5))) ends.Add(whole.RecordEnd);

        // From the start, and from the end of each record (the last one too: nothing follows it).
        for (var k = 0; k < ends.Count; k++)
        {
            var resumed = new JsonRecordReader("page.json", path, ndjson, startOffset: ends[k]);
            var rest = new List<string>();
            await foreach (var r in resumed.ReadAsync(new TrickleStream(bytes[(int)ends[k]..], 3)))
                rest.Add(Encoding.UTF8.GetString(r.Span));
            Assert.Equal(all.Skip(k), rest);
        }
    }

    [Fact]
    public async Task A_reader_started_where_no_record_ends_says_the_file_changed()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"results": [{"id": 1}, {"id": 2}]}""");
        var reader = new JsonRecordReader("page.json", "results", ndjson: false, startOffset: 15);

        var e = await Assert.ThrowsAsync<SourceDataException>(async () => { await foreach (var _ in reader.ReadAsync(new MemoryStream(bytes[15..]))) { } });

        Assert.Contains("page.json", e.Message);
        Assert.Contains("has the file changed?", e.Message);
    }

    private sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
