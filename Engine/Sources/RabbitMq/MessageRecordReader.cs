using System.Runtime.CompilerServices;
using System.Text.Json;
using Ingest.Engine.Formats;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// Yields a batch's records, message after message, and tells the mapper which message the record
/// read last came in (<see cref="IMessageFacts"/>). A body that is not JSON is yielded whole, with
/// its problem, so that it is rejected with its raw text.
/// </summary>
internal sealed class MessageRecordReader(IReadOnlyList<MessageBatch.Entry> entries) : IRecordReader, IMessageFacts
{
    private MessageBatch.Entry? _current;

    public long RecordEnd => BytesRead;

    public long BytesRead { get; private set; }

    public string? Problem => _current?.Body.Problem;

    public ReadOnlyMemory<byte> Original => default;

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream content, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _current = entry;
            BytesRead += entry.Message.Body.Length;
            if (entry.Body.Problem is not null)
            {
                yield return entry.Message.Body;
                continue;
            }
            foreach (var record in entry.Body.Records) yield return record;
        }
        await Task.CompletedTask;
    }

    public ReadOnlySpan<byte> Json(UnitMeta meta, string? header)
    {
        if (_current is not { Message: var m } entry) return [];
        return meta switch
        {
            UnitMeta.MessageId => JsonSerializer.SerializeToUtf8Bytes(entry.Id),
            UnitMeta.RoutingKey => JsonSerializer.SerializeToUtf8Bytes(m.RoutingKey),
            UnitMeta.Exchange => JsonSerializer.SerializeToUtf8Bytes(m.Exchange),
            UnitMeta.Redelivered => m.Redelivered ? "true"u8 : "false"u8,
            UnitMeta.Timestamp when m.Timestamp is { } t => JsonSerializer.SerializeToUtf8Bytes(DateTimeOffset.FromUnixTimeSeconds(t).ToString("O")),
            UnitMeta.Header when header is not null && m.Header(header) is { } value => JsonSerializer.SerializeToUtf8Bytes(value),
            _ => [],
        };
    }
}
