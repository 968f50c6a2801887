using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Npgsql;

namespace Ingest.Engine.Relational;

/// <summary>
/// One unit's load of a relational target (or, direct, a batch of units sharing it: see
/// <see cref="UnitCounts"/>), on the caller's connection and transaction. Rows
/// gather per table and are written a bounded batch at a time (one COPY is open on a connection
/// at a time), so memory stays bounded whatever the unit's size. Two ways:
/// <list type="bullet">
/// <item><b>staged</b>: every batch goes by binary COPY into staging tables; <see cref="CompleteAsync"/>
/// merges them in dependency order (upserts, surrogate lookups, deletes of vanished child rows).</item>
/// <item><b>direct</b>, for a first load: each batch's dimensions are merged at once, then the root
/// and child rows are COPYed straight into their tables, surrogates filled in from the ids the
/// flush read back (<see cref="SurrogateLookup"/>; a natural key it cannot compare: inserted with a
/// join to the dimension). Dimensions and lookups take their rows as array
/// parameters, so a direct load touches no temporary table: at each commit PostgreSQL empties
/// every staging table the session holds once any was touched. A key that exists already fails
/// the COPY with a unique violation: the caller rolls back and loads the unit staged.</item>
/// </list>
/// </summary>
public sealed class RelationalLoad
{
    /// <summary>
    /// Rows are written once those encoded for COPY reach <see cref="FlushBytes"/> across all tables,
    /// or those held as mapped rows (dimensions, rows waiting for their surrogates) reach
    /// <see cref="FlushHeldRows"/>: a load holds about that much, whatever its batch's size. Each COPY
    /// costs PostgreSQL a fixed part that grows with its first thousand rows (a tuple slot each,
    /// pinned in a resource owner that PostgreSQL 15 searches linearly), about a millisecond: a
    /// table's COPY should still hold thousands of rows.
    /// </summary>
    public const long FlushBytes = 2 * 1024 * 1024;

    /// <inheritdoc cref="FlushBytes"/>
    public const int FlushHeldRows = 4_096;

    private readonly NpgsqlConnection _connection;
    private readonly LoadPlan _plan;
    private readonly bool _direct;
    private readonly bool _replaces;
    private readonly long[] _written;
    private readonly long[] _counted; // rows taken per table that earlier units' counts hold
    private readonly LoadCounts[] _merged;

    private RelationalLoad(NpgsqlConnection connection, LoadPlan plan, RelationalMapper mapper, bool direct, bool replaces)
    {
        _connection = connection;
        _plan = plan;
        _direct = direct;
        _replaces = replaces;
        Mapper = mapper;
        _written = new long[plan.Tables.Count];
        _counted = new long[plan.Tables.Count];
        _merged = new LoadCounts[plan.Tables.Count];
        foreach (var sink in mapper.Sinks) sink.EncodeRecords(Encoding(sink.Table, direct));
    }

    /// <summary>
    /// How a load keeps a table's rows (<see cref="RowSink.EncodeRecords"/>). A table whose rows go
    /// to COPY as they were mapped has them encoded when their record ends: the rows are still in
    /// the cache then, and wait in a fraction of the memory. A dimension's rows are deduplicated and
    /// sent as arrays, and a direct load fills surrogates into its rows after a merge: those are held.
    /// </summary>
    public static (int Columns, bool Ord)? Encoding(PlanTable table, bool direct) =>
        table.Role == TableRole.Dimension ? null
        : !direct ? (table.RowTypes.Length, true)
        : Surrogates(table).Length == 0 ? (table.Target.QuotedColumns.Count, false)
        : null;

    public RelationalMapper Mapper { get; }

    /// <summary>
    /// Staged: creates the session's staging tables (kept across units, emptied at each commit), or
    /// empties them (a batch's next unit). A staged load that <paramref name="replaces"/> first
    /// deletes the rows under its root keys: rows this transaction wrote, of which its records are
    /// later occurrences (<see cref="RepeatedKeys"/>).
    /// </summary>
    public static async Task<RelationalLoad> BeginAsync(NpgsqlConnection connection, LoadPlan plan, RelationalMapper mapper, bool direct, bool replaces = false, CancellationToken cancellationToken = default)
    {
        if (replaces && (direct || !plan.Root.Target.IsKeyed)) throw new ArgumentException("only a staged load of a keyed root replaces rows", nameof(replaces));
        if (direct) return new RelationalLoad(connection, plan, mapper, direct, replaces);
        await using var batch = new NpgsqlBatch(connection) { BatchCommands = { new(StagedMerge.BoundSessionStaging(plan.Tables.Count)) } };
        foreach (var table in plan.Tables)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(RelationalSql.CreateStaging(table)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(StagedMerge.ClearStaging(table.StagingName)));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return new RelationalLoad(connection, plan, mapper, direct, replaces);
    }

    /// <summary>Writes the rows waiting when they are as many as a load holds (<see cref="IsFull"/>).</summary>
    public Task FlushIfFullAsync(CancellationToken cancellationToken = default) =>
        IsFull(Mapper) ? FlushAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>Whether the rows waiting in <paramref name="mapper"/>'s sinks are to be written now.</summary>
    public static bool IsFull(RelationalMapper mapper) =>
        mapper.Waiting is var (bytes, held) && (bytes >= FlushBytes || held >= FlushHeldRows);

    // Sinks are in plan order: dimensions, the root, then children after their parents.
    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var lookups = new SurrogateLookup?[_plan.Tables.Count]; // per surrogate dimension, of this flush's keys
        foreach (var sink in Mapper.Sinks)
        {
            if (sink.Count == 0) continue;
            var table = sink.Table;
            if (!_direct)
                await CopyAsync(sink, RelationalSql.Copy(table), staged: true, cancellationToken);
            else if (table.Role == TableRole.Dimension)
            {
                _merged[table.Index] += await MergeAsync(RelationalSql.MergeDimension(table, RelationalSql.Unnest(table)), RowArrays.Of(sink), cancellationToken);
                if (table.Target.Identity is not null && SurrogateLookup.Supports(table))
                    lookups[table.Index] = await SurrogateLookup.ReadAsync(_connection, sink, cancellationToken);
            }
            else if (Surrogates(table) is { Length: > 0 } references)
            {
                // The rows' dimension keys are in this flush's dimension rows: their surrogates were just read.
                if (references.All(r => lookups[r.Dimension.Index] is not null))
                {
                    for (var i = 0; i < sink.Held; i++)
                        foreach (var reference in references) lookups[reference.Dimension.Index]!.Fill(sink[i], reference);
                    await CopyAsync(sink, RelationalSql.CopyInto(table), staged: false, cancellationToken);
                }
                else await ExecuteAsync(RelationalSql.InsertResolving(table), RowArrays.Of(sink), cancellationToken);
            }
            else
                await CopyAsync(sink, RelationalSql.CopyInto(table), staged: false, cancellationToken);
            _written[table.Index] += sink.Count;
            sink.Clear();
        }
    }

    // Staged: every column of the row, then its ordinal. Direct: the table's own columns (not the hidden copies of natural keys).
    private async Task CopyAsync(RowSink sink, string copy, bool staged, CancellationToken cancellationToken)
    {
        var columns = staged ? sink.Table.RowTypes.Length : sink.Table.Target.QuotedColumns.Count;
        await using var writer = await BinaryCopy.BeginAsync(_connection, copy, cancellationToken);
        if (sink.Encoded is { } encoded) await writer.WriteAsync(encoded, cancellationToken);
        for (var i = 0; i < sink.Held; i++) await writer.WriteAsync(sink[i], staged ? sink.Ord(i) : null, columns, cancellationToken);
        await writer.CompleteAsync(cancellationToken);
    }

    /// <summary>
    /// Writes what is left and, when staged, merges: dimensions, surrogates looked up, the root, its
    /// descendants (each after its parent), then descendant rows that the reloaded records no longer
    /// hold are deleted, deepest first. Returns the counts per table (root first, then its
    /// descendants, then the dimensions); the root's unchanged count includes duplicates of a key
    /// within the unit (as a flat load counts them), the others count distinct keys. A direct load
    /// returns the counts since <see cref="UnitCounts"/> was last called: its last unit's.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, LoadCounts>> CompleteAsync(CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        return ByName(_direct ? TakeDirectCounts() : await MergeAllAsync(cancellationToken));
    }

    /// <summary>
    /// A direct load shared by the units of a batch: the counts of the rows taken since the last call
    /// (call it after each unit but the last, whose counts <see cref="CompleteAsync"/> returns). Every
    /// row taken is inserted. A dimension counts what was merged since: in a batch, its keys are
    /// merged once for all units, and the counts fall to the unit whose rows filled the batch.
    /// </summary>
    public IReadOnlyDictionary<string, LoadCounts> UnitCounts() =>
        _direct ? ByName(TakeDirectCounts()) : throw new InvalidOperationException("a staged load's counts come from its merge, at completion");

    private LoadCounts[] TakeDirectCounts()
    {
        var counts = new LoadCounts[_plan.Tables.Count];
        foreach (var table in _plan.Tables)
        {
            var i = table.Index;
            if (table.Role == TableRole.Dimension)
            {
                counts[i] = _merged[i];
                _merged[i] = default;
                continue;
            }
            var taken = _written[i] + Mapper.Sinks[i].Count;
            counts[i] = new LoadCounts(taken - _counted[i], 0, 0);
            _counted[i] = taken;
        }
        return counts;
    }

    private Dictionary<string, LoadCounts> ByName(LoadCounts[] counts) =>
        _plan.ReportOrder
            .ToDictionary(t => t.Target.Name, t => counts[t.Index], StringComparer.Ordinal);

    private async Task<LoadCounts[]> MergeAllAsync(CancellationToken cancellationToken)
    {
        var counts = new LoadCounts[_plan.Tables.Count];
        var replaced = _replaces ? await DeleteReplacedAsync(cancellationToken) : null;
        foreach (var dimension in _plan.Dimensions)
            counts[dimension.Index] = await MergeIfWrittenAsync(RelationalSql.MergeDimension(dimension, RelationalSql.Staged(dimension)), dimension, cancellationToken);
        foreach (var table in _plan.Tables) await ResolveSurrogatesAsync(table, cancellationToken);

        var root = _plan.Root;
        if (root.Target.IsKeyed)
            foreach (var descendant in _plan.Descendants.Where(d => _written[d.Index] > 0))
                await ExecuteAsync(RelationalSql.DropSuperseded(root, descendant), null, cancellationToken);

        var rootCounts = await MergeIfWrittenAsync(RelationalSql.Upsert(root), root, cancellationToken);
        counts[root.Index] = rootCounts with { Unchanged = _written[root.Index] - rootCounts.Inserted - rootCounts.Updated };
        foreach (var descendant in _plan.Descendants)
            counts[descendant.Index] = await MergeIfWrittenAsync(RelationalSql.Upsert(descendant), descendant, cancellationToken);
        foreach (var descendant in _plan.Descendants.Reverse())
            counts[descendant.Index] = counts[descendant.Index] with { Deleted = await ExecuteAsync(RelationalSql.DeleteMissing(root, descendant), null, cancellationToken) };
        if (replaced is not null)
        {
            // Rows taken back were counted inserted by the load that wrote them: net of them, the
            // root's earlier occurrences are unchanged, as when a unit holding a key twice is staged whole.
            foreach (var table in _plan.Tables) counts[table.Index] = counts[table.Index] with { Inserted = counts[table.Index].Inserted - replaced[table.Index] };
            counts[root.Index] = counts[root.Index] with { Unchanged = counts[root.Index].Unchanged + replaced[root.Index] };
        }
        return counts;
    }

    // Descendants deepest first, then the root: per table, the rows deleted.
    private async Task<long[]> DeleteReplacedAsync(CancellationToken cancellationToken)
    {
        var deleted = new long[_plan.Tables.Count];
        if (_written[_plan.Root.Index] == 0) return deleted;
        foreach (var table in _plan.Descendants.Reverse().Append(_plan.Root))
            deleted[table.Index] = await ExecuteAsync(RelationalSql.DeleteReplaced(_plan.Root, table), null, cancellationToken);
        return deleted;
    }

    private static PlanReference[] Surrogates(PlanTable table) => table.References.Where(r => r.SurrogateColumn >= 0).ToArray();

    private async Task ResolveSurrogatesAsync(PlanTable table, CancellationToken cancellationToken)
    {
        foreach (var reference in Surrogates(table))
            await ExecuteAsync(RelationalSql.ResolveSurrogate(table, reference), null, cancellationToken);
    }

    private Task<LoadCounts> MergeIfWrittenAsync(string sql, PlanTable table, CancellationToken cancellationToken) =>
        _written[table.Index] == 0 ? Task.FromResult(default(LoadCounts)) : MergeAsync(sql, null, cancellationToken);

    private async Task<LoadCounts> MergeAsync(string sql, IEnumerable<NpgsqlParameter>? parameters, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, _connection);
        if (parameters is not null) cmd.Parameters.AddRange(parameters.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (keys, inserted, updated) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        return new LoadCounts(inserted, updated, keys - inserted - updated);
    }

    private async Task<long> ExecuteAsync(string sql, IEnumerable<NpgsqlParameter>? parameters, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, _connection);
        if (parameters is not null) cmd.Parameters.AddRange(parameters.ToArray());
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
