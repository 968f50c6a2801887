using Npgsql;

namespace Ingest.Cluster;

/// <summary>The append-only log of what happened to imports, units and nodes (<c>ingest.events</c>).</summary>
public static class Events
{
    public static async Task WriteAsync(NpgsqlConnection connection, long? importId, int? unitNo, Guid? nodeId, string kind, string? message, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand("INSERT INTO ingest.events (import_id, unit_no, node_id, kind, message) VALUES ($1, $2, $3, $4, $5)", connection);
        cmd.Parameters.AddWithValue(importId is null ? DBNull.Value : importId.Value);
        cmd.Parameters.AddWithValue(unitNo is null ? DBNull.Value : unitNo.Value);
        cmd.Parameters.AddWithValue(nodeId is null ? DBNull.Value : nodeId.Value);
        cmd.Parameters.AddWithValue(kind);
        cmd.Parameters.AddWithValue(message is null ? DBNull.Value : message);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
