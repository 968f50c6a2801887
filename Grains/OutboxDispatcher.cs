using System.Collections.Concurrent;
using System.Text.Json;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.Engine.Notify;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Publishes the outbox's events (<see cref="Outbox"/>) to each import's notify targets, then marks
/// them sent. Every silo runs one; an import's events go through one dispatcher at a time, in id
/// order, and an event that cannot be published holds back the import's later ones until it is.
/// A few imports are dispatched at once, each on a session of its own, so that a target that does
/// not answer holds back its import's events, not every import's. A
/// crash between a publish and its mark publishes the same event (same id) again: receivers dedupe
/// by <c>eventId</c> (the webhook's <c>Idempotency-Key</c>, the message's <c>message_id</c>).
/// An event that fails keeps its error (status shows it); one still failing once older than
/// <see cref="IngestSiloOptions.EventMaxAge"/> is given up, and the import's next events go on.
/// </summary>
public sealed class OutboxDispatcher(NpgsqlDataSource dataSource, IOptions<IngestSiloOptions> options, ILogger<OutboxDispatcher> logger) : SiloLoop
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);
    private const int EventsPerRound = 100;
    private const int ImportsAtOnce = 4;
    private static readonly TimeSpan LongestBackoff = TimeSpan.FromMinutes(1);
    // Touched only by the loop: the imports being dispatched.
    private readonly Dictionary<long, Task> _workers = [];
    // Imports whose last event could not be published, and when to try again.
    private readonly ConcurrentDictionary<long, (DateTimeOffset At, TimeSpan Pause)> _backoff = new();
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
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    logger.LogWarning("outbox: {Error}; trying again shortly", ErrorClassifier.Describe(e));
                }
                await Task.Delay(Every, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
        finally
        {
            await Task.WhenAll(_workers.Values).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    // Starts dispatching imports with unsent events that no worker of this silo has, up to a few at once,
    // in a new order each round and without those backing off after a failure: none starves the others.
    private async Task RoundAsync(CancellationToken cancellationToken)
    {
        foreach (var done in _workers.Where(w => w.Value.IsCompleted).Select(w => w.Key).ToList()) _workers.Remove(done);
        var pending = (await Outbox.PendingImportsAsync(dataSource, cancellationToken)).ToArray();
        Random.Shared.Shuffle(pending);
        foreach (var importId in pending)
        {
            if (_workers.Count >= ImportsAtOnce) break;
            if (_workers.ContainsKey(importId) || _backoff.TryGetValue(importId, out var b) && b.At > DateTimeOffset.UtcNow) continue;
            _workers[importId] = DispatchAsync(importId, cancellationToken);
        }
    }

    private async Task DispatchAsync(long importId, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            // The session holds the import's lock: if this silo dies, it goes with it.
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            if (!await Outbox.TryLockAsync(connection, importId, cancellationToken)) return;
            try
            {
                foreach (var e in await Outbox.UnsentAsync(connection, importId, EventsPerRound, cancellationToken))
                {
                    try { await PublishAsync(e, cancellationToken); }
                    catch (Exception error) when (!cancellationToken.IsCancellationRequested)
                    {
                        // A target that timed out too: not the silo stopping.
                        var why = ErrorClassifier.Describe(error);
                        if (DateTimeOffset.UtcNow - e.At > options.Value.EventMaxAge)
                        {
                            await Outbox.FailedAsync(connection, e.Id, why, giveUp: true, cancellationToken);
                            logger.LogError("outbox: event {EventId} of import {ImportId} given up, unpublished since {At:u} ({Error}); the import's later events go on",
                                e.Id, importId, e.At, why);
                            continue;
                        }
                        await Outbox.FailedAsync(connection, e.Id, why, giveUp: false, cancellationToken);
                        var pause = _backoff.TryGetValue(importId, out var b) ? TimeSpan.FromTicks(Math.Min(b.Pause.Ticks * 2, LongestBackoff.Ticks)) : TimeSpan.FromSeconds(1);
                        _backoff[importId] = (DateTimeOffset.UtcNow + pause, pause);
                        logger.LogWarning("outbox: event {EventId} of import {ImportId} not published ({Error}); it and the import's later events wait {Pause}",
                            e.Id, importId, why, pause);
                        break;
                    }
                    _backoff.TryRemove(importId, out _);
                    await Outbox.MarkSentAsync(connection, e.Id, cancellationToken);
                }
            }
            finally
            {
                await Outbox.UnlockAsync(connection, importId, CancellationToken.None);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("outbox: import {ImportId}: {Error}; trying again shortly", importId, ErrorClassifier.Describe(e));
        }
        catch (OperationCanceledException) { }
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
