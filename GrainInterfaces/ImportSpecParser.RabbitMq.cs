using System.Text.Json.Nodes;

namespace Ingest.GrainInterfaces;

// source.kind rabbitmq, notify, and what only messages have.
public static partial class ImportSpecParser
{
    private static RabbitMqSpec? ReadRabbitMq(JsonObject s, List<string> p)
    {
        var uri = RequiredString(s, "uri", "source.uri", p);
        var queue = RequiredString(s, "queue", "source.queue", p);
        var declare = ReadDeclare(s["declare"], p);
        var prefetch = OptionalInt(s, "prefetch", "source.prefetch", RabbitMqSpec.DefaultPrefetch, p);
        if (prefetch is < 1 or > ushort.MaxValue) p.Add($"source.prefetch: from 1 to {ushort.MaxValue}");
        int messages = RabbitMqSpec.DefaultBatchMessages, wait = RabbitMqSpec.DefaultBatchMaxMilliseconds;
        if (s["batch"] is { } b)
        {
            if (b is JsonObject bo)
            {
                messages = OptionalInt(bo, "messages", "source.batch.messages", messages, p);
                wait = OptionalInt(bo, "maxMilliseconds", "source.batch.maxMilliseconds", wait, p);
                if (messages < 1) p.Add("source.batch.messages: must be at least 1");
                if (wait < 1) p.Add("source.batch.maxMilliseconds: must be at least 1");
                Unknown(bo, "source.batch", p, "messages", "maxMilliseconds");
            }
            else p.Add("source.batch: must be an object with messages and maxMilliseconds");
        }
        if (messages > prefetch) p.Add($"source.batch.messages: {messages} is more than source.prefetch ({prefetch}); a batch could never fill");
        var messageId = OptionalString(s, "messageId", "source.messageId", p);
        if (messageId is not null && !IsDottedPath(messageId)) p.Add($"source.messageId: '{messageId}' is not a dotted path into a record like 'task_id'");
        double? idle = s["stopWhenIdleSeconds"] is null ? null : OptionalDouble(s, "stopWhenIdleSeconds", "source.stopWhenIdleSeconds", 0, p);
        if (idle is <= 0) p.Add("source.stopWhenIdleSeconds: must be more than 0 (null: never stops by itself)");
        var dedupHours = OptionalDouble(s, "dedupHours", "source.dedupHours", RabbitMqSpec.DefaultDedupHours, p);
        if (dedupHours <= 0) p.Add("source.dedupHours: must be more than 0");
        int? consumers = s["consumers"] is null ? null : OptionalInt(s, "consumers", "source.consumers", 1, p);
        if (consumers is < 1) p.Add("source.consumers: must be at least 1");
        Unknown(s, "source", p, "kind", "uri", "queue", "declare", "prefetch", "batch", "messageId", "stopWhenIdleSeconds", "dedupHours", "consumers", "records", "format");
        return uri is null || queue is null ? null : new RabbitMqSpec(uri, queue, declare, prefetch, messages, wait, messageId, idle, dedupHours, consumers);
    }

    private static QueueDeclareSpec? ReadDeclare(JsonNode? node, List<string> p)
    {
        const string where = "source.declare";
        if (node is null) return null;
        if (node is not JsonObject d) { p.Add($"{where}: must be an object (durable, type, deadLetterExchange, deliveryLimit)"); return null; }
        var durable = OptionalBool(d, "durable", where + ".durable", true, p);
        var type = OptionalString(d, "type", where + ".type", p) ?? "quorum";
        if (type is not ("quorum" or "classic")) p.Add($"{where}.type: '{type}' is not 'quorum' or 'classic'");
        var dlx = OptionalString(d, "deadLetterExchange", where + ".deadLetterExchange", p);
        int? limit = d["deliveryLimit"] is null ? null : OptionalInt(d, "deliveryLimit", where + ".deliveryLimit", 1, p);
        if (limit is < 1) p.Add($"{where}.deliveryLimit: must be at least 1");
        if (limit is not null && type != "quorum") p.Add($"{where}.deliveryLimit: only quorum queues count deliveries");
        if (type == "quorum" && !durable) p.Add($"{where}.durable: quorum queues are always durable");
        Unknown(d, where, p, "durable", "type", "deadLetterExchange", "deliveryLimit");
        return new QueueDeclareSpec(durable, type, dlx, limit);
    }

    private static List<NotifySpec>? ReadNotify(JsonNode? node, List<string> p)
    {
        if (node is null) return null;
        if (node is not JsonArray list) { p.Add("notify: must be a list of {kind: rabbitmq | webhook, …}"); return null; }
        var notify = new List<NotifySpec>();
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"notify[{i}]";
            if (list[i] is not JsonObject n) { p.Add($"{at}: must be an object with kind 'rabbitmq' or 'webhook'"); continue; }
            var kind = RequiredString(n, "kind", at + ".kind", p);
            var units = OptionalBool(n, "units", at + ".units", false, p);
            switch (kind)
            {
                case "rabbitmq":
                    var uri = RequiredString(n, "uri", at + ".uri", p);
                    var exchange = RequiredString(n, "exchange", at + ".exchange", p);
                    var routingKey = OptionalString(n, "routingKey", at + ".routingKey", p) ?? NotifySpec.DefaultRoutingKey;
                    Unknown(n, at, p, "kind", "uri", "exchange", "routingKey", "units");
                    if (uri is not null && exchange is not null) notify.Add(new NotifySpec(NotifyKind.RabbitMq, uri, exchange, routingKey, Units: units));
                    break;
                case "webhook":
                    var url = RequiredString(n, "url", at + ".url", p);
                    Unknown(n, at, p, "kind", "url", "units");
                    if (url is not null) notify.Add(new NotifySpec(NotifyKind.Webhook, Url: url, Units: units));
                    break;
                case null:
                    break;
                default:
                    p.Add($"{at}.kind: unknown '{kind}' (expected 'rabbitmq' or 'webhook')");
                    break;
            }
        }
        return notify;
    }

    // Message metadata exists only for messages.
    private static void CheckMessageColumns(SourceSpec source, TargetSpec target, List<string> p)
    {
        if (source.Kind == SourceKind.RabbitMq) return;
        foreach (var column in target.Columns.Where(c => c.Meta is { } m && MessageMetas.Contains(m)))
            p.Add($"target.columns.{column.Name}.meta: only messages have it (source.kind rabbitmq)");
    }
}
