using System.Runtime.InteropServices;
using Ingest.Engine;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Catalog;

/// <summary>
/// An import's totals, kept without a hot row in <c>ingest.import_counters</c>: each transaction
/// that changes units adds what it changed to one of <see cref="Shards"/> shards of each counter
/// (chosen by unit number), in that transaction; a status sums the shards. So the totals always
/// equal the sums over the import's units, and commits of one import seldom wait on each other.
/// </summary>
public static class ImportCounters
{
    /// <summary>Shards per counter.</summary>
    public const int Shards = 16;

    /// <summary>The tail of an INSERT into the counters that adds to a counter already there.</summary>
    public const string AddOnConflict =
        "ON CONFLICT (import_id, scope, counter, shard) DO UPDATE SET value = ingest.import_counters.value + excluded.value";

    /// <summary>SQL for the shard of the unit numbered <paramref name="unitNoSql"/>.</summary>
    public static string ShardSql(string unitNoSql) => $"({unitNoSql} % {Shards})::smallint";

    /// <summary>One counter's change.</summary>
    public readonly record struct Change(string Scope, string Counter, long Value);

    /// <summary>What loading did, as counter changes: rows, bytes, each table's counts, quality.</summary>
    public static IEnumerable<Change> Loaded(UnitLoadResult added)
    {
        yield return new("rows", "read", added.RowsRead);
        yield return new("rows", "inserted", added.Counts.Inserted);
        yield return new("rows", "updated", added.Counts.Updated);
        yield return new("rows", "unchanged", added.Counts.Unchanged);
        yield return new("rows", "rejected", added.Rejected);
        yield return new("bytes", "read", added.BytesRead);
        foreach (var (table, counts) in added.Tables ?? new Dictionary<string, Engine.Loading.LoadCounts>())
        {
            var scope = $"table:{table}";
            yield return new(scope, "inserted", counts.Inserted);
            yield return new(scope, "updated", counts.Updated);
            yield return new(scope, "unchanged", counts.Unchanged);
            yield return new(scope, "deleted", counts.Deleted);
        }
        if (added.Quality is { } q)
        {
            foreach (var (rule, n) in q.Violations) yield return new("violations", rule, n);
            foreach (var (column, n) in q.DefaultsFilled) yield return new("defaults", column, n);
        }
    }

    /// <summary>Adds <paramref name="changes"/> (summed by counter) to the shard of unit <paramref name="unitNo"/>, inside the caller's transaction.</summary>
    public static async Task AddAsync(NpgsqlConnection connection, long importId, int unitNo, IEnumerable<Change> changes, CancellationToken cancellationToken = default)
    {
        // A batch adds thousands of changes (each unit's, per table) to a few dozen counters. In one
        // order, so that batches adding to the same shards wait for each other rather than deadlock.
        var sums = new Dictionary<(string Scope, string Counter), long>();
        foreach (var c in changes)
            if (c.Value != 0) CollectionsMarshal.GetValueRefOrAddDefault(sums, (c.Scope, c.Counter), out _) += c.Value;
        var summed = sums.Where(kv => kv.Value != 0).Select(kv => new Change(kv.Key.Scope, kv.Key.Counter, kv.Value))
            .OrderBy(c => c.Scope, StringComparer.Ordinal).ThenBy(c => c.Counter, StringComparer.Ordinal).ToList();
        if (summed.Count == 0) return;
        await using var cmd = new NpgsqlCommand(
            $"""
            INSERT INTO ingest.import_counters (import_id, scope, counter, shard, value)
            SELECT $1, c.scope, c.counter, {ShardSql("$2")}, c.value FROM unnest($3::text[], $4::text[], $5::bigint[]) AS c(scope, counter, value)
            {AddOnConflict}
            """, connection);
        cmd.Parameters.AddWithValue(importId);
        cmd.Parameters.AddWithValue(unitNo);
        cmd.Parameters.AddWithValue(summed.Select(c => c.Scope).ToArray());
        cmd.Parameters.AddWithValue(summed.Select(c => c.Counter).ToArray());
        cmd.Parameters.AddWithValue(summed.Select(c => c.Value).ToArray());
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>An import's totals: (scope, counter) → value.</summary>
    public static async Task<Dictionary<(string Scope, string Counter), long>> ReadAsync(NpgsqlConnection connection, long importId, CancellationToken cancellationToken = default)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT scope, counter, sum(value)::bigint FROM ingest.import_counters WHERE import_id = $1 GROUP BY scope, counter", connection);
        cmd.Parameters.AddWithValue(importId);
        var totals = new Dictionary<(string, string), long>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken)) totals[(r.GetString(0), r.GetString(1))] = r.GetInt64(2);
        return totals;
    }
}
