using Ingest.Engine.Sources;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

public static partial class Watermarks
{
    /// <summary>
    /// Records, in the caller's transaction (the one that completes the units under their fences),
    /// what each unit read to its end and committed. Entries of other versions of those files go:
    /// the file changed, and what they say no longer holds.
    /// </summary>
    public static async Task RecordFilesAsync(NpgsqlConnection connection, string name, IReadOnlyList<FileWatermark> files, CancellationToken cancellationToken = default)
    {
        if (files.Count == 0) return;
        // In key order: units of one file committing at once lock its entries in the same order.
        var sorted = files.OrderBy(f => f.Key, StringComparer.Ordinal).ThenBy(f => f.RangeStart).ToList();
        await using var batch = new NpgsqlBatch(connection);
        var stale = new NpgsqlBatchCommand(
            """
            DELETE FROM ingest.watermark_files w USING unnest($2::text[], $3::text[]) AS e(key, version)
            WHERE w.name = $1 AND w.key = e.key AND w.version <> e.version
            """);
        stale.Parameters.AddWithValue(name);
        stale.Parameters.AddWithValue(sorted.Select(f => f.Key).ToArray());
        stale.Parameters.AddWithValue(sorted.Select(f => f.Version).ToArray());
        batch.BatchCommands.Add(stale);
        var record = new NpgsqlBatchCommand(
            """
            INSERT INTO ingest.watermark_files (name, key, range_start, range_end, version, size_bytes, modified, content_hash, import_id)
            SELECT $1, e.* FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::timestamptz[], $8::bytea[], $9::bigint[])
                                AS e(key, range_start, range_end, version, size_bytes, modified, content_hash, import_id)
            ON CONFLICT (name, key, range_start) DO UPDATE
            SET range_end = excluded.range_end, version = excluded.version, size_bytes = excluded.size_bytes, modified = excluded.modified,
                content_hash = excluded.content_hash, import_id = excluded.import_id, committed_at = now()
            """);
        record.Parameters.AddWithValue(name);
        record.Parameters.AddWithValue(sorted.Select(f => f.Key).ToArray());
        record.Parameters.AddWithValue(sorted.Select(f => f.RangeStart).ToArray());
        record.Parameters.Add(Array(NpgsqlDbType.Bigint, sorted.Select(f => f.RangeEnd)));
        record.Parameters.AddWithValue(sorted.Select(f => f.Version).ToArray());
        record.Parameters.Add(Array(NpgsqlDbType.Bigint, sorted.Select(f => f.Size)));
        record.Parameters.Add(Array(NpgsqlDbType.TimestampTz, sorted.Select(f => f.Modified)));
        record.Parameters.Add(Array(NpgsqlDbType.Bytea, sorted.Select(f => f.ContentHash)));
        record.Parameters.AddWithValue(sorted.Select(f => f.ImportId).ToArray());
        batch.BatchCommands.Add(record);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The entries of the files <paramref name="keys"/> under <paramref name="name"/>, by key (a file without entries is absent).</summary>
    public static async Task<IReadOnlyDictionary<string, List<FileWatermark>>> FilesAsync(NpgsqlDataSource dataSource, string name, IReadOnlyCollection<string> keys, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await FilesAsync(connection, name, keys, cancellationToken)).GroupBy(f => f.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
    }

    /// <summary>
    /// Gives entries the version their file has now, in the caller's transaction: a local file
    /// touched since, whose bytes were hashed and found the same. An entry whose bytes changed in the
    /// meantime (another import committed another version) is left as it is.
    /// </summary>
    public static async Task RefreshFilesAsync(NpgsqlConnection connection, string name, IReadOnlyList<FileWatermark> files, CancellationToken cancellationToken = default)
    {
        if (files.Count == 0) return;
        await using var cmd = new NpgsqlCommand(
            """
            UPDATE ingest.watermark_files w SET version = e.version, modified = e.modified
            FROM unnest($2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bytea[]) AS e(key, range_start, version, modified, content_hash)
            WHERE w.name = $1 AND w.key = e.key AND w.range_start = e.range_start AND w.content_hash = e.content_hash
            """, connection);
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(files.Select(f => f.Key).ToArray());
        cmd.Parameters.AddWithValue(files.Select(f => f.RangeStart).ToArray());
        cmd.Parameters.AddWithValue(files.Select(f => f.Version).ToArray());
        cmd.Parameters.Add(Array(NpgsqlDbType.TimestampTz, files.Select(f => f.Modified)));
        cmd.Parameters.Add(Array(NpgsqlDbType.Bytea, files.Select(f => f.ContentHash)));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    // The entries of keys (every key when null), in key and range order.
    private static async Task<List<FileWatermark>> FilesAsync(NpgsqlConnection connection, string name, IReadOnlyCollection<string>? keys, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT key, range_start, range_end, version, size_bytes, modified, content_hash, import_id, committed_at
            FROM ingest.watermark_files WHERE name = $1 AND ($2::text[] IS NULL OR key = ANY($2))
            ORDER BY key, range_start
            """, connection);
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Array | NpgsqlDbType.Text, (object?)keys?.ToArray() ?? DBNull.Value);
        var files = new List<FileWatermark>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
            files.Add(new FileWatermark(r.GetString(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetInt64(4), r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
                r.IsDBNull(6) ? null : r.GetFieldValue<byte[]>(6), r.GetInt64(7), r.GetFieldValue<DateTimeOffset>(8)));
        return files;
    }

    // An array parameter whose elements may be null.
    private static NpgsqlParameter Array<T>(NpgsqlDbType type, IEnumerable<T> values) =>
        new() { NpgsqlDbType = NpgsqlDbType.Array | type, Value = values.ToArray() };
}
