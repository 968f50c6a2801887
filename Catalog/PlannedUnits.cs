using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of planning an import into units: a chunk of units stored in a transaction that holds
/// the import's row (the first one also starts the import), with the files an incremental import
/// skips, and the end of the listing.
/// </summary>
public static class PlannedUnits
{
    /// <summary>A unit just stored: its number, and its size when the source says.</summary>
    public readonly record struct PlannedUnit(int UnitNo, long? SizeBytes);

    /// <summary>
    /// An import still to be listed: its spec (with the lower bound it reads from, once fixed), and
    /// whether it ignores the watermark store (<c>submit --full</c>); <paramref name="SinceFixed"/>
    /// once an import read by cursor has its bound (<see cref="FixSinceAsync"/>).
    /// </summary>
    public sealed record ImportToList(ImportSpec Spec, bool FullLoad, bool SinceFixed = false);

    /// <summary>The import if it is still to be listed (pending or running, not planned); null otherwise.</summary>
    public static async Task<ImportToList?> ToListAsync(NpgsqlDataSource dataSource, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"SELECT spec::text, full_load, since::text FROM ingest.imports WHERE id = $1 AND planned_at IS NULL AND state IN ({StateSql.Import.Pending}, {StateSql.Import.Running})");
        cmd.Parameters.AddWithValue(importId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return null;
        var since = r.IsDBNull(2) ? null : r.GetString(2);
        return new ImportToList(WithSince(ImportSpecJson.Deserialize(r.GetString(0)), since), r.GetBoolean(1), since is not null);
    }

    /// <summary>
    /// Stores the spec as planning resolved it (a SQL source's <c>"columns": "*"</c> replaced by its
    /// columns), while the import is still being listed, so that every unit maps the same columns.
    /// </summary>
    public static async Task ResolveAsync(NpgsqlDataSource dataSource, long importId, ImportSpec spec, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE ingest.imports SET spec = $2::jsonb WHERE id = $1 AND planned_at IS NULL");
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(ImportSpecJson.Serialize(spec));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Fixes the lower bound an import read by cursor reads from (<c>ingest.imports.since</c>; a JSON
    /// null for none) unless it was fixed before (a planning tried again, another activation), and
    /// returns the spec with the bound that holds.
    /// </summary>
    public static async Task<ImportSpec> FixSinceAsync(NpgsqlDataSource dataSource, long importId, ImportSpec spec, System.Text.Json.JsonElement since, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE ingest.imports SET since = coalesce(since, $2::jsonb) WHERE id = $1 RETURNING since::text");
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, since.GetRawText());
        return WithSince(spec, await cmd.ExecuteScalarAsync(cancellationToken) as string);
    }

    /// <summary><paramref name="spec"/> with the bound its import reads from (<c>since</c> as stored; null or JSON null: none).</summary>
    internal static ImportSpec WithSince(ImportSpec spec, string? since) =>
        since is null ? spec : spec with { Source = spec.Source with { Since = System.Text.Json.JsonDocument.Parse(since).RootElement.Clone() } };

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
        if (chunk.Count == 0) return [];
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
    /// Records the files of <paramref name="skipped"/> an incremental import skips, in the caller's
    /// transaction, and counts them into its totals: files stored as units of the import (a listing
    /// taken up again after they loaded: a unit named by the file's key, or one of its byte ranges,
    /// whose units are named <c>key [start-end)</c> and carry the key in their descriptor) and files
    /// recorded before are left out.
    /// </summary>
    public static async Task SkipAsync(NpgsqlConnection connection, long importId, IReadOnlyList<SkippedFile> skipped, CancellationToken cancellationToken = default)
    {
        if (skipped.Count == 0) return;
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO ingest.skipped_files (import_id, key, version, size_bytes, committed_by)
            SELECT $1, t.key, t.version, t.size, t.committed_by
            FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS t(key, version, size, committed_by)
            WHERE NOT EXISTS (SELECT FROM ingest.units u WHERE u.import_id = $1 AND u.key = t.key)
              AND NOT EXISTS (SELECT FROM ingest.units u WHERE u.import_id = $1 AND u.descriptor ? 'range' AND u.descriptor->>'key' = t.key)
            ON CONFLICT (import_id, key) DO NOTHING
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(skipped.Select(f => f.Key).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = skipped.Select(f => f.Version).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = skipped.Select(f => f.SizeBytes).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = skipped.Select(f => f.CommittedBy).ToArray() });
        var added = await cmd.ExecuteNonQueryAsync(cancellationToken);
        await ImportCounters.AddAsync(connection, importId, 0, [new("files", "skipped", added)], cancellationToken);
    }

    /// <summary>
    /// Marks a running import's listing ended (it may complete once its units have ended) and
    /// records the event; returns its number of units, or null when it is not running or planned already.
    /// </summary>
    public static async Task<int?> FinishAsync(NpgsqlDataSource dataSource, long importId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        int units, skipped;
        await using (var finish = new NpgsqlCommand(
            $"""
            UPDATE ingest.imports i SET planned_at = now()
            WHERE i.id = $1 AND i.planned_at IS NULL AND i.state = {StateSql.Import.Running}
            RETURNING (SELECT count(*) FROM ingest.units u WHERE u.import_id = i.id)::int,
                      (SELECT count(*) FROM ingest.skipped_files s WHERE s.import_id = i.id)::int
            """, connection))
        {
            finish.Parameters.AddWithValue(importId);
            await using var r = await finish.ExecuteReaderAsync(cancellationToken);
            if (!await r.ReadAsync(cancellationToken)) return null;
            (units, skipped) = (r.GetInt32(0), r.GetInt32(1));
        }
        await Events.WriteAsync(connection, importId, null, null, "planned", skipped > 0 ? $"{units} units, {skipped} files skipped" : $"{units} units", cancellationToken);
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
