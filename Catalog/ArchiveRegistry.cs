using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of archiving raw files: the registry (<c>ingest.archive</c>, one row per bucket and key
/// across imports) and what archiving did with each loaded file (<c>ingest.archived_files</c>); the
/// loaded files still to archive, the claims that keep two silos from archiving one file, and each
/// outcome, counted in the import's counters (scope <c>archive</c>) in the transaction that records it.
/// </summary>
public sealed class ArchiveRegistry(NpgsqlDataSource dataSource)
{
    /// <summary>The counters' scope: <c>uploaded</c>, <c>pre_existing</c>, <c>error</c>.</summary>
    public const string CounterScope = "archive";

    // An import whose loaded files may still need archiving (the predicate of the imports_archiving index).
    private const string Archiving =
        "jsonb_typeof(i.spec->'archive') = 'object' AND (i.archived_at IS NULL OR i.finished_at IS NULL OR i.archived_at < i.finished_at)";

    // A unit that stands for a loaded file: done, and for a file split into ranges its first range,
    // once every range is done.
    private static readonly string Loaded =
        $"""
        u.state = {StateSql.Unit.Done} AND (u.descriptor->'range' IS NULL OR NOT EXISTS (
          SELECT FROM ingest.units v
          WHERE v.import_id = u.import_id AND v.descriptor->>'key' = u.descriptor->>'key' AND (v.state <> {StateSql.Unit.Done} OR v.unit_no < u.unit_no)))
        """;

    /// <summary>
    /// Loaded files of imports with an archive that have no outcome yet, and that no silo holds (no
    /// claim, or one older than <paramref name="lease"/>), oldest first.
    /// </summary>
    public async Task<IReadOnlyList<ArchiveWork>> WorkAsync(TimeSpan lease, int limit, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT u.import_id, i.name, i.spec::text, u.unit_no, u.descriptor::text, u.key, u.size_bytes,
                   CASE WHEN u.descriptor->'range' IS NULL THEN u.finished_at
                        ELSE (SELECT max(v.finished_at) FROM ingest.units v WHERE v.import_id = u.import_id AND v.descriptor->>'key' = u.descriptor->>'key') END
            FROM ingest.imports i
            JOIN ingest.units u ON u.import_id = i.id
            LEFT JOIN ingest.archived_files a ON a.import_id = u.import_id AND a.unit_no = u.unit_no
            WHERE {Archiving} AND {Loaded}
              AND (a.import_id IS NULL OR (a.outcome = '{ArchiveStatus.Pending}' AND a.claimed_at < now() - $1))
            ORDER BY u.import_id, u.unit_no
            LIMIT $2
            """);
        cmd.Parameters.AddWithValue(lease);
        cmd.Parameters.AddWithValue(limit);
        var work = new List<ArchiveWork>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            work.Add(new ArchiveWork(r.GetInt64(0), r.GetString(1), ImportSpecJson.Deserialize(r.GetString(2)), r.GetInt32(3),
                UnitJson.Descriptor(r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5), r.IsDBNull(6) ? null : r.GetInt64(6)),
                r.GetFieldValue<DateTimeOffset>(7)));
        return work;
    }

    /// <summary>
    /// Notes the ended imports whose every loaded file has an outcome, so that <see cref="WorkAsync"/>
    /// looks at their units no more (until one ends again after a retry).
    /// </summary>
    public async Task MarkArchivedAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            UPDATE ingest.imports i SET archived_at = now()
            WHERE {Archiving} AND i.finished_at IS NOT NULL AND NOT EXISTS (
              SELECT FROM ingest.units u LEFT JOIN ingest.archived_files a ON a.import_id = u.import_id AND a.unit_no = u.unit_no
              WHERE u.import_id = i.id AND {Loaded} AND (a.import_id IS NULL OR a.outcome = '{ArchiveStatus.Pending}'))
            """);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Claims a loaded file for <paramref name="claim"/>: a file no silo has claimed, or whose claim is
    /// older than <paramref name="lease"/>. False when another silo holds it or it has an outcome.
    /// </summary>
    public async Task<bool> ClaimAsync(ArchiveWork work, Guid claim, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"""
            INSERT INTO ingest.archived_files AS a (import_id, unit_no, file, outcome, claim) VALUES ($1, $2, $3, '{ArchiveStatus.Pending}', $4)
            ON CONFLICT (import_id, unit_no) DO UPDATE SET claim = excluded.claim, claimed_at = now()
            WHERE a.outcome = '{ArchiveStatus.Pending}' AND a.claimed_at < now() - $5
            RETURNING 1
            """);
        cmd.Parameters.AddWithValue(work.ImportId);
        cmd.Parameters.AddWithValue(work.UnitNo);
        cmd.Parameters.AddWithValue(work.Unit.Key);
        cmd.Parameters.AddWithValue(claim);
        cmd.Parameters.AddWithValue(lease);
        try
        {
            return await cmd.ExecuteScalarAsync(cancellationToken) is not null;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            return false; // the import was removed from the catalog meanwhile
        }
    }

    /// <summary>Renews a claim, as its silo works on; false when it is no longer held (it lapsed and another silo took it, or it ended).</summary>
    public async Task<bool> RenewAsync(Guid claim, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"UPDATE ingest.archived_files SET claimed_at = now() WHERE claim = $1 AND outcome = '{ArchiveStatus.Pending}'");
        cmd.Parameters.AddWithValue(claim);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Lets a claim go (its silo is stopping): another silo may take the file over at once.</summary>
    public async Task ReleaseAsync(Guid claim, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            $"UPDATE ingest.archived_files SET claimed_at = '-infinity' WHERE claim = $1 AND outcome = '{ArchiveStatus.Pending}'");
        cmd.Parameters.AddWithValue(claim);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Registers a file's content at its key for <paramref name="claim"/> before anything is uploaded
    /// there. The key's row is taken when it is new, when its last registration failed, or when the
    /// same content was registered by a claim that has lapsed (its silo died mid-upload); otherwise
    /// it is left as it is. Returns what was found and, unless the key was free, who registered it.
    /// </summary>
    public async Task<(ArchiveRegistration Found, string? Holder)> RegisterAsync(ArchiveEntry entry, Guid claim, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using (var insert = Entry(connection, entry, claim,
            $"""
            INSERT INTO ingest.archive (bucket, key, file, size_bytes, sha256, content_type, status, import_id, claim)
            VALUES ($1, $2, $3, $4, $5, $6, '{ArchiveStatus.Pending}', $7, $8)
            ON CONFLICT (bucket, key) DO NOTHING
            """))
        {
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                await tx.CommitAsync(cancellationToken);
                return (ArchiveRegistration.New, null);
            }
        }

        string status, holder;
        bool same, live;
        await using (var read = Entry(connection, entry, claim,
            $"""
            SELECT a.status, a.size_bytes = $4 AND a.sha256 = $5,
                   EXISTS (SELECT FROM ingest.archived_files f WHERE f.claim = a.claim AND f.outcome = '{ArchiveStatus.Pending}' AND f.claimed_at >= now() - $9),
                   format('%s of import %s (%s bytes, sha256 %s, %s)', a.file, a.import_id, a.size_bytes, a.sha256, a.status)
            FROM ingest.archive a WHERE a.bucket = $1 AND a.key = $2
            FOR UPDATE
            """))
        {
            read.Parameters.AddWithValue(lease);
            await using var r = await read.ExecuteReaderAsync(cancellationToken);
            if (!await r.ReadAsync(cancellationToken)) throw new InvalidOperationException($"the registry row of s3://{entry.Bucket}/{entry.Key} vanished");
            (status, same, live, holder) = (r.GetString(0), r.GetBoolean(1), r.GetBoolean(2), r.GetString(3));
        }

        var found = status switch
        {
            ArchiveStatus.Error => ArchiveRegistration.Retried,
            ArchiveStatus.Pending when same && !live => ArchiveRegistration.Resumed,
            ArchiveStatus.Pending when same => ArchiveRegistration.Busy,
            _ when same => ArchiveRegistration.Archived,
            _ => ArchiveRegistration.Conflict,
        };
        if (found is ArchiveRegistration.Retried or ArchiveRegistration.Resumed)
        {
            await using var take = Entry(connection, entry, claim,
                $"""
                UPDATE ingest.archive SET file = $3, size_bytes = $4, sha256 = $5, content_type = $6, status = '{ArchiveStatus.Pending}', error = NULL,
                                          import_id = $7, claim = $8, updated_at = now()
                WHERE bucket = $1 AND key = $2
                """);
            await take.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return (found, holder);
    }

    // A statement on a registry row, with the entry and the claim as $1 to $8.
    private static NpgsqlCommand Entry(NpgsqlConnection connection, ArchiveEntry entry, Guid claim, string sql)
    {
        var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.AddWithValue(entry.Bucket);
        cmd.Parameters.AddWithValue(entry.Key);
        cmd.Parameters.AddWithValue(entry.File);
        cmd.Parameters.AddWithValue(entry.Size);
        cmd.Parameters.AddWithValue(entry.Sha256);
        cmd.Parameters.AddWithValue(entry.ContentType);
        cmd.Parameters.AddWithValue(entry.ImportId);
        cmd.Parameters.AddWithValue(claim);
        return cmd;
    }

    /// <summary>
    /// Records how archiving a file ended, if <paramref name="claim"/> still holds it: its outcome, the
    /// key's registry row when the claim held it, the import's counters, and an event for an error;
    /// one transaction. False when the claim was lost (another silo took the file over).
    /// </summary>
    public async Task<bool> EndAsync(ArchiveWork work, Guid claim, ArchiveOutcome outcome, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using (var file = new NpgsqlCommand(
            $"""
            UPDATE ingest.archived_files SET outcome = $4, bucket = $5, key = $6, error = $7, claimed_at = now()
            WHERE import_id = $1 AND unit_no = $2 AND claim = $3 AND outcome = '{ArchiveStatus.Pending}'
            """, connection))
        {
            file.Parameters.AddWithValue(work.ImportId);
            file.Parameters.AddWithValue(work.UnitNo);
            file.Parameters.AddWithValue(claim);
            file.Parameters.AddWithValue(outcome.Status);
            file.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)outcome.Bucket ?? DBNull.Value);
            file.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)outcome.Key ?? DBNull.Value);
            file.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)outcome.Error ?? DBNull.Value);
            if (await file.ExecuteNonQueryAsync(cancellationToken) == 0) return false;
        }
        if (outcome.Registered)
        {
            await using var registry = new NpgsqlCommand(
                $"""
                UPDATE ingest.archive SET status = $4, error = $5, updated_at = now()
                WHERE bucket = $1 AND key = $2 AND claim = $3 AND status = '{ArchiveStatus.Pending}'
                """, connection);
            registry.Parameters.AddWithValue(outcome.Bucket!);
            registry.Parameters.AddWithValue(outcome.Key!);
            registry.Parameters.AddWithValue(claim);
            registry.Parameters.AddWithValue(outcome.Status);
            registry.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)outcome.Error ?? DBNull.Value);
            await registry.ExecuteNonQueryAsync(cancellationToken);
        }
        await ImportCounters.AddAsync(connection, work.ImportId, work.UnitNo, [new(CounterScope, outcome.Status, 1)], cancellationToken);
        if (outcome.Status == ArchiveStatus.Error)
            await Events.WriteAsync(connection, work.ImportId, work.UnitNo, null, "archive_failed", outcome.Error, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>An import's files that were not archived, with why (at most <paramref name="limit"/>, in unit order).</summary>
    public static async Task<IReadOnlyList<ArchiveFailure>> FailuresAsync(NpgsqlConnection connection, long importId, int limit, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT unit_no, file, bucket, key, error FROM ingest.archived_files
            WHERE import_id = $1 AND outcome = '{ArchiveStatus.Error}' ORDER BY unit_no LIMIT $2
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(limit);
        var failures = new List<ArchiveFailure>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            failures.Add(new ArchiveFailure(r.GetInt32(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4)));
        return failures;
    }
}
