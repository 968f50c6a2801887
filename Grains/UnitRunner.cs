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
/// unit at once; other errors use up an attempt. A batch of small units runs the same way with one
/// mark for all (tokens bumped, no attempt used) and one transaction for all; a key that exists
/// already loads it again staged, and if anything else goes wrong it rolls back and each of its
/// units runs again alone, down the path above. Knows nothing of grains: a silo singleton.
/// </summary>
public sealed class UnitRunner(NpgsqlDataSource dataSource, ILogger<UnitRunner> logger)
{
    private readonly ConcurrentDictionary<long, Task<UnitLoader>> _loaders = new();

    /// <summary>
    /// Runs the attempt at <paramref name="units"/> (one unit, or a batch) until it ends; one report
    /// per unit. <paramref name="abandon"/> rolls it back: handed back when <paramref name="handingBack"/>
    /// says the silo is stopping, else abandoned (a cancel).
    /// </summary>
    public async Task<UnitReport[]> RunAsync(long importId, int[] units, string silo, string dispatch, Func<bool> handingBack, CancellationToken abandon) =>
        units.Length == 1
            ? [await RunAloneAsync(importId, units[0], silo, dispatch, handingBack, abandon)]
            : await RunBatchAsync(importId, units, silo, dispatch, handingBack, abandon);

    private async Task<UnitReport> RunAloneAsync(long importId, int unitNo, string silo, string dispatch, Func<bool> handingBack, CancellationToken abandon)
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
        if (claimed.EndedTransactions > 0)
            logger.LogWarning("unit {ImportId}/{UnitNo}: ended the open transaction of its lost attempt (its silo froze or lost its network?)", importId, unitNo);
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
            var completed = await TransientErrors.Pipeline.ExecuteAsync(async ct => await LoadAndCompleteAsync(loader, importId, dispatch, [claim.Fenced], batched: false, ct), abandon);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (completed is not [var (_, result)])
            {
                logger.LogWarning("unit {ImportId}/{UnitNo} end: fenced off (another attempt holds it, or it was cancelled), rolled back after {Seconds:F1}s",
                    importId, unitNo, seconds);
                return new UnitReport(unitNo, dispatch, UnitEnd.Superseded);
            }
            RecordDone(result, seconds);
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

    private async Task<UnitReport[]> RunBatchAsync(long importId, int[] units, string silo, string dispatch, Func<bool> handingBack, CancellationToken abandon)
    {
        UnitReport Report(int unitNo, UnitEnd end) => new(unitNo, dispatch, end);
        UnitFence.BatchMark mark;
        try
        {
            mark = await UnitFence.MarkBatchAsync(dataSource, importId, units, silo, dispatch, abandon);
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            return [.. units.Select(u => Report(u, handingBack() ? UnitEnd.HandedBack : UnitEnd.Abandoned))];
        }
        catch (Exception e)
        {
            // Perhaps marked, perhaps not: alone, each unit's claim finds out, and retries what is transient.
            logger.LogWarning("units {ImportId}/{Units}: the batch could not be taken ({Error}); they run alone", importId, string.Join(',', units), TransientErrors.Describe(e));
            return [.. units.Select(u => Report(u, UnitEnd.RunAlone))];
        }
        if (!mark.ImportRunning) return [.. units.Select(u => Report(u, UnitEnd.ImportNotRunning))];
        // Units the mark did not take (ended since, or in a batch before) go their own way.
        var reports = units.Except(mark.Units.Select(u => u.UnitNo)).Select(u => Report(u, UnitEnd.RunAlone)).ToList();
        if (mark.Units.Count == 0) return [.. reports];

        var started = Stopwatch.GetTimestamp();
        var range = $"{mark.Units[0].UnitNo}..{mark.Units[^1].UnitNo}";
        try
        {
            var loader = await GetLoaderAsync(importId);
            var completed = await LoadAndCompleteAsync(loader, importId, dispatch, mark.Units, batched: true, abandon);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (completed is null)
            {
                logger.LogWarning("units {ImportId}/{Range}: batch of {Count} fenced off (another attempt took one of them, or a cancel), rolled back; they run alone",
                    importId, range, mark.Units.Count);
                reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.RunAlone, range));
                return [.. reports];
            }
            foreach (var (_, result) in completed) RecordDone(result, seconds / completed.Count);
            logger.LogInformation(
                "units {ImportId}/{Range} end: batch of {Count} done in {Seconds:F2}s, read {Read}, inserted {Inserted}, updated {Updated}, unchanged {Unchanged}, rejected {Rejected}",
                importId, range, completed.Count, seconds, completed.Sum(c => c.Result.RowsRead), completed.Sum(c => c.Result.Counts.Inserted),
                completed.Sum(c => c.Result.Counts.Updated), completed.Sum(c => c.Result.Counts.Unchanged), completed.Sum(c => c.Result.Rejected));
            reports.AddRange(mark.Units.Select(u => Report(u.UnitNo, UnitEnd.Done)));
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            if (!handingBack())
            {
                logger.LogInformation("units {ImportId}/{Range} end: batch of {Count} abandoned and rolled back", importId, range, mark.Units.Count);
                reports.AddRange(mark.Units.Select(u => Report(u.UnitNo, UnitEnd.Abandoned)));
                return [.. reports];
            }
            logger.LogInformation("units {ImportId}/{Range} end: batch of {Count} rolled back and handed back (silo stopping)", importId, range, mark.Units.Count);
            reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.HandedBack, range));
        }
        catch (Exception e)
        {
            // Bad input in one unit, a conflict, a lost connection: alone, each unit fails, retries or loads on its own.
            logger.LogInformation("units {ImportId}/{Range}: batch of {Count} rolled back ({Error}); they run alone",
                importId, range, mark.Units.Count, TransientErrors.IsBadInput(e) ? e.Message : TransientErrors.Describe(e));
            reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.RunAlone, range));
        }
        return [.. reports];
    }

    // A rolled-back batch's units, pending again: handed back ones may be batched again, the others run
    // alone. If the release is lost they stay running, like units of a batch whose silo died, and run alone.
    private async Task<IEnumerable<UnitReport>> ReleaseAsync(long importId, string dispatch, IReadOnlyList<FencedUnit> units, UnitEnd end, string range)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await UnitFence.ReleaseBatchAsync(dataSource, importId, units, rebatch: end == UnitEnd.HandedBack, timeout.Token); }
        catch (Exception e)
        {
            logger.LogWarning("units {ImportId}/{Range}: the batch could not be released ({Error}); they run alone", importId, range, TransientErrors.Describe(e));
            end = UnitEnd.RunAlone;
        }
        return units.Select(u => new UnitReport(u.UnitNo, dispatch, end));
    }

    private static void RecordDone(UnitLoadResult result, double seconds)
    {
        IngestMetrics.UnitsCompleted.Add(1);
        IngestMetrics.RowsRead.Add(result.RowsRead);
        IngestMetrics.RowsRejected.Add(result.Rejected);
        IngestMetrics.BytesRead.Add(result.BytesRead);
        IngestMetrics.UnitDuration.Record(seconds);
    }

    // Loads the units and completes them in ONE transaction; null when any was fenced off (rolled back).
    private async Task<IReadOnlyList<UnitFence.Completion>?> LoadAndCompleteAsync(UnitLoader loader, long importId, string dispatch, IReadOnlyList<FencedUnit> units, bool batched, CancellationToken cancellationToken)
    {
        try
        {
            return await LoadAndCompleteOnceAsync(loader, importId, dispatch, units, batched, cancellationToken);
        }
        catch (DirectCopyConflictException)
        {
            // A key that exists already: rolled back, and the loader now stages this import's units
            // (a batch's one after another in one transaction). Load them again, staged.
            return await LoadAndCompleteOnceAsync(loader, importId, dispatch, units, batched, cancellationToken);
        }
    }

    private async Task<IReadOnlyList<UnitFence.Completion>?> LoadAndCompleteOnceAsync(UnitLoader loader, long importId, string dispatch, IReadOnlyList<FencedUnit> units, bool batched, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await UnitFence.BeginAttemptAsync(connection, dispatch, cancellationToken);
        var results = batched
            ? await loader.LoadBatchAsync(connection, importId, [.. units.Select(u => u.Key)], cancellationToken)
            : [await loader.LoadAsync(connection, importId, units.Single().Key, cancellationToken)];
        var loaded = units.Zip(results, (unit, result) => new UnitFence.Completion(unit, result)).ToList();
        if (!await UnitFence.CompleteAsync(connection, importId, loaded, batched, cancellationToken))
        {
            await tx.RollbackAsync(CancellationToken.None);
            return null;
        }
        // Past the fence the units are ours: commit even if the silo is stopping.
        await tx.CommitAsync(CancellationToken.None);
        return loaded;
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
