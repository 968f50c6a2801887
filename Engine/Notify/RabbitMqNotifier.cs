using System.Collections.Concurrent;
using System.Text;
using Ingest.Engine.Sources.RabbitMq;
using RabbitMQ.Client;

namespace Ingest.Engine.Notify;

/// <summary>
/// Publishes events to RabbitMQ exchanges (declared durable, of type topic) with publisher confirms:
/// a publish returns once the broker has the event. One connection and channel per URI, kept.
/// </summary>
public sealed class RabbitMqNotifier : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<(IConnection Connection, IChannel Channel)>>> _channels = new();
    private readonly ConcurrentDictionary<(string Uri, string Exchange), bool> _declared = new();
    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>Publishes <paramref name="payload"/> with the event's id as its <c>message_id</c>; throws when the broker refuses it or cannot be reached.</summary>
    public async Task PublishAsync(string uri, string exchange, string routingKey, long eventId, string payload, CancellationToken cancellationToken = default)
    {
        await _one.WaitAsync(cancellationToken);
        try
        {
            var channel = (await _channels.GetOrAdd(uri, u => new Lazy<Task<(IConnection, IChannel)>>(() => OpenAsync(u))).Value).Channel;
            try
            {
                if (!_declared.ContainsKey((uri, exchange)))
                {
                    await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: cancellationToken);
                    _declared[(uri, exchange)] = true;
                }
                var properties = new BasicProperties
                {
                    MessageId = eventId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ContentType = "application/json",
                    Persistent = true,
                };
                await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties, Encoding.UTF8.GetBytes(payload), cancellationToken);
            }
            catch
            {
                await ForgetAsync(uri);
                throw;
            }
        }
        finally
        {
            _one.Release();
        }
    }

    private static async Task<(IConnection, IChannel)> OpenAsync(string uri)
    {
        var connection = await RabbitMqConnection.OpenAsync(uri, "ingest notify");
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        return (connection, channel);
    }

    // A failed channel (or one that never opened) is opened again at the next publish.
    private async Task ForgetAsync(string uri)
    {
        foreach (var key in _declared.Keys.Where(k => k.Uri == uri)) _declared.TryRemove(key, out _);
        if (!_channels.TryRemove(uri, out var lazy)) return;
        try
        {
            var (connection, channel) = await lazy.Value;
            await channel.DisposeAsync();
            await connection.DisposeAsync();
        }
        catch (Exception) { } // it never opened
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var uri in _channels.Keys.ToList()) await ForgetAsync(uri);
    }
}
