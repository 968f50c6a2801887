using System.Threading.Channels;
using Ingest.GrainInterfaces;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// One consumer of a queue on a channel of its own: manual acks, <c>basic.qos</c> prefetch, the
/// deliveries handed over in batches. Disposing it closes the channel, and the broker puts back
/// whatever was not acked. A channel lost and recovered by the client starts a new
/// <see cref="ReceivedMessage.Generation"/>: messages of the old one are dropped (the broker
/// redelivers them) and never acked on the new one, where their tags mean nothing.
/// </summary>
public sealed class QueueConsumer : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly Channel<ReceivedMessage> _inbox = Channel.CreateUnbounded<ReceivedMessage>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly RabbitMqSpec _spec;
    private volatile int _generation;
    private volatile bool _cancelledByBroker;

    private QueueConsumer(IConnection connection, IChannel channel, RabbitMqSpec spec)
    {
        _connection = connection;
        _channel = channel;
        _spec = spec;
    }

    /// <summary>Connects, declares or checks the queue, and starts consuming.</summary>
    public static async Task<QueueConsumer> StartAsync(RabbitMqSpec spec, string consumerTag, CancellationToken cancellationToken = default)
    {
        var connection = await RabbitMqConnection.OpenAsync(spec.Uri, consumerTag, cancellationToken);
        try
        {
            await QueueDeclaration.EnsureAsync(connection, spec, cancellationToken);
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var consumer = new QueueConsumer(connection, channel, spec);
            channel.ChannelShutdownAsync += (_, _) =>
            {
                Interlocked.Increment(ref consumer._generation);
                return Task.CompletedTask;
            };
            await channel.BasicQosAsync(0, (ushort)spec.Prefetch, global: false, cancellationToken);
            var deliveries = new Deliveries(channel, consumer);
            deliveries.ReceivedAsync += (_, delivery) =>
            {
                // The body's memory is the client's again once this returns: From copies it.
                consumer._inbox.Writer.TryWrite(ReceivedMessage.From(delivery, consumer._generation));
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(spec.Queue, autoAck: false, consumerTag, deliveries, cancellationToken);
            return consumer;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The next batch: waits up to <paramref name="idle"/> for a first message (an empty batch when
    /// none came), then takes more until <see cref="RabbitMqSpec.BatchMessages"/> or until the first
    /// waited <see cref="RabbitMqSpec.BatchMaxMilliseconds"/>. Messages of a lost channel are dropped.
    /// </summary>
    /// <exception cref="SourceDataException">The broker cancelled the consumer, or closed its channel, which the client does not recover (transient: a new consumer may start).</exception>
    public async Task<IReadOnlyList<ReceivedMessage>> NextAsync(TimeSpan idle, CancellationToken cancellationToken = default)
    {
        if (_cancelledByBroker)
            throw new SourceDataException($"the broker cancelled the consumer of queue '{_spec.Queue}' (was the queue deleted?)", kind: ErrorKind.Transient);
        // A channel the broker closed while the connection lives is not recovered; one of a lost or closed connection (320) is.
        if (!_channel.IsOpen && _connection.IsOpen && _channel.CloseReason is { Initiator: ShutdownInitiator.Peer, ReplyCode: not Constants.ConnectionForced } closed)
            throw new SourceDataException($"the broker closed the channel of queue '{_spec.Queue}': {closed.ReplyCode} {closed.ReplyText}", kind: ErrorKind.Transient);
        var batch = new List<ReceivedMessage>();
        using (var first = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            first.CancelAfter(idle);
            try
            {
                if (!await _inbox.Reader.WaitToReadAsync(first.Token)) return batch;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return batch;
            }
        }
        using var fill = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        fill.CancelAfter(_spec.BatchMaxMilliseconds);
        try
        {
            while (batch.Count < _spec.BatchMessages)
            {
                while (batch.Count < _spec.BatchMessages && _inbox.Reader.TryRead(out var message))
                    if (message.Generation == _generation) batch.Add(message);
                if (batch.Count >= _spec.BatchMessages) break;
                await _inbox.Reader.WaitToReadAsync(fill.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        return batch;
    }

    /// <summary>Whether messages of <paramref name="generation"/> can still be acked: their channel was not lost since.</summary>
    public bool Current(int generation) => generation == _generation && _channel.IsOpen;

    /// <summary>Acks every message up to <paramref name="tag"/> (<c>multiple</c>), unless its channel was lost (then the broker redelivers them, and the ledger skips them).</summary>
    public async Task<bool> AckAsync(ulong tag, int generation, bool multiple, CancellationToken cancellationToken = default)
    {
        if (!Current(generation)) return false;
        await _channel.BasicAckAsync(tag, multiple, cancellationToken);
        return true;
    }

    /// <summary>Returns one message to the queue, which counts a delivery of it.</summary>
    public async Task<bool> ReturnAsync(ulong tag, int generation, CancellationToken cancellationToken = default)
    {
        if (!Current(generation)) return false;
        await _channel.BasicNackAsync(tag, multiple: false, requeue: true, cancellationToken);
        return true;
    }

    /// <summary>The queue's depth now.</summary>
    /// <exception cref="SourceDataException">The queue does not exist (transient when the spec declares it: a new consumer declares it again).</exception>
    public Task<uint> DepthAsync(CancellationToken cancellationToken = default) =>
        QueueDeclaration.DepthAsync(_connection, _spec.Queue, _spec.Declare is null ? ErrorKind.Import : ErrorKind.Transient, cancellationToken);

    // The deliveries, and the broker's cancel of this consumer (its queue deleted, say), which the client does not recover.
    private sealed class Deliveries(IChannel channel, QueueConsumer consumer) : AsyncEventingBasicConsumer(channel)
    {
        public override Task HandleBasicCancelAsync(string consumerTag, CancellationToken cancellationToken = default)
        {
            consumer._cancelledByBroker = true;
            return base.HandleBasicCancelAsync(consumerTag, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _inbox.Writer.TryComplete();
        try
        {
            if (_channel.IsOpen) await _channel.CloseAsync();
        }
        catch (Exception) { } // a lost channel: the broker put its messages back already
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
