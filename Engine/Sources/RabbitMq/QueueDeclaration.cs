using Ingest.GrainInterfaces;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// Makes sure an import's queue is there: declared as <c>source.declare</c> says (a quorum queue
/// with <c>x-delivery-limit</c> and its dead-letter exchange), or, without it, checked passively.
/// </summary>
public static class QueueDeclaration
{
    /// <summary>Returns the queue's depth.</summary>
    /// <exception cref="SourceDataException">The queue does not exist (and is not to be declared), or was declared otherwise.</exception>
    public static async Task<uint> EnsureAsync(IConnection connection, RabbitMqSpec spec, CancellationToken cancellationToken = default)
    {
        // A failed declaration closes its channel: each check gets one of its own.
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            if (spec.Declare is not { } declare) return (await channel.QueueDeclarePassiveAsync(spec.Queue, cancellationToken)).MessageCount;
            var arguments = new Dictionary<string, object?> { ["x-queue-type"] = declare.Type };
            if (declare.DeadLetterExchange is { } dlx)
            {
                await channel.ExchangeDeclareAsync(dlx, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
                arguments["x-dead-letter-exchange"] = dlx;
            }
            if (declare.DeliveryLimit is { } limit) arguments["x-delivery-limit"] = limit;
            return (await channel.QueueDeclareAsync(spec.Queue, declare.Durable, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken)).MessageCount;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw NotFound(spec.Queue, e);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 406)
        {
            throw new SourceDataException($"queue '{spec.Queue}' exists with other arguments than source.declare ({e.ShutdownReason.ReplyText})", e, ErrorKind.Import);
        }
    }

    /// <summary>The queue's depth (messages ready), by a passive declare.</summary>
    /// <exception cref="SourceDataException">The queue does not exist (of <paramref name="missing"/>).</exception>
    public static async Task<uint> DepthAsync(IConnection connection, string queue, ErrorKind missing = ErrorKind.Import, CancellationToken cancellationToken = default)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw NotFound(queue, e, missing);
        }
    }

    private static SourceDataException NotFound(string queue, Exception e, ErrorKind kind = ErrorKind.Import) =>
        new($"queue '{queue}' does not exist (declare it, or give source.declare)", e, kind);
}
