namespace Ingest.GrainInterfaces;

/// <summary>
/// A RabbitMQ queue read as a continuous import (<c>source.kind: rabbitmq</c>): consumers take
/// messages in batches, each batch committed with its message ids, then acked.
/// </summary>
/// <param name="Uri">The AMQP URI (vhost and TLS through it); <c>${VAR}</c> is resolved on the silos.</param>
/// <param name="Queue">The queue's name.</param>
/// <param name="Declare">How to declare the queue when it may not exist; null: it must exist (checked passively at planning).</param>
/// <param name="Prefetch">Unacked messages the broker sends each consumer ahead (<c>basic.qos</c>; default 2,000).</param>
/// <param name="BatchMessages">Most messages in one batch, one transaction (default 1,000).</param>
/// <param name="BatchMaxMilliseconds">A batch is committed once its first message waited this long (default 200).</param>
/// <param name="MessageId">A dotted path in each record to its id; null: the <c>message_id</c> property, else the body's hash.</param>
/// <param name="StopWhenIdleSeconds">The import completes once no message came for this long; null: it runs until paused or cancelled.</param>
/// <param name="DedupHours">How long committed message ids are remembered (default 168).</param>
/// <param name="Consumers">Consumers across the cluster; null: the import's parallelism.</param>
public sealed record RabbitMqSpec(
    string Uri,
    string Queue,
    QueueDeclareSpec? Declare = null,
    int Prefetch = RabbitMqSpec.DefaultPrefetch,
    int BatchMessages = RabbitMqSpec.DefaultBatchMessages,
    int BatchMaxMilliseconds = RabbitMqSpec.DefaultBatchMaxMilliseconds,
    string? MessageId = null,
    double? StopWhenIdleSeconds = null,
    double DedupHours = RabbitMqSpec.DefaultDedupHours,
    int? Consumers = null)
{
    /// <summary>The prefetch of a spec that names none.</summary>
    public const int DefaultPrefetch = 2000;

    /// <summary>The batch size of a spec that names none.</summary>
    public const int DefaultBatchMessages = 1000;

    /// <summary>The longest wait to fill a batch, of a spec that names none.</summary>
    public const int DefaultBatchMaxMilliseconds = 200;

    /// <summary>How long ids are remembered, in a spec that names none: a week.</summary>
    public const double DefaultDedupHours = 168;
}

/// <summary>How an import declares its queue.</summary>
/// <param name="Durable">Whether the queue survives a broker restart (default true).</param>
/// <param name="Type"><c>quorum</c> (default) or <c>classic</c>.</param>
/// <param name="DeadLetterExchange">Where messages past the delivery limit go (<c>x-dead-letter-exchange</c>).</param>
/// <param name="DeliveryLimit">Deliveries of one message before it is dead-lettered (<c>x-delivery-limit</c>, quorum queues).</param>
public sealed record QueueDeclareSpec(bool Durable = true, string Type = "quorum", string? DeadLetterExchange = null, int? DeliveryLimit = null);
