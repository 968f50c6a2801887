using Npgsql;

namespace Ingest.Cluster;

/// <summary>A node's presence in <c>ingest.nodes</c>, and the leases it holds.</summary>
public sealed class NodeRegistry(NpgsqlDataSource dataSource, ClusterOptions options, Guid nodeId)
{
    public Guid NodeId => nodeId;

    public async Task RegisterAsync(CancellationToken cancellationToken = default)
    {
        await using var cmd = dataSource.CreateCommand(
            "INSERT INTO ingest.nodes (id, host, pid, slots, lease_seconds) VALUES ($1, $2, $3, $4, $5)");
        cmd.Parameters.AddWithValue(nodeId);
        cmd.Parameters.AddWithValue(Environment.MachineName);
        cmd.Parameters.AddWithValue(Environment.ProcessId);
        cmd.Parameters.AddWithValue(options.Slots);
        cmd.Parameters.AddWithValue(options.LeaseDuration.TotalSeconds);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Reports the node alive and extends the leases it still holds. Returns those leases
    /// (import, unit, token): a claim missing from them was cancelled or taken over.
    /// </summary>
    public async Task<HashSet<(long ImportId, int UnitNo, long LeaseToken)>> HeartbeatAsync(CancellationToken cancellationToken = default)
    {
        // The units' result comes first: Npgsql positions the reader on the first command that returns rows.
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            "UPDATE ingest.units SET lease_until = now() + $2 WHERE node_id = $1 AND state = 'running' RETURNING import_id, unit_no, lease_token")
        {
            Parameters = { new() { Value = nodeId }, new() { Value = options.LeaseDuration } },
        });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE ingest.nodes SET heartbeat_at = now() WHERE id = $1") { Parameters = { new() { Value = nodeId } } });
        var held = new HashSet<(long, int, long)>();
        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) held.Add((r.GetInt64(0), r.GetInt32(1), r.GetInt64(2)));
        return held;
    }

    /// <summary>
    /// On a clean stop: hands the node's units back at once (the attempt does not count, since the
    /// unit did not fail), and marks the node stopped.
    /// </summary>
    public async Task ReleaseAndStopAsync(CancellationToken cancellationToken = default)
    {
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            """
            UPDATE ingest.units SET state = 'pending', attempts = attempts - 1, lease_until = NULL, not_before = '-infinity'
            WHERE node_id = $1 AND state = 'running'
            """) { Parameters = { new() { Value = nodeId } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE ingest.nodes SET stopped_at = now() WHERE id = $1") { Parameters = { new() { Value = nodeId } } });
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }
}
