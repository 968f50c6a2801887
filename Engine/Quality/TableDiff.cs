using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Engine.Quality;

/// <summary>
/// The symmetry report between a source and the table it loads: keys that would be inserted,
/// updated (and which columns differ), unchanged, and keys in the table that the source lacks.
/// The source's rows go to a temporary table inside a transaction that is rolled back: nothing
/// is written.
/// </summary>
public static class TableDiff
{
    public const int Examples = 5;

    public static async Task<DiffReport> RunAsync(NpgsqlDataSource dataSource, ImportSpec spec, SourceRegistry sources, CancellationToken cancellationToken = default)
    {
        spec = await sources.ResolveAsync(spec, cancellationToken);
        var source = sources.For(CursorSince.Initially(spec));
        var target = source.Target;
        if (target.Key.Count == 0) throw new SpecException(["target.key: diff compares by key; this target has none"]);
        // A queue's messages are not there to read twice: ingest validate samples them and returns them.
        if (spec.Source.IsContinuous) throw new SpecException(["source.kind: diff reads a source whole; a queue's messages would be consumed (use ingest validate, which returns them)"]);
        var table = new TargetTable(target);
        var mapper = new CheckedMapper(target);
        var (now, tally) = (DateTime.UtcNow, new QualityTally());
        var row = mapper.CreateRow();
        long read = 0, rejected = 0;

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var columns = string.Join(", ", table.QuotedColumns);
        await Execute(connection, $"CREATE TEMP TABLE ingest_diff ({string.Join(", ", target.Columns.Select((c, i) => $"{table.QuotedColumns[i]} {c.Type.ToSql()}"))}, ingest_ord bigint) ON COMMIT DROP", cancellationToken);
        await using (var copy = await BinaryCopy.BeginAsync(connection, $"COPY ingest_diff ({columns}, ingest_ord) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            var units = 0;
            await foreach (var item in source.PlanAsync(cancellationToken))
            {
                units++;
                await using var unit = await source.OpenAsync(item, null, cancellationToken);
                var facts = new UnitFacts(0, unit.Info);
                while (await unit.MoveNextAsync(cancellationToken))
                {
                    if (unit.Unreadable is null && mapper.TryMap(unit.Current.Span, row, facts, unit.RecordIndex, now, tally, out _))
                        await copy.WriteAsync(row, read, cancellationToken: cancellationToken);
                    else rejected++;
                    read++;
                }
            }
            if (units == 0) throw source.NothingMatches();
            await copy.CompleteAsync(cancellationToken);
        }

        var exists = await Scalar<bool>(connection, $"SELECT to_regclass('{table.QualifiedName.Replace("'", "''")}') IS NOT NULL", cancellationToken);
        var key = string.Join(", ", table.QuotedKey);
        var on = string.Join(" AND ", table.QuotedKey.Select(k => $"t.{k} = s.{k}"));
        var attributes = table.QuotedColumns.Except(table.QuotedKey).ToArray();
        var names = target.Columns.Where(c => !target.Key.Contains(c.Name)).Select(c => c.Name).ToArray();
        // The last occurrence of a key wins, as in a load.
        await Execute(connection, $"CREATE TEMP TABLE ingest_diff_last ON COMMIT DROP AS SELECT DISTINCT ON ({key}) * FROM ingest_diff ORDER BY {key}, ingest_ord DESC", cancellationToken);
        var keys = await Scalar<long>(connection, "SELECT count(*) FROM ingest_diff_last", cancellationToken);
        if (!exists)
        {
            await tx.RollbackAsync(cancellationToken);
            return new DiffReport(read, rejected, keys, 0, 0, 0, new Dictionary<string, long>(), [], TableExists: false);
        }

        var differs = attributes.Length == 0 ? "false" : string.Join(" OR ", attributes.Select(c => $"t.{c} IS DISTINCT FROM s.{c}"));
        var inserted = await Scalar<long>(connection, $"SELECT count(*) FROM ingest_diff_last s WHERE NOT EXISTS (SELECT FROM {table.QualifiedName} t WHERE {on})", cancellationToken);
        var updated = await Scalar<long>(connection, $"SELECT count(*) FROM ingest_diff_last s JOIN {table.QualifiedName} t ON {on} WHERE {differs}", cancellationToken);
        var missing = await Scalar<long>(connection, $"SELECT count(*) FROM {table.QualifiedName} t WHERE NOT EXISTS (SELECT FROM ingest_diff_last s WHERE {on})", cancellationToken);

        var perColumn = new Dictionary<string, long>(StringComparer.Ordinal);
        var examples = new List<DiffExample>();
        if (attributes.Length > 0)
        {
            await using (var cmd = new NpgsqlCommand(
                $"SELECT {string.Join(", ", attributes.Select(c => $"count(*) FILTER (WHERE t.{c} IS DISTINCT FROM s.{c})"))} FROM ingest_diff_last s JOIN {table.QualifiedName} t ON {on}", connection))
            await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
            {
                await r.ReadAsync(cancellationToken);
                for (var i = 0; i < names.Length; i++) if (r.GetInt64(i) > 0) perColumn[names[i]] = r.GetInt64(i);
            }
            var keyText = string.Join(" || ', ' || ", table.QuotedKey.Select(k => $"s.{k}::text"));
            var changed = string.Join(", ", attributes.Select((c, i) => $"CASE WHEN t.{c} IS DISTINCT FROM s.{c} THEN '{names[i]}: ' || coalesce(t.{c}::text, 'NULL') || ' → ' || coalesce(s.{c}::text, 'NULL') END"));
            await using var sample = new NpgsqlCommand(
                $"SELECT {keyText}, concat_ws('; ', {changed}) FROM ingest_diff_last s JOIN {table.QualifiedName} t ON {on} WHERE {differs} ORDER BY {string.Join(", ", table.QuotedKey.Select(k => "s." + k))} LIMIT {Examples}", connection);
            await using var rows = await sample.ExecuteReaderAsync(cancellationToken);
            while (await rows.ReadAsync(cancellationToken)) examples.Add(new DiffExample(rows.GetString(0), rows.GetString(1)));
        }
        await tx.RollbackAsync(cancellationToken);
        return new DiffReport(read, rejected, inserted, updated, keys - inserted - updated, missing, perColumn, examples, TableExists: true);
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (T)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }
}

/// <summary>What loading the source would do to its table, by key.</summary>
/// <param name="Records">Records read from the source.</param>
/// <param name="Rejected">Records that would be rejected.</param>
/// <param name="Inserted">Keys not in the table.</param>
/// <param name="Updated">Keys in the table whose row differs.</param>
/// <param name="Unchanged">Keys in the table with an identical row.</param>
/// <param name="OnlyInTable">Keys in the table that the source does not hold.</param>
/// <param name="ChangedColumns">For the updated keys: how many differ in each column.</param>
/// <param name="Examples">A few updated keys, with the columns that differ (table → source).</param>
/// <param name="TableExists">False when the table does not exist yet (every key would be inserted).</param>
public sealed record DiffReport(long Records, long Rejected, long Inserted, long Updated, long Unchanged, long OnlyInTable,
    IReadOnlyDictionary<string, long> ChangedColumns, IReadOnlyList<DiffExample> Examples, bool TableExists);

/// <summary>An updated key and what differs.</summary>
public sealed record DiffExample(string Key, string Changes);
