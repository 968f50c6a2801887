using Ingest.GrainInterfaces;
using Xunit;

namespace Ingest.Tests;

/// <summary>The queue source, message metas, versionColumn and notify as the spec parser reads them.</summary>
public class RabbitMqSpecTests
{
    // The spec, with the collectors' results as columns.
    private const string Documented = """
        {
          "name": "recoleccion",
          "source": {
            "kind": "rabbitmq",
            "uri": "${AMQP_URI}",
            "queue": "recoleccion_resultados",
            "declare": { "durable": true, "type": "quorum", "deadLetterExchange": "ingest.dlx", "deliveryLimit": 5 },
            "prefetch": 2000, "batch": { "messages": 1000, "maxMilliseconds": 200 },
            "messageId": "task_id",
            "stopWhenIdleSeconds": null
          },
          "target": {
            "table": "results", "key": ["task_id"], "versionColumn": "scraped_at",
            "columns": {
              "task_id": { "path": "task_id", "type": "bigint" },
              "price": { "path": "price", "type": "numeric" },
              "scraped_at": { "path": "ts", "type": "timestamptz" },
              "message_id": { "meta": "message_id" },
              "routing_key": { "meta": "routing_key" },
              "exchange": { "meta": "exchange" },
              "published": { "meta": "timestamp" },
              "redelivered": { "meta": "redelivered" },
              "collector": { "meta": "header:x-collector" }
            }
          },
          "parallelism": 3,
          "notify": [
            { "kind": "rabbitmq", "uri": "${AMQP_URI}", "exchange": "ingest.events", "routingKey": "import.{state}", "units": false },
            { "kind": "webhook", "url": "${HOOK_URL}" }
          ]
        }
        """;

    [Fact]
    public void Parses_the_documented_queue_spec_with_its_metas_versionColumn_and_notify()
    {
        var spec = ImportSpecParser.ParseJson(Documented);

        Assert.Equal(SourceKind.RabbitMq, spec.Source.Kind);
        Assert.True(spec.Source.IsContinuous);
        Assert.Equal(new RabbitMqSpec("${AMQP_URI}", "recoleccion_resultados", new QueueDeclareSpec(true, "quorum", "ingest.dlx", 5), 2000, 1000, 200, "task_id", null, 168, 3),
            spec.Source.RabbitMq);
        Assert.Equal("scraped_at", spec.Target.VersionColumn);
        Assert.Equal([UnitMeta.MessageId, UnitMeta.RoutingKey, UnitMeta.Exchange, UnitMeta.Timestamp, UnitMeta.Redelivered, UnitMeta.Header],
            spec.Target.Columns.Skip(3).Select(c => c.Meta!.Value));
        Assert.Equal("x-collector", spec.Target.Columns[^1].Path);
        Assert.Equal(ColumnType.Timestamptz, spec.Target.Columns.Single(c => c.Name == "published").Type);
        Assert.Equal([new NotifySpec(NotifyKind.RabbitMq, "${AMQP_URI}", "ingest.events", "import.{state}"), new NotifySpec(NotifyKind.Webhook, Url: "${HOOK_URL}")], spec.Notify!);
        // Stored and read back as the silos read it.
        var stored = ImportSpecJson.Deserialize(ImportSpecJson.Serialize(spec));
        Assert.Equal(spec.Source.RabbitMq, stored.Source.RabbitMq);
        Assert.Equal(spec.Notify, stored.Notify!);
    }

    [Fact]
    public void Every_queue_and_notify_mistake_is_named()
    {
        const string bad = """
            {
              "name": "bad",
              "source": {
                "kind": "rabbitmq", "uri": "amqp://broker", "queue": "q", "prefetch": 10, "batch": { "messages": 50, "maxMilliseconds": 0, "size": 1 },
                "declare": { "type": "stream", "deliveryLimit": 0 }, "stopWhenIdleSeconds": 0, "consumers": 5, "pattern": "*.json"
              },
              "target": {
                "table": "t", "versionColumn": "v",
                "columns": { "id": { "path": "id", "type": "bigint" }, "m": { "meta": "message_id" } }
              },
              "parallelism": 2,
              "notify": [ { "kind": "rabbitmq", "exchange": "e" }, { "kind": "sms" } ]
            }
            """;
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(bad));

        Assert.Contains("source.batch.messages: 50 is more than source.prefetch (10); a batch could never fill", e.Problems);
        Assert.Contains("source.batch.maxMilliseconds: must be at least 1", e.Problems);
        Assert.Contains(e.Problems, p => p.StartsWith("source.batch.size: unknown field"));
        Assert.Contains("source.declare.type: 'stream' is not 'quorum' or 'classic'", e.Problems);
        Assert.Contains("source.declare.deliveryLimit: must be at least 1", e.Problems);
        Assert.Contains("source.stopWhenIdleSeconds: must be more than 0 (null: never stops by itself)", e.Problems);
        Assert.Contains("source.consumers: 5 is more than parallelism (2), which caps the import's consumers", e.Problems);
        Assert.Contains(e.Problems, p => p.StartsWith("source.pattern: unknown field"));
        Assert.Contains("target.versionColumn: 'v' is not one of target.columns", e.Problems);
        Assert.Contains("target.versionColumn: needs a key, whose rows it orders", e.Problems);
        Assert.Contains("notify[0].uri: required", e.Problems);
        Assert.Contains("notify[1].kind: unknown 'sms' (expected 'rabbitmq' or 'webhook')", e.Problems);
    }

    [Fact]
    public void A_queue_needs_its_uri_and_name()
    {
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(
            """{ "name": "q", "source": { "kind": "rabbitmq" }, "target": { "table": "t", "columns": { "id": { "path": "id", "type": "bigint" } } } }"""));

        Assert.Contains("source.uri: required", e.Problems);
        Assert.Contains("source.queue: required", e.Problems);
    }

    [Fact]
    public void Message_metas_are_only_for_queues()
    {
        const string files = """
            {
              "name": "files", "source": { "kind": "files", "path": "/data" },
              "target": { "table": "t", "columns": { "id": { "path": "id", "type": "bigint" }, "k": { "meta": "routing_key" }, "h": { "meta": "header:x" } } }
            }
            """;
        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(files));

        Assert.Contains("target.columns.k.meta: only messages have it (source.kind rabbitmq)", e.Problems);
        Assert.Contains("target.columns.h.meta: only messages have it (source.kind rabbitmq)", e.Problems);
    }
}
