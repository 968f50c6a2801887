using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// A message as a consumer received it: its body copied out of the client's buffer (reused once the
/// handler returns), its properties, and its delivery tag, which means something only on the channel
/// it came on (<see cref="Generation"/>), never as its identity.
/// </summary>
public sealed class ReceivedMessage
{
    /// <summary>The header quorum queues count a message's earlier deliveries in.</summary>
    public const string DeliveryCountHeader = "x-delivery-count";

    public required ulong DeliveryTag { get; init; }

    /// <summary>Which channel of the consumer it came on: a channel recovered after a loss starts its tags again.</summary>
    public required int Generation { get; init; }

    public required byte[] Body { get; init; }

    /// <summary>The <c>message_id</c> property; null when not set.</summary>
    public string? MessageId { get; init; }

    public string Exchange { get; init; } = "";

    public string RoutingKey { get; init; } = "";

    public bool Redelivered { get; init; }

    /// <summary>The <c>timestamp</c> property (seconds since 1970); null when not set.</summary>
    public long? Timestamp { get; init; }

    public IDictionary<string, object?>? Headers { get; init; }

    /// <summary>Earlier deliveries of this message that were returned (a quorum queue's <c>x-delivery-count</c>; 0 otherwise).</summary>
    public long DeliveryCount => Headers is not null && Headers.TryGetValue(DeliveryCountHeader, out var n) && n is not null ? Convert.ToInt64(n) : 0;

    public static ReceivedMessage From(BasicDeliverEventArgs delivery, int generation) =>
        From(delivery.DeliveryTag, generation, delivery.Body, delivery.Exchange, delivery.RoutingKey, delivery.Redelivered, delivery.BasicProperties);

    public static ReceivedMessage From(BasicGetResult got) =>
        From(got.DeliveryTag, 0, got.Body, got.Exchange, got.RoutingKey, got.Redelivered, got.BasicProperties);

    private static ReceivedMessage From(ulong tag, int generation, ReadOnlyMemory<byte> body, string exchange, string routingKey, bool redelivered, IReadOnlyBasicProperties properties) => new()
    {
        DeliveryTag = tag,
        Generation = generation,
        Body = body.ToArray(),
        MessageId = properties.IsMessageIdPresent() && !string.IsNullOrEmpty(properties.MessageId) ? properties.MessageId : null,
        Exchange = exchange,
        RoutingKey = routingKey,
        Redelivered = redelivered,
        Timestamp = properties.IsTimestampPresent() ? properties.Timestamp.UnixTime : null,
        Headers = properties.Headers is { } headers ? new Dictionary<string, object?>(headers) : null,
    };

    /// <summary>A header's value as text (AMQP strings arrive as bytes); null when absent.</summary>
    public string? Header(string name) => Headers is not null && Headers.TryGetValue(name, out var value) ? value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString(),
    } : null;
}
