using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of planning an import into units: a chunk of units stored in a transaction that holds
/// the import's row (the first one also starts the import), and the end of the listing.
/// </summary>
public static class PlannedUnits
{
    /// <summary>A unit just stored: its number, and its size when the source says.</summary>
    public readonly record struct PlannedUnit(int UnitNo, long? SizeBytes);

    /// <summary>The spec of an import still to be listed (pending or running, not planned); null otherwise.</summary>
    public static async Task<ImportSpec?> ToListAsync(NpgsqlDataSource dataSource, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"SELECT spec::text FROM ingest.imports WHERE id = $1 AND planned_at IS NULL AND state IN ({StateSql.Import.Pending}, {StateSql.Import.Running})");
        cmd.Parameters.AddWithValue(importId);
        return await cmd.ExecuteScalarAsync(cancellationToken) is string json ? ImportSpecJson.Deserialize(json) : null;
    }

    /// <summary>
    /// Locks the import's row for the caller's transaction while it is still being listed, and
    /// returns its state; null when it is planned already or gone. The lock keeps two activations of
    /// its grain (briefly possible after a failure) from storing at once.
    /// </summary>
    public static async Task<ImportState?> LockAsync(NpgsqlConnection connection, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("SELECT state FROM ingest.imports WHERE id = $1 AND planned_at IS NULL FOR UPDATE", connection);
        cmd.Parameters.AddWithValue(importId);
        return await cmd.ExecuteScalarAsync(cancellationToken) is string state ? StateNames.ToImportState(state) : null;
    }

    /// <summary>
    /// Moves a pending import to <c>running</c>, in the caller's transaction, with a relational
    /// target's <paramref name="tables"/> in the order its status shows them.
    /// </summary>
    public static async Task StartAsync(NpgsqlConnection connection, long importId, string[]? tables, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand($"UPDATE ingest.imports SET state = {StateSql.Import.Running}, started_at = now(), error = NULL, tables = $2 WHERE id = $1", connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)tables ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Stores the units of <paramref name="chunk"/> not stored before (by name: a file's key, with its range for a part of one), numbered after the
    /// import's last, and counts them into its totals, in the caller's transaction.
    /// </summary>
    public static async Task<IReadOnlyList<PlannedUnit>> InsertAsync(NpgsqlConnection connection, long importId, IReadOnlyList<UnitDescriptor> chunk, CancellationToken cancellationToken = default)
    {
        var units = new List<PlannedUnit>(chunk.Count);
        await using (var insert = new NpgsqlCommand(
            """
            INSERT INTO ingest.units (import_id, unit_no, key, size_bytes, descriptor)
            SELECT $1, (SELECT coalesce(max(unit_no) + 1, 0) FROM ingest.units WHERE import_id = $1) + row_number() OVER (ORDER BY t.ord) - 1,
                   t.key, t.size, t.descriptor
            FROM unnest($2::text[], $3::bigint[], $4::jsonb[]) WITH ORDINALITY AS t(key, size, descriptor, ord)
            WHERE NOT EXISTS (SELECT FROM ingest.units u WHERE u.import_id = $1 AND u.key = t.key)
            RETURNING unit_no, size_bytes
            """, connection))
        {
            insert.Parameters.AddWithValue(importId);
            insert.Parameters.AddWithValue(chunk.Select(u => u.Name).ToArray());
            insert.Parameters.AddWithValue(chunk.Select(u => u.Length).ToArray());
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = chunk.Select(UnitJson.Descriptor).ToArray() });
            await using var r = await insert.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) units.Add(new PlannedUnit(r.GetInt32(0), r.IsDBNull(1) ? null : r.GetInt64(1)));
        }
        await ImportCounters.AddAsync(connection, importId, 0, [
            new("units", "total", units.Count),
            new("units", "unsized", units.Count(u => u.SizeBytes is null)),
            new("bytes", "total", units.Sum(u => u.SizeBytes ?? 0))], cancellationToken);
        return units;
    }

    /// <summary>
    /// Marks a running import's listing ended (it may complete once its units have ended) and
    /// records the event; returns its number of units, or null when it is not running or planned already.
    /// </summary>
    public static async Task<int?> FinishAsync(NpgsqlDataSource dataSource, long importId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        int units;
        await using (var finish = new NpgsqlCommand(
            $"""
            UPDATE ingest.imports i SET planned_at = now()
            WHERE i.id = $1 AND i.planned_at IS NULL AND i.state = {StateSql.Import.Running}
            RETURNING (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id)::int
            """, connection))
        {
            finish.Parameters.AddWithValue(importId);
            if (await finish.ExecuteScalarAsync(cancellationToken) is not int count) return null;
            units = count;
        }
        await Events.WriteAsync(connection, importId, null, null, "planned", $"{units} units", cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return units;
    }

    /// <summary>
    /// Fresh statistics for units just stored: with the old ones PostgreSQL takes an import's
    /// thousands of units for a handful. Autovacuum would analyze only a minute later. Errors are
    /// dropped (autovacuum analyzes later); run it in the background: ANALYZE waits for an
    /// autovacuum of the table to end.
    /// </summary>
    public static async Task AnalyzeAsync(NpgsqlDataSource dataSource)
    {
        try
        {
            await using var analyze = dataSource.CreateCommand("ANALYZE ingest.units");
            await analyze.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException) { }
    }
}
