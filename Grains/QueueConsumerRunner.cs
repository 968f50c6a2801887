using System.Diagnostics;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.Engine.Sources.RabbitMq;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Runs one attempt at a queue consumer's unit, claimed like any unit, until the import stops it:
/// batch after batch, its rows, rejects and message ids commit in ONE transaction fenced by the
/// claim's token, THEN the batch is acked (<c>multiple</c>). A message whose id the ledger has is
/// skipped and acked, so a redelivery after a crash between commit and ack loads nothing twice. A
/// batch that fails as a whole is tried again message by message: the messages that load are
/// acked, and only one that fails alone goes back to the queue, whose delivery limit dead-letters
/// it in the end. Stopped (a pause, a cancel, a silo leaving, a rebalance), it closes its channel,
/// so the broker puts back what was not acked, and hands its unit back without using an attempt.
/// Knows nothing of grains: a silo singleton.
/// </summary>
public sealed class QueueConsumerRunner(NpgsqlDataSource dataSource, IOptions<IngestSiloOptions> options, ILogger<QueueConsumerRunner> logger)
{
    private static readonly TimeSpan BacklogEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(10);
    private int _batches;

    /// <summary>
    /// Consumes until <paramref name="abandon"/> (or the queue stays idle for <c>stopWhenIdleSeconds</c>); one
    /// report for the consumer's unit. While the broker or the catalog cannot be reached it connects
    /// again with a growing pause, the import's status saying why, for up to
    /// <see cref="IngestSiloOptions.QueueOutage"/>; then the attempt fails.
    /// </summary>
    public async Task<UnitReport> RunAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, CancellationToken abandon)
    {
        var name = $"{claim.ImportId}/{claim.UnitNo}";
        var outage = new Outage(options.Value.QueueOutage);
        while (true)
        {
            QueueConsumer? consumer = null;
            try
            {
                if (outage.Pause is { } pause) await Task.Delay(pause, abandon);
                consumer = await QueueConsumer.StartAsync(spec.Source.RabbitMq!, dispatch, abandon);
                logger.LogInformation("consumer {Consumer} start: {Key} (attempt {Attempt}), prefetch {Prefetch}", name, claim.Key, claim.Attempt, spec.Source.RabbitMq!.Prefetch);
                return await ConsumeAsync(spec, loader, claim, dispatch, consumer, outage, abandon);
            }
            catch (OperationCanceledException) when (abandon.IsCancellationRequested)
            {
                // The channel closes first: the broker puts back what was not acked.
                if (consumer is not null) await consumer.DisposeAsync();
                consumer = null;
                await ShowTroubleAsync(claim, null);
                using var handBack = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var handedBack = await UnitFence.HandBackAsync(dataSource, claim, handBack.Token);
                logger.LogInformation("consumer {Consumer} end: stopped, unacked messages back in the queue{HandedBack}", name, handedBack ? ", handed back" : "");
                return new UnitReport(claim.UnitNo, dispatch, handedBack ? UnitEnd.HandedBack : UnitEnd.Abandoned);
            }
            catch (Exception e)
            {
                if (consumer is not null) await consumer.DisposeAsync();
                consumer = null;
                if (ErrorClassifier.IsTransient(e) && outage.Begin())
                {
                    var trouble = $"{ErrorClassifier.Describe(e)} (since {outage.Since:HH:mm:ss} UTC; connecting again)";
                    logger.LogWarning("consumer {Consumer}: {Trouble}", name, trouble);
                    await ShowTroubleAsync(claim, trouble);
                    continue;
                }
                await ShowTroubleAsync(claim, null);
                var terminal = ErrorClassifier.IsBadInput(e);
                var error = $"{claim.Key}: {ErrorClassifier.Describe(e)}";
                var (end, notBefore) = await TransientErrors.Pipeline.ExecuteAsync(
                    async ct => await UnitFence.FailAsync(dataSource, claim, error, terminal, ct), CancellationToken.None);
                logger.LogWarning("consumer {Consumer} end: attempt {Attempt}/{MaxAttempts} failed ({End}): {Error}", name, claim.Attempt, claim.MaxAttempts, end, error);
                return new UnitReport(claim.UnitNo, dispatch, end, notBefore, error);
            }
            finally
            {
                if (consumer is not null) await consumer.DisposeAsync();
            }
        }
    }

    // Batch after batch until the import stops the consumer, the queue stays idle, or another attempt fences it off.
    private async Task<UnitReport> ConsumeAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, QueueConsumer consumer, Outage outage, CancellationToken abandon)
    {
        var queue = spec.Source.RabbitMq!;
        var idle = queue.StopWhenIdleSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
        var name = $"{claim.ImportId}/{claim.UnitNo}";
        var lastMessage = Stopwatch.GetTimestamp();
        var backlogAt = 0L;
        var prunedAt = 0L;
        while (true)
        {
            if (backlogAt == 0 || Stopwatch.GetElapsedTime(backlogAt) >= BacklogEvery)
            {
                backlogAt = Stopwatch.GetTimestamp();
                await ConsumerFence.SetBacklogAsync(dataSource, claim.ImportId, await consumer.DepthAsync(abandon), abandon);
            }
            // Every consumer prunes (as it starts, then now and then): whichever runs, the ledger stays within dedupHours.
            if (prunedAt == 0 || Stopwatch.GetElapsedTime(prunedAt) >= PruneEvery)
            {
                prunedAt = Stopwatch.GetTimestamp();
                var pruned = await MessageLedger.PruneAsync(dataSource, spec.Name, queue.Queue, queue.DedupHours, abandon);
                if (pruned > 0) logger.LogInformation("consumer {Consumer}: {Pruned} message ids older than {Hours} h forgotten", name, pruned, queue.DedupHours);
            }
            var wait = BacklogEvery;
            if (idle is { } limit && limit - Stopwatch.GetElapsedTime(lastMessage) is var left && left < wait) wait = left > TimeSpan.Zero ? left : TimeSpan.Zero;
            var messages = await consumer.NextAsync(wait, abandon);
            if (messages.Count == 0)
            {
                if (outage.End()) await ShowTroubleAsync(claim, null);
                if (idle is null || Stopwatch.GetElapsedTime(lastMessage) < idle) continue;
                var completed = await ConsumerFence.CompleteAsync(dataSource, claim, CancellationToken.None);
                logger.LogInformation("consumer {Consumer} end: {End} after {Seconds} s without a message", name, completed ? "done" : "fenced off", queue.StopWhenIdleSeconds);
                return new UnitReport(claim.UnitNo, dispatch, completed ? UnitEnd.Done : UnitEnd.Superseded);
            }
            lastMessage = Stopwatch.GetTimestamp();
            var batch = new MessageBatch(messages, queue, spec.Source.Records);
            if (!await ConsumeAsync(spec, loader, claim, dispatch, consumer, batch, abandon))
            {
                logger.LogWarning("consumer {Consumer} end: fenced off (another attempt holds it, or the import was cancelled); its batch rolled back", name);
                return new UnitReport(claim.UnitNo, dispatch, UnitEnd.Superseded);
            }
            if (outage.End()) await ShowTroubleAsync(claim, null);
        }
    }

    // Best effort, and brief: the catalog may be what cannot be reached.
    private async Task ShowTroubleAsync(UnitClaim claim, string? trouble)
    {
        try
        {
            using var brief = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await ConsumerFence.ShowTroubleAsync(dataSource, claim.ImportId, claim.UnitNo, trouble, brief.Token);
        }
        catch (Exception e)
        {
            logger.LogDebug("consumer {ImportId}/{UnitNo}: the catalog did not take its trouble ({Error})", claim.ImportId, claim.UnitNo, ErrorClassifier.Describe(e));
        }
    }

    // A consumer's time away from its broker or catalog: when it began, and the pause before the next try.
    // It ends when a batch commits or the consumer waits for messages without a fault.
    private sealed class Outage(TimeSpan limit)
    {
        private static readonly TimeSpan Longest = TimeSpan.FromSeconds(30);
        private long _began;
        private bool _ended;

        public DateTimeOffset Since { get; private set; }

        public TimeSpan? Pause { get; private set; }

        // Starts or goes on; false once it has lasted past its limit.
        public bool Begin()
        {
            if (_began == 0) (_began, Since, Pause) = (Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, TimeSpan.FromSeconds(1));
            else Pause = Pause!.Value * 2 < Longest ? Pause.Value * 2 : Longest;
            return Stopwatch.GetElapsedTime(_began) < limit;
        }

        // True when there was one, or the first time (an earlier attempt's may still show).
        public bool End()
        {
            var was = _began != 0 || !_ended;
            (_began, Pause, _ended) = (0, null, true);
            return was;
        }
    }

    // One batch: committed whole and acked, or, when it fails whole, message by message. False when fenced off.
    private async Task<bool> ConsumeAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, QueueConsumer consumer, MessageBatch batch, CancellationToken cancellationToken)
    {
        MessageCounts? counts;
        try
        {
            counts = await CommitAsync(spec, loader, claim, dispatch, consumer, batch, cancellationToken);
        }
        catch (Exception e) when (!ErrorClassifier.IsTransient(e) && e is not OperationCanceledException)
        {
            logger.LogWarning("consumer {ImportId}/{UnitNo}: a batch of {Count} rolled back ({Error}); its messages load one by one",
                claim.ImportId, claim.UnitNo, batch.Count, ErrorClassifier.Describe(e));
            return await ConsumeOneByOneAsync(spec, loader, claim, dispatch, consumer, batch, cancellationToken);
        }
        if (counts is null) return false;
        KillIfAsked();
        await consumer.AckAsync(batch.LastTag, batch.Generation, multiple: true, cancellationToken);
        return true;
    }

    // Message by message: those that load are acked; those that fail alone go back to the queue. When
    // every message fails alone, as the batch did, the target is at fault (a table gone, a permission
    // revoked), not they: the consumer holds them and tries again, as in an outage, rather than return
    // them all towards their delivery limit.
    private async Task<bool> ConsumeOneByOneAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, QueueConsumer consumer, MessageBatch batch, CancellationToken cancellationToken)
    {
        var outage = new Outage(options.Value.QueueOutage);
        while (true)
        {
            var failed = new List<(int Index, Exception Error)>();
            for (var i = 0; i < batch.Count; i++)
            {
                var message = batch.Entries[i].Message;
                try
                {
                    if (await CommitAsync(spec, loader, claim, dispatch, consumer, batch.One(i), cancellationToken) is null) return false;
                    await consumer.AckAsync(message.DeliveryTag, message.Generation, multiple: false, cancellationToken);
                }
                catch (Exception e) when (!ErrorClassifier.IsTransient(e) && e is not OperationCanceledException)
                {
                    failed.Add((i, e));
                }
            }
            if (!TargetAtFault(batch, failed))
            {
                if (outage.End()) await ShowTroubleAsync(claim, null);
                return await ReturnAsync(spec, claim, consumer, batch, failed, cancellationToken);
            }
            // Held on a lost channel, they could not be acked: the broker brings them back.
            if (!consumer.Current(batch.Generation)) return true;
            var trouble = $"each of the {batch.Count} messages of a batch failed alone as the batch did: {ErrorClassifier.Describe(failed[0].Error)}";
            if (!outage.Begin()) throw new SourceDataException(trouble, failed[0].Error, ErrorKind.Attempt);
            logger.LogWarning("consumer {ImportId}/{UnitNo}: {Trouble}; holding them to try again in {Pause}", claim.ImportId, claim.UnitNo, trouble, outage.Pause);
            await ShowTroubleAsync(claim, $"{trouble} (since {outage.Since:HH:mm:ss} UTC; trying again)");
            await Task.Delay(outage.Pause!.Value, cancellationToken);
        }
    }

    // Whether the messages that failed alone failed for the target's sake: a table or column gone, a
    // permission revoked, a server refusing work (SQLSTATE classes 42, 53, 57, 25) for any of them;
    // or every message of a batch of several, none for its data (classes 22 and 23: those are poison).
    private static bool TargetAtFault(MessageBatch batch, List<(int Index, Exception Error)> failed)
    {
        static string? State(Exception? e)
        {
            for (; e is not null; e = e.InnerException)
                if (e is PostgresException pg) return pg.SqlState;
            return null;
        }
        if (failed.Count < batch.Count) return false;
        var states = failed.Select(f => State(f.Error)).ToList();
        if (states.Any(s => s is not null && (s.StartsWith("22", StringComparison.Ordinal) || s.StartsWith("23", StringComparison.Ordinal)))) return false;
        return batch.Count > 1 || states.Any(s => s is not null && (s[..2] is "42" or "53" or "57" or "25"));
    }

    // Returns messages that failed alone to the queue, which counts their deliveries: past its limit the broker dead-letters one.
    private async Task<bool> ReturnAsync(ImportSpec spec, UnitClaim claim, QueueConsumer consumer, MessageBatch batch, List<(int Index, Exception Error)> failed, CancellationToken cancellationToken)
    {
        var limit = spec.Source.RabbitMq!.Declare?.DeliveryLimit;
        foreach (var (index, e) in failed)
        {
            var entry = batch.Entries[index];
            var last = limit is { } l && entry.Message.DeliveryCount + 1 > l;
            if (last && !await ConsumerFence.CountAsync(dataSource, claim, new MessageCounts(0, 0, 0, 0, 1), cancellationToken)) return false;
            await consumer.ReturnAsync(entry.Message.DeliveryTag, entry.Message.Generation, cancellationToken);
            logger.LogWarning("consumer {ImportId}/{UnitNo}: message {MessageId} failed alone (delivery {Delivery}{Limit}){DeadLettered}: {Error}",
                claim.ImportId, claim.UnitNo, entry.Id, entry.Message.DeliveryCount + 1, limit is null ? "" : $" of {limit}",
                last ? ", dead-lettered" : ", returned to the queue", ErrorClassifier.Describe(e));
        }
        return true;
    }

    // The batch's rows, rejects and new message ids in one transaction, fenced by the claim's token;
    // its counts (none when its channel was lost: rolled back, the broker brings it back), or null
    // when fenced off (rolled back).
    private async Task<MessageCounts?> CommitAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, QueueConsumer consumer, MessageBatch batch,
        CancellationToken cancellationToken) =>
        await TransientErrors.Pipeline.ExecuteAsync(async ct =>
        {
            try
            {
                return await CommitOnceAsync(spec, loader, claim, dispatch, consumer, batch, ct);
            }
            catch (DirectCopyConflictException)
            {
                // A key that exists already: rolled back, and the loader stages this import's rows from now on.
                return await CommitOnceAsync(spec, loader, claim, dispatch, consumer, batch, ct);
            }
        }, cancellationToken);

    private async Task<MessageCounts?> CommitOnceAsync(ImportSpec spec, UnitLoader loader, UnitClaim claim, string dispatch, QueueConsumer consumer, MessageBatch batch,
        CancellationToken cancellationToken)
    {
        var queue = spec.Source.RabbitMq!;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await UnitFence.BeginAttemptAsync(connection, dispatch, cancellationToken);
        var ledger = await MessageLedger.RecordAsync(connection, spec.Name, queue.Queue, claim.ImportId, batch.Entries.Select(e => (e.Id, e.Delivery)), cancellationToken);
        var (load, skipped) = batch.Split(ledger);
        var skippedBefore = await MessageLedger.RecordSkipsAsync(connection, spec.Name, queue.Queue,
            skipped.Where(e => e.Delivery != ledger[e.Id].Delivery).Select(e => e.Delivery), cancellationToken);
        var (duplicate, redelivered) = MessageBatch.CountSkipped(skipped, ledger, skippedBefore);
        var result = UnitLoadResult.None;
        if (load.Count > 0)
        {
            await using var reading = load.Open(claim.Unit, queue.Queue);
            result = await loader.LoadAsync(connection, claim.ImportId, reading, long.MaxValue, cancellationToken);
        }
        var counts = new MessageCounts(load.Count, duplicate, redelivered, RejectedMessages(load, result), 0);
        if (!await ConsumerFence.CommitBatchAsync(connection, claim, result, counts, cancellationToken))
        {
            await tx.RollbackAsync(CancellationToken.None);
            return null;
        }
        if (!consumer.Current(batch.Generation))
        {
            // Its channel was lost: it cannot be acked, and the broker delivers it again, to load then.
            await tx.RollbackAsync(CancellationToken.None);
            logger.LogInformation("consumer {ImportId}/{UnitNo}: the channel of a batch of {Count} was lost; rolled back for the broker to bring it back",
                claim.ImportId, claim.UnitNo, batch.Count);
            return MessageCounts.None;
        }
        // Past the fence the batch is ours: commit even if the consumer is stopping (its ack then waits for a redelivery, which the ledger skips).
        await tx.CommitAsync(CancellationToken.None);
        IngestMetrics.RowsRead.Add(result.RowsRead);
        IngestMetrics.RowsRejected.Add(result.Rejected);
        IngestMetrics.BytesRead.Add(result.BytesRead);
        return counts;
    }

    // The messages that a reject came from: a record's index runs over the batch's records, a body that is not JSON counting as one.
    private static long RejectedMessages(MessageBatch batch, UnitLoadResult result)
    {
        if (result.Rejected == 0) return 0;
        var ends = new long[batch.Count];
        long records = 0;
        for (var i = 0; i < batch.Count; i++) ends[i] = records += batch.Entries[i].Body.Problem is null ? batch.Entries[i].Body.Records.Count : 1;
        return result.Rejects.Select(r => Array.BinarySearch(ends, r.RecordIndex + 1) is var at && at < 0 ? ~at : at).Distinct().LongCount();
    }

    // Fault injection for tests (INGEST_FAULT_KILL_AFTER_BATCHES): a crash between a batch's commit and its ack.
    private void KillIfAsked()
    {
        if (options.Value.KillAfterBatches is not { } after || Interlocked.Increment(ref _batches) < after) return;
        logger.LogWarning("fault injection: killing this silo between a batch's commit and its ack");
        Process.GetCurrentProcess().Kill();
    }
}
