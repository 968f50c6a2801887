using System.Text.Json;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// The SQL of the watermark store, kept by import name (<c>ingest.watermarks</c>,
/// <c>ingest.watermark_files</c>): per file, the version an incremental import committed; for a
/// source read by cursor, the highest cursor committed. Entries are written in the caller's
/// transaction, the one that commits what they describe: the store is never ahead of the data
/// nor behind it. They outlive the imports that wrote them; only a reset clears them.
/// </summary>
public static partial class Watermarks
{
    /// <summary>What the store holds for a name.</summary>
    /// <param name="Source">The source the entries were written under (as <see cref="WatermarkScope"/> records it); null when not recorded.</param>
    /// <param name="Target">The target they were written under.</param>
    /// <param name="Cursor">The highest cursor committed; null when none.</param>
    /// <param name="ImportId">The import that wrote to it last.</param>
    /// <param name="Files">Each committed file (or byte range of one), by key.</param>
    public sealed record State(string Name, JsonElement? Source, JsonElement? Target, JsonElement? Cursor, long? ImportId, DateTimeOffset UpdatedAt,
        IReadOnlyList<FileWatermark> Files);

    /// <summary>The highest cursor committed under <paramref name="name"/>; null when none.</summary>
    public static async Task<JsonElement?> ReadCursorAsync(NpgsqlDataSource dataSource, string name, CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT cursor::text FROM ingest.watermarks WHERE name = $1");
        cmd.Parameters.AddWithValue(name);
        return await cmd.ExecuteScalarAsync(cancellationToken) is string json ? Element(json) : null;
    }

    /// <summary>
    /// Advances the cursor of <paramref name="name"/> to <paramref name="cursor"/> in the caller's
    /// transaction (the one that commits the rows read up to it); a lower cursor leaves it. Cursors
    /// compare as jsonb: numbers by value, strings as text (ISO 8601 times in one offset by time).
    /// </summary>
    public static async Task AdvanceCursorAsync(NpgsqlConnection connection, string name, long importId, JsonElement cursor, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO ingest.watermarks (name, cursor, import_id) VALUES ($1, $2::jsonb, $3)
            ON CONFLICT (name) DO UPDATE SET cursor = greatest(ingest.watermarks.cursor, excluded.cursor), import_id = excluded.import_id, updated_at = now()
            """, connection);
        cmd.Parameters.AddWithValue(name);
        cmd.Parameters.AddWithValue(NpgsqlDbType.Text, cursor.GetRawText());
        cmd.Parameters.AddWithValue(importId);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records, in the caller's transaction, the source and target the import
    /// <paramref name="importId"/> writes entries under (when its planning starts).
    /// </summary>
    public static async Task RecordScopeAsync(NpgsqlConnection connection, ImportSpec spec, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            """
            INSERT INTO ingest.watermarks (name, source, target, import_id) VALUES ($1, $2::jsonb, $3::jsonb, $4)
            ON CONFLICT (name) DO UPDATE SET source = excluded.source, target = excluded.target, import_id = excluded.import_id, updated_at = now()
            """, connection);
        cmd.Parameters.AddWithValue(spec.Name);
        cmd.Parameters.AddWithValue(WatermarkScope.Source(spec));
        cmd.Parameters.AddWithValue(WatermarkScope.Target(spec));
        cmd.Parameters.AddWithValue(importId);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// How <paramref name="spec"/>'s source and target differ from those its name's entries were
    /// written under (<see cref="WatermarkScope.Differences"/>); empty when they do not, or when the
    /// name has no entries.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ChangesAsync(NpgsqlConnection connection, ImportSpec spec, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT w.source::text, w.target::text FROM ingest.watermarks w
            WHERE w.name = $1 AND (w.cursor IS NOT NULL OR EXISTS (SELECT FROM ingest.watermark_files f WHERE f.name = w.name))
            """, connection);
        cmd.Parameters.AddWithValue(spec.Name);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken)) return [];
        return WatermarkScope.Differences(r.IsDBNull(0) ? null : r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), spec);
    }

    /// <summary>
    /// Clears, in the caller's transaction, what the store holds for <paramref name="name"/>, or only
    /// the entries of <paramref name="file"/>; returns how many file entries went, whether a cursor did,
    /// and whether the spec they were written under did (recorded when an import starts, before it commits anything).
    /// </summary>
    public static async Task<(int Files, bool Cursor, bool Spec)> ResetAsync(NpgsqlConnection connection, string name, string? file = null, CancellationToken cancellationToken = default)
    {
        int files;
        await using (var entries = new NpgsqlCommand("DELETE FROM ingest.watermark_files WHERE name = $1 AND ($2::text IS NULL OR key = $2)", connection))
        {
            entries.Parameters.AddWithValue(name);
            entries.Parameters.AddWithValue(NpgsqlDbType.Text, (object?)file ?? DBNull.Value);
            files = await entries.ExecuteNonQueryAsync(cancellationToken);
        }
        if (file is not null) return (files, false, false);
        await using var cmd = new NpgsqlCommand("DELETE FROM ingest.watermarks WHERE name = $1 RETURNING cursor IS NOT NULL", connection);
        cmd.Parameters.AddWithValue(name);
        var cursor = await cmd.ExecuteScalarAsync(cancellationToken);
        return (files, cursor is true, cursor is bool);
    }

    /// <summary>Everything the store holds for <paramref name="name"/>, files in key order; null when it holds nothing.</summary>
    public static async Task<State?> ReadAsync(NpgsqlDataSource dataSource, string name, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var files = await FilesAsync(connection, name, null, cancellationToken);
        await using var cmd = new NpgsqlCommand("SELECT source::text, target::text, cursor::text, import_id, updated_at FROM ingest.watermarks WHERE name = $1", connection);
        cmd.Parameters.AddWithValue(name);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (await r.ReadAsync(cancellationToken))
            return new State(name, Element(r, 0), Element(r, 1), Element(r, 2), r.IsDBNull(3) ? null : r.GetInt64(3), r.GetFieldValue<DateTimeOffset>(4), files);
        return files.Count == 0 ? null : new State(name, null, null, null, null, files.Max(f => f.CommittedAt!.Value), files);
    }

    private static JsonElement? Element(NpgsqlDataReader r, int column) => r.IsDBNull(column) ? null : Element(r.GetString(column));

    private static JsonElement Element(string json) => JsonDocument.Parse(json).RootElement.Clone();
}
