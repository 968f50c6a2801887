using System.Collections.Concurrent;
using System.Diagnostics;
using Ingest.Contracts;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Runs one claimed unit: its rows and its completion commit in one transaction, fenced by the
/// claim's lease token, so the unit's effect on the target happens exactly once even when a slow
/// node's lease was taken over. Bad input fails the unit at once; other errors use up an attempt.
/// </summary>
public sealed class UnitRunner(NpgsqlDataSource dataSource, ILogger logger)
{
    private readonly ConcurrentDictionary<long, Task<UnitLoader>> _loaders = new();

    /// <summary>
    /// Runs the claim until it commits, fails, or <paramref name="cancellationToken"/> abandons it (rolled back).
    /// Returns false when the unit committed while others of its import were still pending: then it
    /// cannot have been the import's last, and the import need not be checked for its end.
    /// </summary>
    public async Task<bool> RunAsync(UnitClaim claim, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        logger.LogInformation("unit {ImportId}/{UnitNo} start: {Key} (attempt {Attempt}/{MaxAttempts})",
            claim.ImportId, claim.UnitNo, claim.Key, claim.Attempt, claim.MaxAttempts);
        try
        {
            var loader = await GetLoaderAsync(claim.ImportId);
            var (morePending, result) = await TransientErrors.Pipeline.ExecuteAsync(
                async ct => await LoadAndCompleteAsync(loader, claim, ct), cancellationToken);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (morePending is null)
            {
                logger.LogWarning("unit {ImportId}/{UnitNo} end: lease lost (taken over or cancelled), rolled back after {Seconds:F1}s",
                    claim.ImportId, claim.UnitNo, seconds);
                return true;
            }
            IngestMetrics.UnitsCompleted.Add(1);
            IngestMetrics.RowsRead.Add(result!.RowsRead);
            IngestMetrics.RowsRejected.Add(result.Rejected);
            IngestMetrics.BytesRead.Add(result.BytesRead);
            IngestMetrics.UnitDuration.Record(seconds);
            logger.LogInformation(
                "unit {ImportId}/{UnitNo} end: done in {Seconds:F2}s, read {Read}, inserted {Inserted}, updated {Updated}, unchanged {Unchanged}, rejected {Rejected}",
                claim.ImportId, claim.UnitNo, seconds, result.RowsRead, result.Counts.Inserted, result.Counts.Updated, result.Counts.Unchanged, result.Rejected);
            return !morePending.Value;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogInformation("unit {ImportId}/{UnitNo} end: abandoned and rolled back", claim.ImportId, claim.UnitNo);
            throw;
        }
        catch (Exception e)
        {
            IngestMetrics.UnitsFailed.Add(1);
            var terminal = e is SourceDataException or TargetTableException;
            var error = terminal ? e.Message : $"{claim.Key}: {Describe(e)}";
            var state = await TransientErrors.Pipeline.ExecuteAsync(
                async ct => await UnitOutcome.FailAsync(dataSource, claim, error, terminal, ct), cancellationToken);
            logger.LogWarning("unit {ImportId}/{UnitNo} end: attempt {Attempt}/{MaxAttempts} failed ({State}): {Error}",
                claim.ImportId, claim.UnitNo, claim.Attempt, claim.MaxAttempts, state ?? "lease lost", error);
            return true;
        }
    }

    // Returns null when fenced off (rolled back), else whether other units of the import are still pending.
    private async Task<(bool? MorePending, UnitLoadResult? Result)> LoadAndCompleteAsync(UnitLoader loader, UnitClaim claim, CancellationToken cancellationToken)
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

    private async Task<(bool? MorePending, UnitLoadResult? Result)> LoadAndCompleteOnceAsync(UnitLoader loader, UnitClaim claim, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var result = await loader.LoadAsync(connection, claim.Key, cancellationToken);
        if (await UnitOutcome.CompleteAsync(connection, claim, result, cancellationToken) is not { } morePending)
        {
            await tx.RollbackAsync(CancellationToken.None);
            return (null, null);
        }
        // Past the fence the unit is ours: commit even if the node is stopping.
        await tx.CommitAsync(CancellationToken.None);
        return (morePending, result);
    }

    private async Task<UnitLoader> GetLoaderAsync(long importId)
    {
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

    /// <summary>Forgets cached loaders of imports that ended.</summary>
    public void Forget(long importId) => _loaders.TryRemove(importId, out _);

    private static string Describe(Exception e) => e switch
    {
        PostgresException pg => $"PostgreSQL {pg.SqlState}: {pg.MessageText}{(pg.Detail is null ? "" : " (" + pg.Detail + ")")}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
