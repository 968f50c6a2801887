using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;
using Ingest.Engine.Mapping;
using Xunit;

namespace Ingest.Tests;

public class RecordMapperTests
{
    private static readonly ColumnSpec[] Columns =
    [
        new("id", "id", ColumnType.Bigint),
        new("esrb", "esrb_rating.name", ColumnType.Text),
        new("first_genre", "genres.0.name", ColumnType.Text),
        new("released", "released", ColumnType.Date),
        new("rating", "rating", ColumnType.Double),
        new("score", "score", ColumnType.Numeric),
        new("adult", "adult", ColumnType.Boolean),
        new("at", "updated", ColumnType.Timestamptz),
        new("small", "small", ColumnType.Int),
        new("raw", "$", ColumnType.Jsonb),
    ];

    private static (bool Ok, object?[] Row, RecordReject? Reject) Map(string json, ColumnSpec[]? columns = null)
    {
        var mapper = new RecordMapper(columns ?? Columns, ["id"]);
        var row = mapper.CreateRow();
        var ok = mapper.TryMap(Encoding.UTF8.GetBytes(json), row, out var reject);
        return (ok, Enumerable.Range(0, row.Width).Select(i => row[i]).ToArray(), reject);
    }

    [Fact]
    public void Follows_dotted_paths_array_indexes_and_the_whole_record()
    {
        const string json = """{"id": 7, "esrb_rating": {"name": "Teen"}, "genres": [{"name": "RPG"}], "released": "2013-09-17", "rating": 4.47, "score": "12.50", "adult": false, "updated": "2024-01-02T03:04:05Z", "small": 3}""";

        var (ok, row, _) = Map(json);

        Assert.True(ok);
        Assert.Equal(7L, row[0]);
        Assert.Equal("Teen", row[1]);
        Assert.Equal("RPG", row[2]);
        Assert.Equal(new DateOnly(2013, 9, 17), row[3]);
        Assert.Equal(4.47, row[4]);
        Assert.Equal(12.50m, row[5]);
        Assert.Equal(false, row[6]);
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc), row[7]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)row[7]!).Kind);
        Assert.Equal(3, row[8]);
        Assert.Equal(7, JsonDocument.Parse((string)row[9]!).RootElement.GetProperty("id").GetInt32());
    }

    [Fact]
    public void Reads_escapes_in_names_and_values_and_keeps_other_json_as_written()
    {
        const string json = """{"id": 1, "na\u006de": "caf\u00e9 \"x\"", "count": 1.50, "obj": {"a": [1, 2]}, "flag": true}""";
        ColumnSpec[] columns =
        [
            new("id", "id", ColumnType.Bigint), new("name", "name", ColumnType.Text), new("count", "count", ColumnType.Text),
            new("obj", "obj", ColumnType.Text), new("obj_json", "obj", ColumnType.Jsonb), new("second", "obj.a.1", ColumnType.Int),
            new("flag", "flag", ColumnType.Text), new("raw", "$", ColumnType.Jsonb),
        ];

        var (ok, row, _) = Map(json, columns);

        Assert.True(ok);
        Assert.Equal("café \"x\"", row[1]);
        Assert.Equal("1.50", row[2]);
        Assert.Equal("""{"a": [1, 2]}""", row[3]);
        Assert.Equal("""{"a": [1, 2]}""", row[4]);
        Assert.Equal(2, row[5]);
        Assert.Equal("true", row[6]);
        Assert.Equal(json, row[7]);
    }

    [Fact]
    public void A_field_given_twice_takes_the_last_value_and_its_verdict()
    {
        var (ok, row, _) = Map("""{"id": 1, "rating": "bad", "esrb_rating": {"name": "Teen"}, "rating": 2.5, "esrb_rating": {"name": "Mature"}}""");

        Assert.True(ok);
        Assert.Equal(2.5, row[4]);
        Assert.Equal("Mature", row[1]);

        var (okLast, _, reject) = Map("""{"id": 1, "rating": 2.5, "rating": "bad"}""");
        Assert.False(okLast);
        Assert.Equal("rating", reject!.Column);
    }

    [Fact]
    public void Reuses_one_row_without_leaking_values_between_records()
    {
        var mapper = new RecordMapper(Columns, ["id"]);
        var row = mapper.CreateRow();

        Assert.True(mapper.TryMap("""{"id": 1, "esrb_rating": {"name": "Teen"}, "released": "2013-09-17"}"""u8, row, out _));
        Assert.True(mapper.TryMap("""{"id": 2}"""u8, row, out _));

        Assert.Equal(2L, row[0]);
        Assert.All(Enumerable.Range(1, 8), i => Assert.Null(row[i]));
        Assert.Equal("""{"id": 2}""", row[9]);
    }

    [Fact]
    public void Missing_or_null_fields_are_null()
    {
        var (ok, row, _) = Map("""{"id": 1, "esrb_rating": null, "genres": []}""");

        Assert.True(ok);
        Assert.All(row[1..9], Assert.Null);
    }

    [Theory]
    [InlineData("""{"id": "abc"}""", "id")]
    [InlineData("""{"id": 1.5}""", "id")]
    [InlineData("""{"id": 1, "released": "yesterday"}""", "released")]
    [InlineData("""{"id": 1, "small": 99999999999}""", "small")]
    [InlineData("""{"id": 1, "adult": "maybe"}""", "adult")]
    [InlineData("""{"id": 1, "rating": {"a": 1}}""", "rating")]
    [InlineData("""{"id": 1, "esrb_rating": {"name": "a\u0000b"}}""", "esrb")]
    [InlineData("""{"esrb_rating": {"name": "Teen"}}""", "id")]
    [InlineData("""{"id": null}""", "id")]
    [InlineData("""{"id": 1, "released": "2023-02-29"}""", "released")]
    [InlineData("""{"id": 1, "updated": 12}""", "at")]
    [InlineData("""{"id": 1, "score": "1e400"}""", "score")]
    [InlineData("""{"id": 1, "rating": 1e400}""", "rating")]
    public void A_value_that_does_not_convert_rejects_the_record_naming_the_column(string json, string column)
    {
        var (ok, _, reject) = Map(json);

        Assert.False(ok);
        Assert.Equal(column, reject!.Column);
        Assert.Contains(column, reject.Reason);
    }
}
