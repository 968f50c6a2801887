namespace Ingest.GrainInterfaces;

/// <summary>
/// Where an import's events go (<c>notify</c>): each of its state changes, and each unit's end when
/// <paramref name="Units"/>, published from the catalog's outbox once committed.
/// </summary>
/// <param name="Kind">A RabbitMQ exchange, or a webhook.</param>
/// <param name="Uri">For RabbitMQ: the AMQP URI (<c>${VAR}</c> resolved on the silos).</param>
/// <param name="Exchange">For RabbitMQ: the exchange (declared as a durable topic exchange).</param>
/// <param name="RoutingKey">For RabbitMQ: the routing key; <c>{state}</c> is replaced by the event's state (default <c>import.{state}</c>).</param>
/// <param name="Url">For a webhook: the URL POSTed to (<c>${VAR}</c> resolved on the silos).</param>
/// <param name="Units">Whether each unit's end is an event too (default false).</param>
public sealed record NotifySpec(NotifyKind Kind, string? Uri = null, string? Exchange = null, string? RoutingKey = null, string? Url = null, bool Units = false)
{
    /// <summary>The routing key of a target that names none.</summary>
    public const string DefaultRoutingKey = "import.{state}";
}

/// <summary>Where a notification is sent.</summary>
public enum NotifyKind
{
    /// <summary>Published to a RabbitMQ exchange with publisher confirms.</summary>
    RabbitMq,

    /// <summary>POSTed to a URL, with an <c>Idempotency-Key</c> header.</summary>
    Webhook,
}
