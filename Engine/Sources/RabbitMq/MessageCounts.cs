namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>What a batch of messages came to; <c>consumed + duplicate + redelivered</c> is what it acked.</summary>
/// <param name="Consumed">Messages loaded (their rows, or their rejects) for the first time.</param>
/// <param name="Duplicate">Messages with the id of another message committed before (published twice): skipped.</param>
/// <param name="Redelivered">Messages delivered again after they were committed (a crash between commit and ack): skipped.</param>
/// <param name="Rejected">Consumed messages with a body that is not JSON, or a record that was rejected.</param>
/// <param name="DeadLettered">Messages returned to the queue for the last time its delivery limit allows.</param>
public readonly record struct MessageCounts(long Consumed, long Duplicate, long Redelivered, long Rejected, long DeadLettered)
{
    /// <summary>Nothing counted.</summary>
    public static MessageCounts None => default;
}
