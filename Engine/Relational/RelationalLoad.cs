using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Relational;

/// <summary>
/// One unit's load of a relational target, on the caller's connection and transaction: rows
/// gather per table and go by binary COPY into staging tables a bounded batch at a time (one COPY
/// is open on a connection at a time); <see cref="CompleteAsync"/> merges them in dependency order.
/// Memory stays bounded by the batch, whatever the unit's size.
/// </summary>
public sealed class RelationalLoad
{
    /// <summary>Rows buffered across all tables before they are copied to staging.</summary>
    public const int BatchRows = 16_384;

    private readonly NpgsqlConnection _connection;
    private readonly LoadPlan _plan;
    private readonly NpgsqlDbType[][] _types;
    private readonly long[] _staged;

    private RelationalLoad(NpgsqlConnection connection, LoadPlan plan, RelationalMapper mapper)
    {
        _connection = connection;
        _plan = plan;
        Mapper = mapper;
        _types = plan.Tables.Select(t => t.RowTypes.Select(TargetTable.ToDbType).ToArray()).ToArray();
        _staged = new long[plan.Tables.Count];
    }

    public RelationalMapper Mapper { get; }

    /// <summary>Creates the session's staging tables (kept across units, emptied at each commit).</summary>
    public static async Task<RelationalLoad> BeginAsync(NpgsqlConnection connection, LoadPlan plan, RelationalMapper mapper, CancellationToken cancellationToken = default)
    {
        await using var batch = new NpgsqlBatch(connection);
        foreach (var table in plan.Tables) batch.BatchCommands.Add(new NpgsqlBatchCommand(RelationalSql.CreateStaging(table)));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return new RelationalLoad(connection, plan, mapper);
    }

    /// <summary>Copies the buffered rows to staging when the batch is full.</summary>
    public Task FlushIfFullAsync(CancellationToken cancellationToken = default) =>
        Mapper.Buffered >= BatchRows ? FlushAsync(cancellationToken) : Task.CompletedTask;

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var sink in Mapper.Sinks)
        {
            if (sink.Count == 0) continue;
            var table = sink.Table;
            await using (var importer = await _connection.BeginBinaryImportAsync(RelationalSql.Copy(table), cancellationToken))
            {
                for (var i = 0; i < sink.Count; i++)
                {
                    await RowWriter.WriteAsync(importer, sink[i], _types[table.Index], cancellationToken);
                    await importer.WriteAsync(sink.Ord(i), NpgsqlDbType.Bigint, cancellationToken);
                }
                await importer.CompleteAsync(cancellationToken);
            }
            _staged[table.Index] += sink.Count;
            sink.Clear();
        }
    }

    /// <summary>
    /// Merges the staged rows: dimensions, surrogates looked up, the root, its descendants (each
    /// after its parent), then descendant rows that the reloaded records no longer hold are deleted,
    /// deepest first. Returns the counts per table; the root's unchanged count includes duplicates
    /// of a key within the unit (as a flat load counts them), the others count distinct keys.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, LoadCounts>> CompleteAsync(CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        var counts = new Dictionary<string, LoadCounts>(StringComparer.Ordinal);
        foreach (var dimension in _plan.Dimensions)
            counts[dimension.Target.Name] = await MergeAsync(RelationalSql.MergeDimension(dimension), dimension, cancellationToken);

        foreach (var table in _plan.Tables)
            foreach (var reference in table.References.Where(r => r.SurrogateColumn >= 0))
                await ExecuteAsync(RelationalSql.ResolveSurrogate(table, reference), cancellationToken);

        var root = _plan.Root;
        if (root.Target.IsKeyed)
            foreach (var descendant in _plan.Descendants.Where(d => _staged[d.Index] > 0))
                await ExecuteAsync(RelationalSql.DropSuperseded(root, descendant), cancellationToken);

        var rootCounts = await MergeAsync(RelationalSql.Upsert(root), root, cancellationToken);
        counts[root.Target.Name] = rootCounts with { Unchanged = _staged[root.Index] - rootCounts.Inserted - rootCounts.Updated };
        foreach (var descendant in _plan.Descendants)
            counts[descendant.Target.Name] = await MergeAsync(RelationalSql.Upsert(descendant), descendant, cancellationToken);
        foreach (var descendant in _plan.Descendants.Reverse())
        {
            var deleted = await ExecuteAsync(RelationalSql.DeleteMissing(root, descendant), cancellationToken);
            counts[descendant.Target.Name] = counts[descendant.Target.Name] with { Deleted = deleted };
        }
        // Shown root first, then its descendants, then the dimensions.
        return _plan.Tables.OrderBy(t => t.Role switch { TableRole.Root => 0, TableRole.Child => 1, _ => 2 })
            .ToDictionary(t => t.Target.Name, t => counts.GetValueOrDefault(t.Target.Name), StringComparer.Ordinal);
    }

    private async Task<LoadCounts> MergeAsync(string sql, PlanTable table, CancellationToken cancellationToken)
    {
        if (_staged[table.Index] == 0) return default;
        await using var cmd = new NpgsqlCommand(sql, _connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (keys, inserted, updated) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        return new LoadCounts(inserted, updated, keys - inserted - updated);
    }

    private async Task<long> ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, _connection);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
