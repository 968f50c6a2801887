using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Runs one attempt at a unit, top to bottom: claim it (the attempt counts, the fencing token is
/// bumped) → load its file into the target and complete it in ONE transaction, fenced by the token →
/// say how it ended. A slow attempt whose unit was taken over commits nothing. Bad input fails the
/// unit at once; other errors use up an attempt. Knows nothing of grains: a silo singleton.
/// </summary>
public sealed class UnitRunner(NpgsqlDataSource dataSource, ILogger<UnitRunner> logger)
{
    private readonly ConcurrentDictionary<long, Task<UnitLoader>> _loaders = new();

    /// <summary>
    /// Runs the attempt until it ends. <paramref name="abandon"/> rolls it back: handed back when
    /// <paramref name="handingBack"/> says the silo is stopping, else abandoned (a cancel).
    /// </summary>
    public async Task<UnitReport> RunAsync(long importId, int unitNo, string silo, string dispatch, Func<bool> handingBack, CancellationToken abandon)
    {
        UnitFence.ClaimResult claimed;
        try
        {
            claimed = await TransientErrors.Pipeline.ExecuteAsync(
                async ct => await UnitFence.ClaimAsync(dataSource, importId, unitNo, silo, dispatch, ct), abandon);
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            return new UnitReport(unitNo, dispatch, handingBack() ? UnitEnd.HandedBack : UnitEnd.Abandoned);
        }
        catch (Exception e)
        {
            // Not claimed (or the answer was lost: the next claim then counts this attempt as one that died).
            logger.LogWarning("unit {ImportId}/{UnitNo}: could not be claimed ({Error}); it is handed out again", importId, unitNo, TransientErrors.Describe(e));
            return new UnitReport(unitNo, dispatch, UnitEnd.RetryLater, DateTimeOffset.UtcNow.AddSeconds(1), TransientErrors.Describe(e));
        }
        if (claimed.Claim is not { } claim)
        {
            if (claimed.NotClaimed == UnitEnd.Failed)
                logger.LogWarning("unit {ImportId}/{UnitNo} end: failed ({Error})", importId, unitNo, claimed.Error);
            return new UnitReport(unitNo, dispatch, claimed.NotClaimed!.Value, Error: claimed.Error);
        }

        var started = Stopwatch.GetTimestamp();
        logger.LogInformation("unit {ImportId}/{UnitNo} start: {Key} (attempt {Attempt}/{MaxAttempts})",
            importId, unitNo, claim.Key, claim.Attempt, claim.MaxAttempts);
        try
        {
            var loader = await GetLoaderAsync(importId);
            var result = await TransientErrors.Pipeline.ExecuteAsync(async ct => await LoadAndCompleteAsync(loader, claim, ct), abandon);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (result is null)
            {
                logger.LogWarning("unit {ImportId}/{UnitNo} end: fenced off (another attempt holds it, or it was cancelled), rolled back after {Seconds:F1}s",
                    importId, unitNo, seconds);
                return new UnitReport(unitNo, dispatch, UnitEnd.Superseded);
            }
            IngestMetrics.UnitsCompleted.Add(1);
            IngestMetrics.RowsRead.Add(result.RowsRead);
            IngestMetrics.RowsRejected.Add(result.Rejected);
            IngestMetrics.BytesRead.Add(result.BytesRead);
            IngestMetrics.UnitDuration.Record(seconds);
            logger.LogInformation(
                "unit {ImportId}/{UnitNo} end: done in {Seconds:F2}s, read {Read}, inserted {Inserted}, updated {Updated}, unchanged {Unchanged}, rejected {Rejected}",
                importId, unitNo, seconds, result.RowsRead, result.Counts.Inserted, result.Counts.Updated, result.Counts.Unchanged, result.Rejected);
            return new UnitReport(unitNo, dispatch, UnitEnd.Done);
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            if (!handingBack())
            {
                logger.LogInformation("unit {ImportId}/{UnitNo} end: abandoned and rolled back", importId, unitNo);
                return new UnitReport(unitNo, dispatch, UnitEnd.Abandoned);
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var handedBack = await UnitFence.HandBackAsync(dataSource, claim, timeout.Token);
            logger.LogInformation("unit {ImportId}/{UnitNo} end: rolled back and handed back (silo stopping){Fenced}",
                importId, unitNo, handedBack ? "" : "; another attempt already held it");
            return new UnitReport(unitNo, dispatch, handedBack ? UnitEnd.HandedBack : UnitEnd.Superseded);
        }
        catch (Exception e)
        {
            IngestMetrics.UnitsFailed.Add(1);
            var terminal = TransientErrors.IsBadInput(e);
            var error = terminal ? e.Message : $"{claim.Key}: {TransientErrors.Describe(e)}";
            UnitEnd end;
            DateTimeOffset? notBefore;
            try
            {
                (end, notBefore) = await TransientErrors.Pipeline.ExecuteAsync(
                    async ct => await UnitFence.FailAsync(dataSource, claim, error, terminal, ct), CancellationToken.None);
            }
            catch (Exception recording)
            {
                // Left running: the next claim counts this attempt as one that died.
                logger.LogWarning("unit {ImportId}/{UnitNo}: the failure could not be recorded ({Error})", importId, unitNo, TransientErrors.Describe(recording));
                (end, notBefore) = (UnitEnd.RetryLater, DateTimeOffset.UtcNow.AddSeconds(1));
            }
            logger.LogWarning("unit {ImportId}/{UnitNo} end: attempt {Attempt}/{MaxAttempts} failed ({End}): {Error}",
                importId, unitNo, claim.Attempt, claim.MaxAttempts, end, error);
            return new UnitReport(unitNo, dispatch, end, notBefore, error);
        }
    }

    // Returns null when fenced off (rolled back).
    private async Task<UnitLoadResult?> LoadAndCompleteAsync(UnitLoader loader, UnitClaim claim, CancellationToken cancellationToken)
    {
        try
        {
            return await LoadAndCompleteOnceAsync(loader, claim, cancellationToken);
        }
        catch (DirectCopyConflictException)
        {
            // Rolled back; the loader now stages this import's units.
            return await LoadAndCompleteOnceAsync(loader, claim, cancellationToken);
        }
    }

    private async Task<UnitLoadResult?> LoadAndCompleteOnceAsync(UnitLoader loader, UnitClaim claim, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var result = await loader.LoadAsync(connection, claim.ImportId, claim.Key, cancellationToken);
        if (!await UnitFence.CompleteAsync(connection, claim, result, cancellationToken))
        {
            await tx.RollbackAsync(CancellationToken.None);
            return null;
        }
        // Past the fence the unit is ours: commit even if the silo is stopping.
        await tx.CommitAsync(CancellationToken.None);
        return result;
    }

    private async Task<UnitLoader> GetLoaderAsync(long importId)
    {
        // Loaders of ended imports are not told apart here: a silo that served many imports starts afresh.
        if (_loaders.Count > 64) _loaders.Clear();
        var loading = _loaders.GetOrAdd(importId, LoadSpecAsync);
        try { return await loading; }
        catch
        {
            _loaders.TryRemove(KeyValuePair.Create(importId, loading)); // retry the load next time
            throw;
        }
    }

    private async Task<UnitLoader> LoadSpecAsync(long importId)
    {
        await using var cmd = dataSource.CreateCommand("SELECT spec::text FROM ingest.imports WHERE id = $1");
        cmd.Parameters.AddWithValue(importId);
        var json = (string?)await cmd.ExecuteScalarAsync() ?? throw new InvalidOperationException($"import {importId} does not exist");
        return UnitLoader.For(ImportSpecJson.Deserialize(json));
    }
}
