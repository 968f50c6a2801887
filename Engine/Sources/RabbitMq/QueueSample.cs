using Ingest.GrainInterfaces;
using RabbitMQ.Client;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// Up to N messages of a queue read with <c>basic.get</c> for a dry run (<c>ingest validate</c>),
/// then all returned to the queue. A quorum queue counts each return as a delivery, which brings
/// them closer to the delivery limit.
/// </summary>
public static class QueueSample
{
    public static async Task<IReadOnlyList<ReceivedMessage>> TakeAsync(RabbitMqSpec spec, int most, CancellationToken cancellationToken = default)
    {
        await using var connection = await RabbitMqConnection.OpenAsync(spec.Uri, "ingest validate", cancellationToken);
        await QueueDeclaration.EnsureAsync(connection, spec with { Declare = null }, cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var messages = new List<ReceivedMessage>();
        try
        {
            while (messages.Count < most && await channel.BasicGetAsync(spec.Queue, autoAck: false, cancellationToken) is { } got)
                messages.Add(ReceivedMessage.From(got));
        }
        finally
        {
            if (messages.Count > 0) await channel.BasicNackAsync(messages[^1].DeliveryTag, multiple: true, requeue: true, CancellationToken.None);
        }
        return messages;
    }

    /// <summary>Up to <paramref name="most"/> messages (returned to the queue already), as a unit's reading of their records.</summary>
    public static async Task<UnitReading> OpenAsync(RabbitMqSpec spec, string? recordsPath, int most, CancellationToken cancellationToken = default)
    {
        var messages = await TakeAsync(spec, most, cancellationToken);
        return new MessageBatch(messages, spec, recordsPath).Open(new UnitDescriptor(spec.Queue), spec.Queue);
    }
}
