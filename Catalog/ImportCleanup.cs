using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>What a cleanup removed (or, dry, would remove): the imports, and their rows in the catalog.</summary>
/// <param name="Imports">The imports' ids, oldest first.</param>
/// <param name="Unsent">Imports that would be removed but are kept until their events are sent (<c>notify</c>).</param>
public sealed record CleanupResult(IReadOnlyList<long> Imports, long Units, long Rejects, long Events, IReadOnlyList<long> Unsent);

/// <summary>
/// Removes ended imports from the catalog: their rows in <c>ingest.imports</c>, and with them their
/// units, rejects, events and totals (and an incremental import's skipped files). Never a target
/// table's rows, and nothing that is kept by import name rather than by import: the watermark
/// store (<see cref="Watermarks"/>) holds no reference to an import row and outlives them. An
/// import whose events the outbox has yet to send is kept until they are sent or given up
/// (<c>INGEST_EVENT_MAX_AGE_SECONDS</c>).
/// </summary>
public sealed class ImportCleanup(NpgsqlDataSource dataSource)
{
    /// <summary>The states a cleanup removes unless told otherwise: every final one.</summary>
    public static IReadOnlyList<ImportState> Ended { get; } = [.. Enum.GetValues<ImportState>().Where(s => s.IsFinal())];

    /// <summary>
    /// Removes the imports in <paramref name="states"/> (final states only) that ended more than
    /// <paramref name="olderThan"/> ago; with <paramref name="dryRun"/>, only says which.
    /// </summary>
    public async Task<CleanupResult> RunAsync(IReadOnlyCollection<ImportState> states, TimeSpan olderThan, bool dryRun, CancellationToken cancellationToken = default)
    {
        foreach (var state in states)
            if (!state.IsFinal()) throw new ArgumentException($"an import that is {state.Name()} has not ended: it is never cleaned up", nameof(states));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var (ids, unsent) = (new List<long>(), new List<long>());
        await using (var old = new NpgsqlCommand(
            $"""
            SELECT i.id, EXISTS (SELECT FROM ingest.events e WHERE e.import_id = i.id AND {Outbox.Unsent})
            FROM ingest.imports i WHERE i.state = ANY($1) AND i.finished_at < now() - $2 ORDER BY i.id FOR UPDATE OF i
            """, connection))
        {
            old.Parameters.AddWithValue(states.Select(s => s.Name()).ToArray());
            old.Parameters.AddWithValue(olderThan);
            await using var r = await old.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) (r.GetBoolean(1) ? unsent : ids).Add(r.GetInt64(0));
        }
        await using var count = new NpgsqlCommand(
            """
            SELECT (SELECT count(*) FROM ingest.units WHERE import_id = ANY($1)),
                   (SELECT count(*) FROM ingest.rejects WHERE import_id = ANY($1)),
                   (SELECT count(*) FROM ingest.events WHERE import_id = ANY($1))
            """, connection);
        count.Parameters.AddWithValue(ids.ToArray());
        CleanupResult result;
        await using (var r = await count.ExecuteReaderAsync(cancellationToken))
        {
            await r.ReadAsync(cancellationToken);
            result = new CleanupResult(ids, r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), unsent);
        }
        if (dryRun || ids.Count == 0) return result;
        // The foreign keys cascade to units, rejects, events and totals.
        await using (var delete = new NpgsqlCommand("DELETE FROM ingest.imports WHERE id = ANY($1)", connection))
        {
            delete.Parameters.AddWithValue(ids.ToArray());
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return result;
    }
}
