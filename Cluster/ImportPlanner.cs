using Ingest.Contracts;
using Ingest.Engine;
using Ingest.Engine.Loading;
using Ingest.Engine.Sources;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// Turns a <c>pending</c> import into units: lists its source, checks (or creates) its target table,
/// and stores one unit per file, all in the transaction that moves it to <c>running</c>. A node
/// that dies while planning leaves nothing behind, and the next node plans it afresh.
/// </summary>
public sealed class ImportPlanner(NpgsqlDataSource dataSource, ILogger logger)
{
    /// <summary>Plans one pending import if any is waiting and not being planned elsewhere; true if one was taken.</summary>
    public async Task<bool> PlanNextAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        long id;
        ImportSpec spec;
        await using (var pick = new NpgsqlCommand(
            "SELECT id, spec::text FROM ingest.imports WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", connection))
        await using (var r = await pick.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken)) return false;
            id = r.GetInt64(0);
            spec = ImportSpecJson.Deserialize(r.GetString(1));
        }

        IReadOnlyList<SourceObject> objects;
        try
        {
            objects = await SourceFactory.Create(spec.Source).ListAsync(cancellationToken);
            await new TargetTable(spec.Target).EnsureAsync(connection, cancellationToken);
        }
        catch (Exception e) when (e is SourceDataException or TargetTableException)
        {
            // Bad input will not fix itself: the import fails, with the reason, and nothing loads.
            await tx.RollbackAsync(cancellationToken);
            await FailAsync(id, e.Message, cancellationToken);
            logger.LogWarning("import {ImportId} ({Name}) failed at planning: {Error}", id, spec.Name, e.Message);
            return true;
        }

        await using (var units = new NpgsqlCommand(
            """
            INSERT INTO ingest.units (import_id, unit_no, key, size_bytes)
            SELECT $1, t.ord - 1, t.key, t.size FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS t(key, size, ord)
            ON CONFLICT DO NOTHING
            """, connection))
        {
            units.Parameters.AddWithValue(id);
            units.Parameters.AddWithValue(objects.Select(o => o.Key).ToArray());
            units.Parameters.AddWithValue(objects.Select(o => o.Size).ToArray());
            await units.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var start = new NpgsqlCommand("UPDATE ingest.imports SET state = 'running', started_at = now() WHERE id = $1", connection))
        {
            start.Parameters.AddWithValue(id);
            await start.ExecuteNonQueryAsync(cancellationToken);
        }
        await Events.WriteAsync(connection, id, null, null, "planned", $"{objects.Count} units", cancellationToken);
        await tx.CommitAsync(cancellationToken);
        logger.LogInformation("import {ImportId} ({Name}) planned: {Units} units", id, spec.Name, objects.Count);
        return true;
    }

    private async Task FailAsync(long id, string error, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using (var cmd = new NpgsqlCommand(
            "UPDATE ingest.imports SET state = 'failed', error = $2, finished_at = now() WHERE id = $1 AND state = 'pending'", connection))
        {
            cmd.Parameters.AddWithValue(id);
            cmd.Parameters.AddWithValue(error);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        await Events.WriteAsync(connection, id, null, null, "failed", error, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }
}
