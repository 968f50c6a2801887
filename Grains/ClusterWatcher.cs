using Npgsql;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Ingest.Catalog;

namespace Ingest.Grains;

/// <summary>
/// Brings imports back with nobody calling them. Every silo runs one: when the cluster starts (a
/// cold start after every silo was lost included) it wakes every unfinished import; when
/// membership declares silos dead it tells every unfinished import, whose grain hands the lost
/// units out again (and is itself reactivated elsewhere if it lived on a lost silo); when silos
/// join it tells them too (a queue's consumers spread over the new silos); and every
/// <see cref="IngestSiloOptions.SweepInterval"/> it wakes them all as a backstop, and prunes the
/// rows of silos dead for longer than <see cref="IngestSiloOptions.DefunctSiloExpiration"/> (Orleans'
/// own cleanup agent, configured too, deleted none here). It wakes an import's grain as soon as the
/// catalog says the import was submitted (<see cref="ImportNotifications.Submitted"/>): the console
/// stores an import without reaching the cluster. Several silos doing the same is harmless: the
/// calls are idempotent. Each sweep also wakes the scheduler (<see cref="ScheduleGrain"/>).
/// </summary>
public sealed class ClusterWatcher(
    NpgsqlDataSource dataSource,
    IClusterMembershipService membership,
    IGrainFactory grains,
    ImportCatalog catalog,
    IOptions<IngestSiloOptions> options,
    IOptions<ClusterOptions> cluster,
    ILogger<ClusterWatcher> logger) : SiloLoop
{
    // Set once the first listen was tried: the first sweep comes after it, so that an import stored in between is not missed.
    private readonly TaskCompletionSource _listened = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Task.Run(() => WatchMembershipAsync(cancellationToken)), Task.Run(() => SweepAsync(cancellationToken)),
            Task.Run(() => WatchSubmissionsAsync(cancellationToken)));

    private async Task WatchMembershipAsync(CancellationToken cancellationToken)
    {
        var dead = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToHashSet();
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                // A silo that joined takes its share of the continuous imports' consumers at once.
                if (snapshot.Members.Values.Count(m => m.Status == SiloStatus.Active && active.Add(m.SiloAddress)) > 0)
                    _ = WakeAllAsync(grain => grain.SilosJoinedAsync(), cancellationToken);
                var lost = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress))
                    .Select(m => SiloNames.Of(m.SiloAddress)).ToArray();
                if (lost.Length == 0) continue;
                logger.LogInformation("silos declared dead: {Silos}; their units are handed out again", string.Join(", ", lost));
                await WakeAllAsync(grain => grain.SilosLostAsync(lost), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    // A listener that lost its connection listens again after a pause; meanwhile the sweep is the backstop.
    private async Task WatchSubmissionsAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await using var submissions = await ImportNotifications.ListenAsync(dataSource, ImportNotifications.Submitted, cancellationToken);
                if (submissions.Listening) logger.LogInformation("listening for submitted imports");
                _listened.TrySetResult();
                while (submissions.Listening)
                    foreach (var id in await submissions.WaitAsync(options.Value.SweepInterval, cancellationToken))
                        _ = WakeAsync(id, grain => grain.WakeAsync(), cancellationToken);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
        finally
        {
            _listened.TrySetResult(); // a listener that failed outright holds no sweep back
        }
    }

    private async Task WakeAsync(long id, Func<IImportGrain, Task> wake, CancellationToken cancellationToken)
    {
        try { await TransientErrors.Delivery.ExecuteAsync(async _ => await wake(grains.GetGrain<IImportGrain>(id)), cancellationToken); }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
        catch (Exception e)
        {
            logger.LogWarning("import {ImportId} could not be woken ({Error}); trying again at the next sweep", id, e.Message);
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        try
        {
            // First at once (once submissions are listened to): the startup wake-up of a cluster that was down.
            await _listened.Task.WaitAsync(cancellationToken);
            do
            {
                await WakeAllAsync(grain => grain.WakeAsync(), cancellationToken);
                await WakeSchedulerAsync();
                await PruneDeadSilosAsync(cancellationToken);
            }
            while (await Delay(options.Value.SweepInterval, cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    // The scheduler's reminder brings it back by itself once registered; this registers it first, and keeps it so.
    private async Task WakeSchedulerAsync()
    {
        try { await grains.GetGrain<IScheduleGrain>(0).WakeAsync(); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("cannot wake the scheduler ({Error}); trying again at the next sweep", ErrorClassifier.Describe(e));
        }
    }

    private async Task PruneDeadSilosAsync(CancellationToken cancellationToken)
    {
        try
        {
            var pruned = await catalog.PruneDeadSilosAsync(cluster.Value.ClusterId, options.Value.DefunctSiloExpiration, cancellationToken);
            if (pruned > 0) logger.LogInformation("pruned {Count} dead silos' rows from the membership table", pruned);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("cannot prune dead silos' rows ({Error}); trying again at the next sweep", ErrorClassifier.Describe(e));
        }
    }

    private static async Task<bool> Delay(TimeSpan interval, CancellationToken cancellationToken)
    {
        await Task.Delay(interval, cancellationToken);
        return true;
    }

    private async Task WakeAllAsync(Func<IImportGrain, Task> wake, CancellationToken cancellationToken)
    {
        IReadOnlyList<long> imports;
        try
        {
            imports = await TransientErrors.Pipeline.ExecuteAsync(async ct => await catalog.GetUnfinishedImportsAsync(ct), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("cannot list unfinished imports ({Error}); trying again at the next sweep", e.Message);
            return;
        }
        await Task.WhenAll(imports.Select(id => WakeAsync(id, wake, cancellationToken)));
    }
}
