using System.Text.Json;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.Engine.Notify;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Publishes the outbox's events (<see cref="Outbox"/>) to each import's notify targets, then marks
/// them sent. Every silo runs one; an import's events go through one dispatcher at a time, in id
/// order, and an event that cannot be published holds back the import's later ones until it is. A
/// crash between a publish and its mark publishes the same event (same id) again: receivers dedupe
/// by <c>eventId</c> (the webhook's <c>Idempotency-Key</c>, the message's <c>message_id</c>).
/// </summary>
public sealed class OutboxDispatcher(NpgsqlDataSource dataSource, ILogger<OutboxDispatcher> logger) : SiloLoop
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);
    private const int EventsPerRound = 100;
    private readonly RabbitMqNotifier _rabbitMq = new();
    private readonly WebhookNotifier _webhooks = new(new HttpClient { Timeout = TimeSpan.FromSeconds(10) });

    protected override ValueTask StoppedAsync() => _rabbitMq.DisposeAsync();

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                try { await RoundAsync(cancellationToken); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning("outbox: {Error}; trying again shortly", ErrorClassifier.Describe(e));
                }
                await Task.Delay(Every, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    private async Task RoundAsync(CancellationToken cancellationToken)
    {
        var imports = await Outbox.PendingImportsAsync(dataSource, cancellationToken);
        if (imports.Count == 0) return;
        // The session holds the imports' locks: if this silo dies, they go with it.
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var importId in imports)
        {
            if (!await Outbox.TryLockAsync(connection, importId, cancellationToken)) continue;
            try
            {
                foreach (var e in await Outbox.UnsentAsync(connection, importId, EventsPerRound, cancellationToken))
                {
                    try { await PublishAsync(e, cancellationToken); }
                    catch (Exception error) when (error is not OperationCanceledException)
                    {
                        logger.LogWarning("outbox: event {EventId} of import {ImportId} not published ({Error}); it and the import's later events wait",
                            e.Id, importId, ErrorClassifier.Describe(error));
                        break;
                    }
                    await Outbox.MarkSentAsync(connection, e.Id, cancellationToken);
                }
            }
            finally
            {
                await Outbox.UnlockAsync(connection, importId, CancellationToken.None);
            }
        }
    }

    private async Task PublishAsync(Outbox.Event e, CancellationToken cancellationToken)
    {
        var targets = JsonSerializer.Deserialize<List<NotifySpec>>(e.Notify, ImportSpecJson.Options) ?? [];
        // The state routing keys name: the import's (running, paused, …), or unit_done / unit_failed.
        var state = e.Kind.StartsWith("import.", StringComparison.Ordinal) ? e.Kind["import.".Length..] : e.Kind.Replace('.', '_');
        foreach (var target in targets.Where(t => !e.IsUnit || t.Units))
        {
            if (target.Kind == NotifyKind.RabbitMq)
                await _rabbitMq.PublishAsync(target.Uri!, target.Exchange!, (target.RoutingKey ?? NotifySpec.DefaultRoutingKey).Replace("{state}", state), e.Id, e.Payload, cancellationToken);
            else
                await _webhooks.PostAsync(Engine.Sources.EnvironmentReference.Resolve(target.Url!), e.Id, e.Payload, cancellationToken);
        }
    }
}
