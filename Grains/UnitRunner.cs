using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Grains;

/// <summary>
/// Runs one attempt at a unit, top to bottom: claim it (the attempt counts, the fencing token is
/// bumped) → open it at its checkpoint → load its records into the target chunk by chunk, each chunk
/// committed with the unit's new checkpoint in ONE transaction fenced by the token, the last one
/// completing the unit → say how it ended. A slow attempt whose unit was taken over commits nothing
/// more. Bad input fails the unit at once (chunks committed before stay); other errors use up an
/// attempt, and so does one that outlives <c>retry.attemptTimeoutSeconds</c>. A batch of small
/// units runs with one mark for all (tokens bumped, no attempt used) and one transaction for all; a
/// key that exists already loads it again staged, and if anything else goes wrong it rolls back and
/// each of its units runs again alone, down the path above. Knows nothing of grains: a silo singleton.
/// </summary>
public sealed class UnitRunner(NpgsqlDataSource dataSource, ImportCatalog catalog, SourceRegistry sources, QueueConsumerRunner consumers, ILogger<UnitRunner> logger)
{
    /// <summary>An import's spec and its loader, kept while the silo runs its units.</summary>
    private sealed record LoadedImport(ImportSpec Spec, UnitLoader Loader);

    private readonly ConcurrentDictionary<long, CachedImport> _imports = new();

    // A loaded spec and loader, forgotten once no attempt asked for it for a while (its import ended,
    // or runs elsewhere): a loader keeps pools sized by its loads.
    private sealed class CachedImport(Task<LoadedImport> loading)
    {
        public Task<LoadedImport> Loading { get; } = loading;
        public long UsedAt = Environment.TickCount64;
    }

    private const long ForgetAfterMs = 10_000;

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
            logger.LogWarning("unit {ImportId}/{UnitNo}: could not be claimed ({Error}); it is handed out again", importId, unitNo, ErrorClassifier.Describe(e));
            return new UnitReport(unitNo, dispatch, UnitEnd.RetryLater, DateTimeOffset.UtcNow.AddSeconds(1), ErrorClassifier.Describe(e));
        }
        if (claimed.EndedTransactions > 0)
            logger.LogWarning("unit {ImportId}/{UnitNo}: ended the open transaction of its lost attempt (its silo froze or lost its network?)", importId, unitNo);
        if (claimed.Claim is not { } claim)
        {
            if (claimed.NotClaimed == UnitEnd.Failed)
                logger.LogWarning("unit {ImportId}/{UnitNo} end: failed ({Error})", importId, unitNo, claimed.Error);
            return new UnitReport(unitNo, dispatch, claimed.NotClaimed!.Value, Error: claimed.Error);
        }

        if (await GetContinuousAsync(importId) is { } continuous)
            return await consumers.RunAsync(continuous.Spec, continuous.Loader, claim, dispatch, abandon);

        var started = Stopwatch.GetTimestamp();
        logger.LogInformation("unit {ImportId}/{UnitNo} start: {Key} (attempt {Attempt}/{MaxAttempts}){From}",
            importId, unitNo, claim.Key, claim.Attempt, claim.MaxAttempts, claim.Checkpoint is { } from ? $" from record {from.Records}" : "");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abandon); // and retry.attemptTimeoutSeconds
        double? limit = null;
        try
        {
            var import = await GetImportAsync(importId);
            limit = import.Spec.Retry.AttemptTimeoutSeconds;
            if (limit is not null) timeout.CancelAfter(TimeSpan.FromSeconds(limit.Value));
            var result = await LoadChunksAsync(import, claim, dispatch, timeout.Token);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (result is null)
            {
                logger.LogWarning("unit {ImportId}/{UnitNo} end: fenced off (another attempt holds it, or it was cancelled), rolled back after {Seconds:F1}s",
                    importId, unitNo, seconds);
                return new UnitReport(unitNo, dispatch, UnitEnd.Superseded);
            }
            RecordDone(seconds);
            logger.LogInformation(
                "unit {ImportId}/{UnitNo} end: done in {Seconds:F2}s, read {Read}, inserted {Inserted}, updated {Updated}, unchanged {Unchanged}, rejected {Rejected}",
                importId, unitNo, seconds, result.RowsRead, result.Counts.Inserted, result.Counts.Updated, result.Counts.Unchanged, result.Rejected);
            return new UnitReport(unitNo, dispatch, UnitEnd.Done);
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested)
        {
            if (!handingBack())
            {
                // Its claim goes too: a cancelled unit stays cancelled, but one a retry reopened meanwhile is pending again, not held by this attempt.
                using var release = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await UnitFence.HandBackAsync(dataSource, claim, release.Token); }
                catch (Exception e) { logger.LogWarning("unit {ImportId}/{UnitNo}: its claim could not be released ({Error})", importId, unitNo, ErrorClassifier.Describe(e)); }
                logger.LogInformation("unit {ImportId}/{UnitNo} end: abandoned and rolled back", importId, unitNo);
                return new UnitReport(unitNo, dispatch, UnitEnd.Abandoned);
            }
            using var handBack = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var handedBack = await UnitFence.HandBackAsync(dataSource, claim, handBack.Token);
            logger.LogInformation("unit {ImportId}/{UnitNo} end: rolled back and handed back (silo stopping){Fenced}",
                importId, unitNo, handedBack ? "" : "; another attempt already held it");
            return new UnitReport(unitNo, dispatch, handedBack ? UnitEnd.HandedBack : UnitEnd.Superseded);
        }
        catch (Exception e)
        {
            IngestMetrics.UnitsFailed.Add(1);
            var terminal = ErrorClassifier.IsBadInput(e);
            var error = terminal ? e.Message
                : e is OperationCanceledException && timeout.IsCancellationRequested
                    ? $"{claim.Key}: the attempt was still running after {limit:0.###} s (retry.attemptTimeoutSeconds); it was cancelled and rolled back"
                    : $"{claim.Key}: {ErrorClassifier.Describe(e)}";
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
                logger.LogWarning("unit {ImportId}/{UnitNo}: the failure could not be recorded ({Error})", importId, unitNo, ErrorClassifier.Describe(recording));
                (end, notBefore) = (UnitEnd.RetryLater, DateTimeOffset.UtcNow.AddSeconds(1));
            }
            logger.LogWarning("unit {ImportId}/{UnitNo} end: attempt {Attempt}/{MaxAttempts} failed ({End}): {Error}",
                importId, unitNo, claim.Attempt, claim.MaxAttempts, end, error);
            if (ErrorClassifier.Classify(e) == ErrorKind.Fatal && await FailImportAsync(importId, error))
                return new UnitReport(unitNo, dispatch, UnitEnd.ImportFailed, Error: error);
            return new UnitReport(unitNo, dispatch, end, notBefore, error);
        }
    }

    // An error every unit would meet now (credentials refused): the import fails at once, its open units cancelled.
    private async Task<bool> FailImportAsync(long importId, string error)
    {
        try
        {
            await TransientErrors.Pipeline.ExecuteAsync(async ct => await catalog.FailRunningAsync(importId, error, ct), CancellationToken.None);
            logger.LogWarning("import {ImportId} failed: {Error}", importId, error);
            return true;
        }
        catch (Exception e)
        {
            logger.LogWarning("import {ImportId}: could not be failed ({Error}); its units fail one by one", importId, ErrorClassifier.Describe(e));
            return false;
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
            logger.LogWarning("units {ImportId}/{Units}: the batch could not be taken ({Error}); they run alone", importId, string.Join(',', units), ErrorClassifier.Describe(e));
            return [.. units.Select(u => Report(u, UnitEnd.RunAlone))];
        }
        if (!mark.ImportRunning) return [.. units.Select(u => Report(u, UnitEnd.ImportNotRunning))];
        // Units the mark did not take (ended since, or in a batch before) go their own way.
        var reports = units.Except(mark.Units.Select(u => u.UnitNo)).Select(u => Report(u, UnitEnd.RunAlone)).ToList();
        if (mark.Units.Count == 0) return [.. reports];

        var started = Stopwatch.GetTimestamp();
        var range = $"{mark.Units[0].UnitNo}..{mark.Units[^1].UnitNo}";
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abandon);
        try
        {
            var import = await GetImportAsync(importId);
            if (import.Spec.Retry.AttemptTimeoutSeconds is { } limit) timeout.CancelAfter(TimeSpan.FromSeconds(limit));
            var completed = await LoadBatchAsync(import, importId, dispatch, mark.Units, timeout.Token);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (completed is null)
            {
                logger.LogWarning("units {ImportId}/{Range}: batch of {Count} fenced off (another attempt took one of them, or a cancel), rolled back; they run alone",
                    importId, range, mark.Units.Count);
                reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.RunAlone, range));
                return [.. reports];
            }
            foreach (var unit in completed)
            {
                RecordLoaded(unit.Added);
                RecordDone(seconds / completed.Count);
            }
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
                // Released as for a single unit's abandon: what a retry reopened meanwhile is not left held by this attempt.
                reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.Abandoned, range));
                return [.. reports];
            }
            logger.LogInformation("units {ImportId}/{Range} end: batch of {Count} rolled back and handed back (silo stopping)", importId, range, mark.Units.Count);
            reports.AddRange(await ReleaseAsync(importId, dispatch, mark.Units, UnitEnd.HandedBack, range));
        }
        catch (Exception e)
        {
            // Credentials refused while the batch fetched its pages: the import is failed, its units cancelled.
            if (ErrorClassifier.Classify(e) == ErrorKind.Fatal && await FailImportAsync(importId, e.Message))
            {
                reports.AddRange(mark.Units.Select(u => Report(u.UnitNo, UnitEnd.ImportFailed)));
                return [.. reports];
            }
            // Bad input in one unit, a conflict, a lost connection, a timeout: alone, each unit fails, retries or loads on its own.
            logger.LogInformation("units {ImportId}/{Range}: batch of {Count} rolled back ({Error}); they run alone",
                importId, range, mark.Units.Count, ErrorClassifier.IsBadInput(e) ? e.Message : ErrorClassifier.Describe(e));
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
            logger.LogWarning("units {ImportId}/{Range}: the batch could not be released ({Error}); they run alone", importId, range, ErrorClassifier.Describe(e));
            end = UnitEnd.RunAlone;
        }
        return units.Select(u => new UnitReport(u.UnitNo, dispatch, end));
    }

    private static void RecordDone(double seconds)
    {
        IngestMetrics.UnitsCompleted.Add(1);
        IngestMetrics.UnitDuration.Record(seconds);
    }

    // What a committed load (a batch's unit, or a chunk) read.
    private static void RecordLoaded(UnitLoadResult added)
    {
        IngestMetrics.RowsRead.Add(added.RowsRead);
        IngestMetrics.RowsRejected.Add(added.Rejected);
        IngestMetrics.BytesRead.Add(added.BytesRead);
    }

    // Loads the unit from its checkpoint to its end, chunk by chunk, each committed with the unit's
    // new checkpoint in one fenced transaction; the last one completes the unit. The unit's reading
    // goes on from chunk to chunk; after an error it is opened again at the last checkpoint. Returns
    // what the unit's chunks did in all, or null when it was fenced off (the chunk rolled back).
    private async Task<UnitLoadResult?> LoadChunksAsync(LoadedImport import, UnitClaim claim, string dispatch, CancellationToken cancellationToken)
    {
        var loaded = claim.Committed;
        UnitReading? reading = null;
        try
        {
            while (true)
            {
                var chunk = await TransientErrors.Pipeline.ExecuteAsync(async ct =>
                {
                    try
                    {
                        // Opened (a page: fetched) before the chunk's transaction opens.
                        reading ??= await import.Loader.OpenAsync(claim.Unit, loaded.Checkpoint, ct);
                        try
                        {
                            return await LoadChunkAsync(import, claim, dispatch, reading, loaded, ct);
                        }
                        catch (LoadAgainException)
                        {
                            // A key that exists already: the chunk loads again at once from the last
                            // checkpoint, staged (the loader stages this import's units now).
                            reading = await AgainAsync(import, claim, reading, loaded, ct);
                            return await LoadChunkAsync(import, claim, dispatch, reading, loaded, ct);
                        }
                    }
                    catch (Exception e)
                    {
                        // Rolled back: whatever tries again reads the chunk again from the last checkpoint
                        // (a page fetched already is read again from memory, not fetched again).
                        var again = reading?.Replay();
                        if (reading is not null) await reading.DisposeAsync();
                        reading = again;
                        if (ErrorClassifier.IsTransient(e) && !ct.IsCancellationRequested)
                            logger.LogWarning("unit {ImportId}/{UnitNo}: {Error}; trying again from record {Records}",
                                claim.ImportId, claim.UnitNo, ErrorClassifier.Describe(e), loaded.Checkpoint?.Records ?? claim.Unit.First.Records);
                        throw;
                    }
                }, cancellationToken);
                if (chunk is null) return null;
                RecordLoaded(chunk.Added);
                loaded = chunk.Result;
                if (loaded.Checkpoint is null) return loaded;
                if (reading is { Exhausted: true })
                {
                    // A page read whole: the next one is fetched before the next transaction opens.
                    await reading.DisposeAsync();
                    reading = null;
                }
                logger.LogInformation("unit {ImportId}/{UnitNo}: chunk committed, {Records} records in", claim.ImportId, claim.UnitNo, loaded.Checkpoint.Records);
            }
        }
        finally
        {
            if (reading is not null) await reading.DisposeAsync();
        }
    }

    // The unit's reading again from the last checkpoint: from memory when it holds its content (a page), else opened again.
    private static async Task<UnitReading> AgainAsync(LoadedImport import, UnitClaim claim, UnitReading reading, UnitLoadResult loaded, CancellationToken cancellationToken)
    {
        var again = reading.Replay();
        await reading.DisposeAsync();
        return again ?? await import.Loader.OpenAsync(claim.Unit, loaded.Checkpoint, cancellationToken);
    }

    // One chunk in one transaction: its rows, and the unit's checkpoint (or its completion) fenced by its token.
    private async Task<UnitFence.Completion?> LoadChunkAsync(LoadedImport import, UnitClaim claim, string dispatch, UnitReading reading, UnitLoadResult loaded, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await UnitFence.BeginAttemptAsync(connection, dispatch, cancellationToken);
        // A page is one chunk: its checkpoint is the next page's cursor.
        var chunk = await import.Loader.LoadAsync(connection, claim.ImportId, reading, reading.Paged ? long.MaxValue : import.Loader.Source.ChunkRows(claim.Unit), cancellationToken);
        foreach (var warning in reading.Warnings)
            await Events.WriteAsync(connection, claim.ImportId, claim.UnitNo, null, "warning", warning, cancellationToken);
        var now = new UnitFence.Completion(claim.Fenced, loaded.Plus(chunk), chunk);
        bool fenced;
        if (now.Result.Checkpoint is null)
        {
            await RecordWatermarksAsync(connection, import.Spec, claim.ImportId, [now], cancellationToken);
            fenced = await UnitFence.CompleteAsync(connection, claim.ImportId, [now], batched: false, cancellationToken);
        }
        else fenced = await UnitFence.CommitChunkAsync(connection, claim.ImportId, now, loaded.Checkpoint, cancellationToken);
        if (!fenced)
        {
            await tx.RollbackAsync(CancellationToken.None);
            // Tried again after its commit's answer was lost, the chunk is in already: go on from it.
            var standing = await UnitFence.StandingAsync(dataSource, claim.ImportId, claim.UnitNo, cancellationToken);
            var committed = standing is { } s && s.Token == claim.Token
                && (now.Result.Checkpoint is null ? s.State == UnitState.Done : s.State == UnitState.Running && s.Checkpoint == now.Result.Checkpoint);
            return committed ? now : null;
        }
        // Past the fence the chunk is ours: commit even if the silo is stopping.
        await tx.CommitAsync(CancellationToken.None);
        return now;
    }

    // Loads a batch's units whole and completes them in ONE transaction; null when any was fenced off (rolled back).
    private async Task<IReadOnlyList<UnitFence.Completion>?> LoadBatchAsync(LoadedImport import, long importId, string dispatch, IReadOnlyList<FencedUnit> units, CancellationToken cancellationToken)
    {
        var fetched = import.Loader.Source.Fetches ? await FetchAsync(import.Loader.Source, units, cancellationToken) : null;
        try
        {
            return await LoadBatchOnceAsync(import, importId, dispatch, units, fetched, cancellationToken);
        }
        catch (LoadAgainException)
        {
            // A key that exists already: rolled back, and the loader now stages this import's units
            // (a batch's one after another in one transaction). Load them again, staged.
            return await LoadBatchOnceAsync(import, importId, dispatch, units, fetched, cancellationToken);
        }
        finally
        {
            foreach (var reading in fetched ?? []) await reading.DisposeAsync();
        }
    }

    // A batch of pages is fetched whole, eight at a time, before its transaction opens.
    private static async Task<UnitReading[]> FetchAsync(ImportSource source, IReadOnlyList<FencedUnit> units, CancellationToken cancellationToken)
    {
        var readings = new UnitReading?[units.Count];
        try
        {
            await Parallel.ForAsync(0, units.Count, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                async (i, ct) => readings[i] = await source.OpenAsync(units[i].Unit, null, ct));
            return readings!;
        }
        catch
        {
            foreach (var reading in readings) if (reading is not null) await reading.DisposeAsync();
            throw;
        }
    }

    private async Task<IReadOnlyList<UnitFence.Completion>?> LoadBatchOnceAsync(LoadedImport import, long importId, string dispatch, IReadOnlyList<FencedUnit> units,
        IReadOnlyList<UnitReading>? fetched, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await UnitFence.BeginAttemptAsync(connection, dispatch, cancellationToken);
        var results = await import.Loader.LoadBatchAsync(connection, importId, [.. units.Select(u => u.Unit)], fetched, cancellationToken);
        for (var i = 0; i < (fetched?.Count ?? 0); i++)
            foreach (var warning in fetched![i].Warnings)
                await Events.WriteAsync(connection, importId, units[i].UnitNo, null, "warning", warning, cancellationToken);
        var loaded = units.Zip(results, (unit, result) => new UnitFence.Completion(unit, result)).ToList();
        await RecordWatermarksAsync(connection, import.Spec, importId, loaded, cancellationToken);
        if (!await UnitFence.CompleteAsync(connection, importId, loaded, batched: true, cancellationToken))
        {
            await tx.RollbackAsync(CancellationToken.None);
            return null;
        }
        // Past the fence the units are ours: commit even if the silo is stopping.
        await tx.CommitAsync(CancellationToken.None);
        return loaded;
    }

    // The import when it consumes a queue (its unit is a consumer that runs until stopped), else null.
    private async Task<LoadedImport?> GetContinuousAsync(long importId)
    {
        try
        {
            var import = await GetImportAsync(importId);
            return import.Spec.Source.IsContinuous ? import : null;
        }
        catch (Exception)
        {
            return null; // the load below meets the same error, and reports it as a failed attempt
        }
    }
    // An incremental import's units that read their files to the end: what they read goes into the
    // watermark store in the transaction that completes them, so the store holds what committed, no
    // more and no less. Before the completion, which must stay the last statement (it locks the unit rows).
    private static Task RecordWatermarksAsync(NpgsqlConnection connection, ImportSpec spec, long importId, IReadOnlyList<UnitFence.Completion> units, CancellationToken cancellationToken) =>
        spec.Source.IncrementalFiles
            ? Watermarks.RecordFilesAsync(connection, spec.Name,
                [.. units.Select(u => u.Result.Version is { } version ? FileWatermark.Of(u.Unit.Unit, version, importId) : null).OfType<FileWatermark>()],
                cancellationToken)
            : Task.CompletedTask;

    private async Task<LoadedImport> GetImportAsync(long importId)
    {
        var now = Environment.TickCount64;
        foreach (var entry in _imports)
            if (now - Volatile.Read(ref entry.Value.UsedAt) > ForgetAfterMs) _imports.TryRemove(entry);
        var cached = _imports.GetOrAdd(importId, id => new CachedImport(LoadSpecAsync(id)));
        Volatile.Write(ref cached.UsedAt, now);
        try { return await cached.Loading; }
        catch
        {
            _imports.TryRemove(KeyValuePair.Create(importId, cached)); // retry the load next time
            throw;
        }
    }

    private async Task<LoadedImport> LoadSpecAsync(long importId)
    {
        var spec = await catalog.GetSpecAsync(importId) ?? throw new InvalidOperationException($"import {importId} does not exist");
        return new LoadedImport(spec, UnitLoader.For(spec, sources));
    }
}
