using RabbitMQ.Client;

namespace Ingest.Engine.Sources.RabbitMq;

/// <summary>
/// Opens connections to a broker from a spec's URI (vhost and TLS through it: <c>amqps://</c>),
/// after resolving <c>${VAR}</c> references on the silo. The client recovers a lost connection and
/// its channels and consumers by itself.
/// </summary>
public static class RabbitMqConnection
{
    public static async Task<IConnection> OpenAsync(string uri, string clientName, CancellationToken cancellationToken = default)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(EnvironmentReference.Resolve(uri)),
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
            ClientProvidedName = clientName,
        };
        return await factory.CreateConnectionAsync(cancellationToken);
    }
}
