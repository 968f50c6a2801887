using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// Messages a consumer took off its queue to commit in one transaction, each with its body's records
/// and its id, in delivery order. Acked after the commit with one <c>multiple</c> ack of the last tag.
/// </summary>
public sealed class MessageBatch
{
    /// <summary>One message of the batch: its records, its id, and what tells its publish from another of the id.</summary>
    public sealed record Entry(ReceivedMessage Message, MessageBody Body, string Id, string Delivery);

    public MessageBatch(IReadOnlyList<ReceivedMessage> messages, RabbitMqSpec spec, string? recordsPath)
    {
        var records = recordsPath?.Split('.');
        var idPath = spec.MessageId?.Split('.');
        Entries = [.. messages.Select(m =>
        {
            var body = MessageBody.Parse(m.Body, records);
            return new Entry(m, body, MessageIdentity.Of(m, body, idPath), MessageIdentity.Delivery(m));
        })];
    }

    private MessageBatch(IReadOnlyList<Entry> entries) => Entries = entries;

    public IReadOnlyList<Entry> Entries { get; }

    public int Count => Entries.Count;

    /// <summary>The last message's delivery tag: acking it with <c>multiple</c> acks the whole batch.</summary>
    public ulong LastTag => Entries[^1].Message.DeliveryTag;

    /// <summary>The channel the batch came on.</summary>
    public int Generation => Entries[^1].Message.Generation;

    /// <summary>
    /// Splits the batch by what the ledger holds for its ids (<paramref name="ledger"/>: the delivery
    /// that committed each, and whether that is this batch): the messages to load (each new id's
    /// first one), and the others, skipped.
    /// </summary>
    public (MessageBatch Load, IReadOnlyList<Entry> Skipped) Split(IReadOnlyDictionary<string, (string Delivery, bool New)> ledger)
    {
        var load = new List<Entry>();
        var skipped = new List<Entry>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in Entries)
        {
            if (ledger[e.Id].New && taken.Add(e.Id)) load.Add(e);
            else skipped.Add(e);
        }
        return (new MessageBatch(load), skipped);
    }

    /// <summary>
    /// Counts skipped messages: a redelivery (flagged by the broker, of the delivery that committed
    /// its id or of one an earlier batch skipped, <paramref name="skippedBefore"/>) or a duplicate
    /// (another publish of the id).
    /// </summary>
    public static (long Duplicate, long Redelivered) CountSkipped(IReadOnlyList<Entry> skipped,
        IReadOnlyDictionary<string, (string Delivery, bool New)> ledger, IReadOnlySet<string> skippedBefore)
    {
        long duplicate = 0, redelivered = 0;
        foreach (var e in skipped)
        {
            if (e.Message.Redelivered && (e.Delivery == ledger[e.Id].Delivery || skippedBefore.Contains(e.Delivery))) redelivered++;
            else duplicate++;
        }
        return (duplicate, redelivered);
    }

    /// <summary>A batch of one of its messages, for loading them one by one.</summary>
    public MessageBatch One(int index) => new([Entries[index]]);

    /// <summary>Messages with a body that is not JSON.</summary>
    public int Unreadable => Entries.Count(e => e.Body.Problem is not null);

    /// <summary>The batch's records, as a unit's reading the loader takes.</summary>
    public UnitReading Open(UnitDescriptor unit, string queue)
    {
        var bytes = Entries.Sum(e => (long)e.Message.Body.Length);
        var info = new SourceObject(queue, bytes);
        return new UnitReading(unit, new OpenedObject(Stream.Null, info), Stream.Null, ContentCompression.None, new MessageRecordReader(Entries), UnitCheckpoint.Start);
    }
}
