using System.Text.Json;
using Ingest.Contracts;
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

    private static (bool Ok, object?[] Row, RecordReject? Reject) Map(string json)
    {
        var mapper = new RecordMapper(Columns, ["id"]);
        var row = new object?[mapper.Width];
        var ok = mapper.TryMap(JsonDocument.Parse(json).RootElement, row, out var reject);
        return (ok, row, reject);
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
    public void A_value_that_does_not_convert_rejects_the_record_naming_the_column(string json, string column)
    {
        var (ok, _, reject) = Map(json);

        Assert.False(ok);
        Assert.Equal(column, reject!.Column);
        Assert.Contains(column, reject.Reason);
    }
}
