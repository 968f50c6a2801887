using Npgsql;

namespace Ingest.Catalog;

/// <summary>The append-only log of what happened to imports and units (<c>ingest.events</c>).</summary>
public static class Events
{
    public static async Task WriteAsync(NpgsqlConnection connection, long? importId, int? unitNo, string? silo, string kind, string? message, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("INSERT INTO ingest.events (import_id, unit_no, silo, kind, message) VALUES ($1, $2, $3, $4, $5)", connection);
        cmd.Parameters.AddWithValue(importId is null ? DBNull.Value : importId.Value);
        cmd.Parameters.AddWithValue(unitNo is null ? DBNull.Value : unitNo.Value);
        cmd.Parameters.AddWithValue(silo is null ? DBNull.Value : silo);
        cmd.Parameters.AddWithValue(kind);
        cmd.Parameters.AddWithValue(message is null ? DBNull.Value : message);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
