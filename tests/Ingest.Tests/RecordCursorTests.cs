using System.Text;
using System.Text.Json;
using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// The cursor of an incremental import read by cursor, without a database: the greatest value at a
/// path among records (<see cref="RecordCursor"/>), and the bound the next import reads from (<see cref="CursorSince"/>).
/// </summary>
public class RecordCursorTests
{
    private static string? Greatest(string path, params string[] records) => Greatest([path], records);

    private static string? Greatest(string[] paths, params string[] records)
    {
        var cursor = new RecordCursor(paths);
        foreach (var record in records) cursor.Observe(Encoding.UTF8.GetBytes(record));
        return cursor.Greatest?.GetRawText();
    }

    [Fact]
    public void Numbers_compare_by_value_and_keep_how_they_were_written()
    {
        Assert.Equal("10", Greatest("n", """{"n": 9}""", """{"n": 10}""", """{"n": 9.5}"""));
        Assert.Equal("1.5e3", Greatest("n", """{"n": 1000}""", """{"n": 1.5e3}""", """{"n": -2000}"""));
        Assert.Equal("1700000000123", Greatest("n", """{"n": 1700000000122}""", """{"n": 1700000000123}"""));
        // Past a decimal's range: by double.
        Assert.Equal("1e40", Greatest("n", """{"n": 1e39}""", """{"n": 1e40}"""));
    }

    [Fact]
    public void Strings_compare_ordinally_and_any_number_is_above_any_string()
    {
        Assert.Equal("\"2024-05-01T10:00:00Z\"", Greatest("updated_at",
            """{"updated_at": "2024-05-01T09:59:59Z"}""", """{"updated_at": "2024-05-01T10:00:00Z"}""", """{"updated_at": "2024-04-30T23:00:00Z"}"""));
        Assert.Equal("\"b\"", Greatest("s", """{"s": "B"}""", """{"s": "b"}""", """{"s": "a"}"""));
        Assert.Equal("\"caf\\u00E9\"", Greatest("s", """{"s": "caf\u00e9"}""", """{"s": "cafe"}"""));
        Assert.Equal("3", Greatest("v", """{"v": "zzz"}""", """{"v": 3}"""));
    }

    [Fact]
    public void A_missing_null_or_structured_value_is_left_out_and_paths_go_into_objects_and_arrays()
    {
        Assert.Null(Greatest("updated_at", """{"id": 1}""", """{"updated_at": null}""", """{"updated_at": {"at": 5}}""", """{"updated_at": [5]}""", """{"updated_at": true}""", "[1, 2]", "not json"));
        Assert.Equal("7", Greatest("meta.version", """{"meta": {"other": {"version": 99}, "version": 7}}""", """{"meta": 3}""", """{"version": 50}"""));
        Assert.Equal("\"x\"", Greatest("tags.1", """{"tags": ["a", "x"]}""", """{"tags": ["z"]}"""));
        // The first occurrence of a repeated property, as a path reads it elsewhere.
        Assert.Equal("1", Greatest("n", """{"n": 1, "n": 2}"""));
    }

    [Fact]
    public void Several_paths_make_a_pair_compared_value_by_value()
    {
        Assert.Equal("[\"2024-05-01\",12]", Greatest(["day", "id"],
            """{"day": "2024-05-01", "id": 3}""", """{"day": "2024-05-01", "id": 12}""", """{"day": "2024-04-30", "id": 99}""", """{"day": "2024-06-01"}"""));
        var a = JsonDocument.Parse("[\"2024-05-01\", 12]").RootElement;
        var b = JsonDocument.Parse("[\"2024-05-01\", 9]").RootElement;
        Assert.Equal("[\"2024-05-01\", 12]", RecordCursor.Max(b, a)!.Value.GetRawText());
        Assert.Equal("5", RecordCursor.Max(JsonDocument.Parse("5").RootElement, null)!.Value.GetRawText());
        Assert.Null(RecordCursor.Max(null, null));
    }

    private static readonly CursorSpec Lagged = new("updated_at", "updated_since", "2020-01-01", 60);

    // The bound as JSON, a string unescaped ("+" is written escaped).
    private static string Since(CursorSpec spec, string? committed, bool full = false)
    {
        var since = CursorSince.From(spec, committed is null ? null : JsonDocument.Parse(committed).RootElement, full, "changes");
        return since.ValueKind == JsonValueKind.String ? $"\"{since.GetString()}\"" : since.GetRawText();
    }

    [Fact]
    public void The_next_bound_is_the_committed_cursor_less_the_lag_in_its_own_shape()
    {
        Assert.Equal("\"2024-05-01T09:59:00Z\"", Since(Lagged, "\"2024-05-01T10:00:00Z\""));
        Assert.Equal("\"2024-05-01T09:59:00+02:00\"", Since(Lagged, "\"2024-05-01T10:00:00+02:00\""));
        Assert.Equal("\"2024-05-01 09:59:30.123456789-0530\"", Since(Lagged, "\"2024-05-01 10:00:30.123456789-0530\""));
        Assert.Equal("\"2024-04-30T23:59\"", Since(Lagged, "\"2024-05-01\""));
        Assert.Equal("\"2024-05-01T09:59Z\"", Since(Lagged, "\"2024-05-01T10:00Z\""));
        Assert.Equal("\"2024-05-01T09:59:59.5Z\"", Since(Lagged with { LagSeconds = 0.5 }, "\"2024-05-01T10:00:00Z\""));
        Assert.Equal("\"2024-05-01T09:59:59.750Z\"", Since(Lagged with { LagSeconds = 0.25 }, "\"2024-05-01T10:00:00.000Z\""));
        // A number (epoch seconds) loses the lag as a number.
        Assert.Equal("1700000000", Since(Lagged, "1700000060"));
        Assert.Equal("1699999999.5", Since(Lagged with { LagSeconds = 60.5 }, "1700000060"));
        // No lag: the cursor as committed, whatever it is.
        Assert.Equal("\"v-17\"", Since(Lagged with { LagSeconds = 0 }, "\"v-17\""));
    }

    [Fact]
    public void Without_a_committed_cursor_or_with_full_the_bound_is_the_initial_value_or_none()
    {
        Assert.Equal("\"2020-01-01\"", Since(Lagged, null));
        Assert.Equal("\"2020-01-01\"", Since(Lagged, "null"));
        Assert.Equal("\"2020-01-01\"", Since(Lagged, "\"2024-05-01T10:00:00Z\"", full: true));
        Assert.Equal("null", Since(Lagged with { Initial = null }, null));
        Assert.Null(CursorSince.Text(JsonDocument.Parse("null").RootElement));
        Assert.Equal("1700000000", CursorSince.Text(JsonDocument.Parse("1700000000").RootElement));
        Assert.Equal("2024-05-01T09:59:00Z", CursorSince.Text(JsonDocument.Parse("\"2024-05-01T09:59:00Z\"").RootElement));
    }

    [Fact]
    public void A_lag_cannot_be_taken_off_a_string_that_is_not_a_time()
    {
        var e = Assert.Throws<SourceDataException>(() => Since(Lagged, "\"v-17\""));
        Assert.Equal(ErrorKind.Import, e.Kind);
        Assert.Contains("set lagSeconds to 0, or clear it with ingest reset changes", e.Message);
    }

    [Fact]
    public void A_sql_row_s_pair_is_written_canonically_compared_cursor_first_then_tie_break_by_value_and_bounds_the_relation()
    {
        var spec = new CursorSpec("updated_at", null, null, 30, "id");
        var window = Ingest.Engine.Sources.Sql.SqlWindow.Of(new Ingest.Engine.Sources.Sql.SqlIncrement(spec, null),
            Ingest.Engine.Sources.Sql.KeyKind.TimestampTz, Ingest.Engine.Sources.Sql.KeyKind.Integer);
        string Pair(DateTime at, long id)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer)) window.Pair(writer, at, id);
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        var t = new DateTime(2024, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal("""["2024-06-01 00:00:00.000000",9]""", Pair(t, 9));
        var cursor = RecordCursor.For(spec)!;
        // Ties by the tie-break's value (10 above 9, which text would not say); a later time above any tie-break.
        foreach (var pair in new[] { Pair(t, 9), Pair(t, 10), Pair(t.AddTicks(-10), 5000) }) cursor.Observe(Encoding.UTF8.GetBytes(pair));
        Assert.Equal("""["2024-06-01 00:00:00.000000",10]""", cursor.Greatest?.GetRawText());
        cursor.Observe(Encoding.UTF8.GetBytes(Pair(t.AddTicks(10), 1)));
        Assert.Equal("""["2024-06-01 00:00:00.000001",1]""", cursor.Greatest?.GetRawText());
        // A row's own JSON (the mapper's) is not a pair: left out.
        cursor.Observe("""{"updated_at": "2099-01-01T00:00:00Z", "id": 1}"""u8);
        Assert.Equal("""["2024-06-01 00:00:00.000001",1]""", cursor.Greatest?.GetRawText());

        // The window above the committed pair and below the clock, as literals; NULLs never read.
        var since = Ingest.Engine.Sources.Sql.SqlWindow.Since(JsonDocument.Parse("""["2024-06-01 00:00:00.000000", 10]""").RootElement, "2024-06-02 12:00:00.000000");
        var narrowed = Ingest.Engine.Sources.Sql.SqlWindow.Of(new Ingest.Engine.Sources.Sql.SqlIncrement(spec, since),
            Ingest.Engine.Sources.Sql.KeyKind.TimestampTz, Ingest.Engine.Sources.Sql.KeyKind.Integer);
        var sql = new Ingest.Engine.Sources.Sql.SourceSql(new SqlSourceSpec(SqlEngine.Postgres, "${DB}", "orders", null), narrowed);
        Assert.Equal("""(SELECT * FROM "orders" AS q WHERE q."updated_at" IS NOT NULL AND q."id" IS NOT NULL AND (q."updated_at" > TIMESTAMPTZ '2024-06-01 00:00:00.000000+00' """ +
                     """OR (q."updated_at" = TIMESTAMPTZ '2024-06-01 00:00:00.000000+00' AND q."id" > 10)) AND q."updated_at" < TIMESTAMPTZ '2024-06-02 12:00:00.000000+00') AS q""", sql.Relation);
        // A bound that is not a pair (written by something else) is refused, never written into SQL.
        var broken = Ingest.Engine.Sources.Sql.SqlWindow.Since(JsonDocument.Parse("""["2024-06-01'; DROP TABLE x; --", 1]""").RootElement, null);
        Assert.Throws<SourceDataException>(() => Ingest.Engine.Sources.Sql.SqlWindow.Of(new Ingest.Engine.Sources.Sql.SqlIncrement(spec, broken),
            Ingest.Engine.Sources.Sql.KeyKind.TimestampTz, Ingest.Engine.Sources.Sql.KeyKind.Integer));
    }
}
