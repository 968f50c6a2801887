using System.Diagnostics;
using Ingest.Engine.Loading;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Grains;

/// <summary>
/// Turns an import into units as its source lists them, in chunks (5,000 units, or what a
/// quarter of a second listed), each in a transaction of its own and handed to the import grain as
/// it commits, so units load while the listing goes on. The first chunk also checks (or creates)
/// the target's tables and moves the import to <c>running</c>. The import is planned when its listing ends.
/// A listing cut short (a silo died) is taken up again from its start: units stored already are
/// skipped by key.
/// </summary>
public sealed class ImportPlanner(NpgsqlDataSource dataSource, SourceRegistry sources)
{
    private const int ChunkUnits = 5000;
    private static readonly TimeSpan ChunkTime = TimeSpan.FromMilliseconds(250);

    /// <summary>A unit just stored: its number, and its size when the source says.</summary>
    public readonly record struct PlannedUnit(int UnitNo, long? SizeBytes);

    /// <summary>Plans the import as <see cref="PlanAsync(long, Func{IReadOnlyList{PlannedUnit}, Task}, CancellationToken)"/> does, with nobody to tell of its units as they are stored.</summary>
    public Task<int?> PlanAsync(long importId, CancellationToken cancellationToken = default) =>
        PlanAsync(importId, _ => Task.CompletedTask, cancellationToken);

    /// <summary>
    /// Plans the import if it is pending, or takes up its listing if that was cut short; calls
    /// <paramref name="stored"/> with each chunk of units as it commits. Returns the number of units
    /// the import has, or null when there was nothing to plan (planned already, or cancelled). Bad
    /// input throws <see cref="Engine.SourceDataException"/> (nothing matches, the folder is
    /// missing) or <see cref="TargetTableException"/>; anything else is worth trying again.
    /// </summary>
    public async Task<int?> PlanAsync(long importId, Func<IReadOnlyList<PlannedUnit>, Task> stored, CancellationToken cancellationToken = default)
    {
        ImportSpec spec;
        await using (var pick = dataSource.CreateCommand(
            "SELECT spec::text FROM ingest.imports WHERE id = $1 AND planned_at IS NULL AND state IN ('pending', 'running')"))
        {
            pick.Parameters.AddWithValue(importId);
            if (await pick.ExecuteScalarAsync(cancellationToken) is not string json) return null;
            spec = ImportSpecJson.Deserialize(json);
        }

        var source = sources.For(spec.Source);
        var chunk = new List<UnitDescriptor>();
        var listed = 0;
        var since = new Stopwatch(); // since the chunk's first unit was listed
        await foreach (var unit in source.PlanAsync(cancellationToken))
        {
            if (chunk.Count == 0) since.Restart();
            chunk.Add(unit);
            listed++;
            if (chunk.Count < ChunkUnits && since.Elapsed < ChunkTime) continue;
            if (!await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
            chunk.Clear();
        }
        if (listed == 0) throw source.NothingMatches();
        if (chunk.Count > 0 && !await StoreAsync(importId, spec, chunk, stored, cancellationToken)) return null;
        return await FinishAsync(importId, cancellationToken);
    }

    // Stores a chunk of units (those not stored before); false when the import was paused or cancelled
    // meanwhile (a resume lists again, skipping the units stored).
    private async Task<bool> StoreAsync(long importId, ImportSpec spec, List<UnitDescriptor> chunk, Func<IReadOnlyList<PlannedUnit>, Task> stored, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        string? state;
        // The row lock keeps two activations of the grain (briefly possible after a failure) from both planning.
        await using (var lockImport = new NpgsqlCommand("SELECT state FROM ingest.imports WHERE id = $1 AND planned_at IS NULL FOR UPDATE", connection))
        {
            lockImport.Parameters.AddWithValue(importId);
            state = (string?)await lockImport.ExecuteScalarAsync(cancellationToken);
        }
        if (state is not (ImportState.Pending or ImportState.Running)) return false;
        if (state == ImportState.Pending)
        {
            // A relational target's tables in dependency order: dimensions, the root, then its children (foreign keys point back).
            IEnumerable<TargetTable> tables = spec.Target.IsRelational ? new LoadPlan(spec.Target).Tables.Select(t => t.Target) : [new TargetTable(spec.Target)];
            foreach (var table in tables) await table.EnsureAsync(connection, cancellationToken);
            await using var start = new NpgsqlCommand("UPDATE ingest.imports SET state = 'running', started_at = now(), error = NULL WHERE id = $1", connection);
            start.Parameters.AddWithValue(importId);
            await start.ExecuteNonQueryAsync(cancellationToken);
        }

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
            insert.Parameters.AddWithValue(chunk.Select(u => u.Key).ToArray());
            insert.Parameters.AddWithValue(chunk.Select(u => u.Size).ToArray());
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb, Value = chunk.Select(UnitJson.Descriptor).ToArray() });
            await using var r = await insert.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken)) units.Add(new PlannedUnit(r.GetInt32(0), r.IsDBNull(1) ? null : r.GetInt64(1)));
        }
        await ImportCounters.AddAsync(connection, importId, 0, [
            new("units", "total", units.Count),
            new("units", "unsized", units.Count(u => u.SizeBytes is null)),
            new("bytes", "total", units.Sum(u => u.SizeBytes ?? 0))], cancellationToken);
        await tx.CommitAsync(cancellationToken);
        if (units.Count > 0) await stored(units);
        return true;
    }

    // The listing ended: the import is planned, and may complete once its units have ended.
    private async Task<int?> FinishAsync(long importId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        int units;
        await using (var finish = new NpgsqlCommand(
            """
            UPDATE ingest.imports i SET planned_at = now()
            WHERE i.id = $1 AND i.planned_at IS NULL AND i.state = 'running'
            RETURNING (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id)::int
            """, connection))
        {
            finish.Parameters.AddWithValue(importId);
            if (await finish.ExecuteScalarAsync(cancellationToken) is not int count) return null;
            units = count;
        }
        await Events.WriteAsync(connection, importId, null, null, "planned", $"{units} units", cancellationToken);
        await tx.CommitAsync(cancellationToken);
        if (units >= 1000) _ = AnalyzeUnitsAsync();
        return units;
    }

    // Fresh statistics for the units just stored: with the old ones PostgreSQL takes an import's
    // thousands of units for a handful, and a batch's mark scans all of them to find its few.
    // Autovacuum would analyze only a minute later. In the background: ANALYZE waits for an
    // autovacuum of the table to end, and the import must not wait for it to complete.
    private async Task AnalyzeUnitsAsync()
    {
        try
        {
            await using var analyze = dataSource.CreateCommand("ANALYZE ingest.units");
            await analyze.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException) { } // autovacuum analyzes later
    }
}
