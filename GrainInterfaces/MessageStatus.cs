namespace Ingest.GrainInterfaces;

/// <summary>A queue import's messages, as <c>status --json</c> prints them under <c>messages</c>.</summary>
/// <param name="Consumed">Messages loaded (their rows, or their rejects); with the two below, what was acked.</param>
/// <param name="Duplicate">Messages with the id of another message committed before (published twice): skipped and acked.</param>
/// <param name="Redelivered">Messages delivered again after they were committed (a crash between commit and ack): skipped and acked.</param>
/// <param name="Rejected">Consumed messages with a body that is not JSON or a record that was rejected (see <c>ingest.rejects</c>).</param>
/// <param name="DeadLettered">Messages that failed alone and were returned to the queue past its delivery limit.</param>
/// <param name="Consumers">Consumers running, by silo.</param>
/// <param name="Backlog">The queue's depth as a consumer saw it last; null before any did.</param>
/// <param name="MessagesPerSecond">Messages acked per second since the import started.</param>
public sealed record MessageStatus(long Consumed, long Duplicate, long Redelivered, long Rejected, long DeadLettered, IReadOnlyDictionary<string, int> Consumers, long? Backlog, double MessagesPerSecond);
