using System.Text;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.Engine.Sources;
using Ingest.Engine.Sources.RabbitMq;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>Message bodies, ids and metas as a consumer's batch gives them to the loader, without a broker.</summary>
public class RabbitMqMessageTests
{
    private static ReceivedMessage Message(string body, ulong tag = 1, string? id = null, bool redelivered = false, Dictionary<string, object?>? headers = null) => new()
    {
        DeliveryTag = tag, Generation = 0, Body = Encoding.UTF8.GetBytes(body), MessageId = id, Exchange = "scrapers", RoutingKey = "results.es",
        Redelivered = redelivered, Timestamp = 1_767_225_600, Headers = headers,
    };

    private static string[] Records(string body, string? path = null) =>
        [.. MessageBody.Parse(Encoding.UTF8.GetBytes(body), path?.Split('.')).Records.Select(r => Encoding.UTF8.GetString(r.Span))];

    [Fact]
    public void A_body_is_one_object_an_array_NDJSON_or_the_array_at_records_and_anything_else_is_a_problem()
    {
        Assert.Equal(["""{"a": 1}"""], Records("""{"a": 1}"""));
        Assert.Equal(["""{"a": 1}""", """{"a": 2}"""], Records("""[{"a": 1}, {"a": 2}]"""));
        Assert.Equal(["""{"a": 1}""", """{"a": 2}"""], Records("{\"a\": 1}\n{\"a\": 2}\n"));
        Assert.Equal(["""{"a":1}""", """{"a":2}"""], Records("""{"data": {"items": [{"a": 1}, {"a": 2}]}}""", "data.items"));
        Assert.StartsWith("the body is not JSON", MessageBody.Parse(Encoding.UTF8.GetBytes("<html>503</html>"), null).Problem);
        Assert.Equal("the body is empty", MessageBody.Parse([], null).Problem);
        Assert.Equal("the body has no array at 'data.items' (source.records)", MessageBody.Parse(Encoding.UTF8.GetBytes("""{"data": 1}"""), ["data", "items"]).Problem);
    }

    [Fact]
    public void A_message_id_is_the_records_path_else_the_property_else_the_bodys_hash()
    {
        var one = Message("""{"task_id": 42}""", id: "p1");
        var two = Message("""[{"task_id": 42}, {"task_id": 43}]""", id: "p2");
        var bare = Message("""[{"task_id": 42}, {"task_id": 43}]""");
        string Id(ReceivedMessage m) => MessageIdentity.Of(m, MessageBody.Parse(m.Body, null), ["task_id"]);

        Assert.Equal("42", Id(one));
        Assert.Equal("p2", Id(two));
        Assert.StartsWith("sha256:", Id(bare));
        Assert.Equal(Id(bare), Id(Message("""[{"task_id": 42}, {"task_id": 43}]""", tag: 9, redelivered: true)));
        // A redelivery is the same delivery; another publish of the same id is not.
        Assert.Equal(MessageIdentity.Delivery(one), MessageIdentity.Delivery(Message("""{"task_id": 42}""", tag: 7, id: "p1", redelivered: true)));
        Assert.NotEqual(MessageIdentity.Delivery(one), MessageIdentity.Delivery(Message("""{"task_id": 42}""", id: "p3")));
    }

    [Fact]
    public async Task A_batch_loads_its_records_with_the_message_metas_and_rejects_a_body_that_is_not_JSON_whole()
    {
        const string spec = """
            {
              "name": "metas",
              "source": { "kind": "rabbitmq", "uri": "amqp://unused", "queue": "results", "messageId": "task_id" },
              "target": { "table": "results", "create": true, "columns": {
                "task_id": { "path": "task_id", "type": "bigint" },
                "message_id": { "meta": "message_id" },
                "routing_key": { "meta": "routing_key" },
                "exchange": { "meta": "exchange" },
                "published": { "meta": "timestamp" },
                "redelivered": { "meta": "redelivered" },
                "collector": { "meta": "header:x-collector" },
                "attempt": { "meta": "header:x-attempt", "type": "int" } } }
            }
            """;
        var parsed = ImportSpecParser.ParseJson(spec);
        var headers = new Dictionary<string, object?> { ["x-collector"] = Encoding.UTF8.GetBytes("bot-7"), ["x-attempt"] = 3 };
        var batch = new MessageBatch(
            [Message("""{"task_id": 1}""", 1, "p1", headers: headers), Message("""[{"task_id": 2}, {"task_id": 3}]""", 2, "p2", redelivered: true), Message("oops", 3, "p3")],
            parsed.Source.RabbitMq!, null);
        await using var db = await TestDatabase.CreateAsync();
        var loader = UnitLoader.For(parsed, TestSources.Registry);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await new TargetTable(parsed.Target).EnsureAsync(connection);

        await using var reading = batch.Open(new UnitDescriptor("results consumer 1"), "results");
        var result = await loader.LoadAsync(connection, 1, reading, long.MaxValue);

        Assert.Equal(4, result.RowsRead);
        Assert.Equal(new LoadCounts(3, 0, 0), result.Counts);
        var reject = Assert.Single(result.Rejects);
        Assert.Equal("oops", reject.Raw);
        Assert.Equal(3, reject.RecordIndex);
        Assert.Equal(batch.Entries.Sum(e => e.Message.Body.Length), result.BytesRead);
        Assert.Equal("1|1|results.es|scrapers|2026-01-01 00:00:00+00|f|bot-7|3;2|p2|results.es|scrapers|2026-01-01 00:00:00+00|t||;3|p2|results.es|scrapers|2026-01-01 00:00:00+00|t||",
            await db.ScalarAsync<string>("""
                SET TIME ZONE 'UTC';
                SELECT string_agg(concat_ws('|', task_id, message_id, routing_key, exchange, published, redelivered, coalesce(collector, ''), coalesce(attempt::text, '')), ';' ORDER BY task_id) FROM results
                """));
    }
}
