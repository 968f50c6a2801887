using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;

namespace Ingest.Engine.Relational;

/// <summary>
/// The SQL of a relational load. Rows are staged per table in session temporary tables, then
/// merged in dependency order inside the unit's transaction. Every statement works in key order,
/// so units loading overlapping keys at once lock them in the same order.
/// </summary>
internal static class RelationalSql
{
    public static string CreateStaging(PlanTable t) =>
        $"CREATE TEMP TABLE IF NOT EXISTS {t.StagingName} ({string.Join(", ", t.QuotedRowColumns.Select((c, i) => $"{c} {t.RowTypes[i].ToSql()}"))}, ingest_ord bigint) ON COMMIT DELETE ROWS";

    public static string Copy(PlanTable t) =>
        $"COPY pg_temp.{t.StagingName} ({string.Join(", ", t.QuotedRowColumns)}, ingest_ord) FROM STDIN (FORMAT BINARY)";

    /// <summary>A direct COPY into the table itself (its row has no hidden columns: no surrogate references).</summary>
    public static string CopyInto(PlanTable t) =>
        $"COPY {t.Target.QualifiedName} ({string.Join(", ", t.Target.QuotedColumns)}) FROM STDIN (FORMAT BINARY)";

    /// <summary>A staged table's rows, as a FROM item for <see cref="MergeDimension"/>.</summary>
    public static string Staged(PlanTable t) => $"pg_temp.{t.StagingName}";

    /// <summary>
    /// A sink's rows sent as array parameters (<see cref="RowArrays"/>), as a FROM item with the
    /// staging table's columns: a direct load touches no temporary table.
    /// </summary>
    public static string Unnest(PlanTable t) =>
        $"unnest({string.Join(", ", t.RowTypes.Select((type, i) => $"${i + 1}::{type.ToSql()}[]"))}, ${t.RowTypes.Length + 1}::bigint[]) AS s({string.Join(", ", t.QuotedRowColumns)}, ingest_ord)";

    /// <summary>
    /// A direct load of a table with surrogate references: its rows (<see cref="Unnest"/>) inserted
    /// with each surrogate looked up in its dimension by natural key (NULL when it is not there, as staged).
    /// </summary>
    public static string InsertResolving(PlanTable t)
    {
        var values = t.Target.QuotedColumns.Select(c => $"s.{c}").ToArray();
        var joins = new List<string>();
        foreach (var (reference, i) in t.References.Where(r => r.SurrogateColumn >= 0).Select((r, i) => (r, i)))
        {
            var dimension = reference.Dimension.Target;
            values[reference.SurrogateColumn] = $"d{i}.{SqlIdentifier.Quote(dimension.Identity!)}";
            joins.Add($"LEFT JOIN {dimension.QualifiedName} d{i} ON {Row($"d{i}", dimension.QuotedKey)} = {Row("s", reference.NaturalKeyCopies.Select(c => t.QuotedRowColumns[c]))}");
        }
        return $"""
            INSERT INTO {t.Target.QualifiedName} ({string.Join(", ", t.Target.QuotedColumns)})
            SELECT {string.Join(", ", values)} FROM {Unnest(t)} {string.Join(" ", joins)} ORDER BY s.ingest_ord
            """;
    }

    /// <summary>
    /// The surrogates of a dimension's natural keys sent as arrays (<see cref="RowArrays.Columns"/>):
    /// rows of (natural key…, surrogate). A statement of its own after the merge, so that it sees the
    /// keys that another transaction inserted while the merge waited for it.
    /// </summary>
    public static string Surrogates(PlanTable dimension)
    {
        var target = dimension.Target;
        var keys = string.Join(", ", target.QuotedKey);
        var arrays = string.Join(", ", dimension.KeyColumns.Select((c, i) => $"${i + 1}::{dimension.RowTypes[c].ToSql()}[]"));
        return $"""
            SELECT {string.Join(", ", target.QuotedKey.Select(k => $"d.{k}"))}, d.{SqlIdentifier.Quote(target.Identity!)} FROM {target.QualifiedName} d
            WHERE {Row("d", target.QuotedKey)} IN (SELECT {keys} FROM unnest({arrays}) AS s({keys}))
            """;
    }

    /// <summary>
    /// Inserts new dimension keys and updates changed attributes; returns (distinct keys, inserted,
    /// updated). Unchanged rows are not locked: dimensions that every unit references (a "PC"
    /// platform) do not serialise the units.
    /// </summary>
    /// <param name="t">The dimension.</param>
    /// <param name="rows">Its rows: <see cref="Staged"/> or <see cref="Unnest"/>.</param>
    public static string MergeDimension(PlanTable t, string rows)
    {
        var target = t.Target;
        var columns = string.Join(", ", target.QuotedColumns);
        var key = string.Join(", ", target.QuotedKey);
        var attributes = target.QuotedColumns.Except(target.QuotedKey).ToArray();
        var update = attributes.Length == 0
            ? "SELECT 1 WHERE false"
            : $"""
              UPDATE {target.QualifiedName} AS t SET {string.Join(", ", attributes.Select(c => $"{c} = src.{c}"))}
              FROM src WHERE {Row("t", target.QuotedKey)} = {Row("src", target.QuotedKey)}
                AND {Row("t", attributes)} IS DISTINCT FROM {Row("src", attributes)}
              RETURNING 1
              """;
        return $"""
            WITH src AS (
              SELECT DISTINCT ON ({key}) {columns} FROM {rows} ORDER BY {key}, ingest_ord DESC
            ), ins AS (
              INSERT INTO {target.QualifiedName} ({columns})
              SELECT {columns} FROM src
              WHERE NOT EXISTS (SELECT FROM {target.QualifiedName} e WHERE {Row("e", target.QuotedKey)} = {Row("src", target.QuotedKey)})
              ORDER BY {key}
              ON CONFLICT ({key}) DO NOTHING
              RETURNING 1
            ), upd AS (
              {update}
            )
            SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)
            """;
    }

    /// <summary>Fills a staged table's surrogate column from its dimension, by natural key.</summary>
    public static string ResolveSurrogate(PlanTable t, PlanReference reference)
    {
        var dimension = reference.Dimension.Target;
        var copies = reference.NaturalKeyCopies.Select(i => t.QuotedRowColumns[i]).ToArray();
        return $"""
            UPDATE pg_temp.{t.StagingName} s SET {t.QuotedRowColumns[reference.SurrogateColumn]} = d.{SqlIdentifier.Quote(dimension.Identity!)}
            FROM {dimension.QualifiedName} d WHERE {Row("d", dimension.QuotedKey)} = {Row("s", copies)}
            """;
    }

    /// <summary>
    /// When a unit holds a root key twice, the last record wins whole: the staged descendant rows
    /// of its earlier occurrences go.
    /// </summary>
    public static string DropSuperseded(PlanTable root, PlanTable descendant) => $"""
        DELETE FROM pg_temp.{descendant.StagingName} s USING pg_temp.{root.StagingName} r
        WHERE {Row("r", root.Target.QuotedKey)} = {Row("s", descendant.QuotedRowColumns[..root.RootKeyWidth])} AND r.ingest_ord > s.ingest_ord
        """;

    /// <summary>
    /// Inserts new keys and updates changed rows of the root or a child (identical rows are not
    /// rewritten); returns (distinct keys, inserted, updated). Without a key, inserts every row.
    /// </summary>
    public static string Upsert(PlanTable t)
    {
        var target = t.Target;
        var columns = string.Join(", ", target.QuotedColumns);
        if (!target.IsKeyed)
            return $"""
                WITH up AS (INSERT INTO {target.QualifiedName} ({columns}) SELECT {columns} FROM pg_temp.{t.StagingName} ORDER BY ingest_ord RETURNING 1)
                SELECT count(*), count(*), 0::bigint FROM up
                """;
        return StagedMerge.Sql(target, Staged(t));
    }

    /// <summary>
    /// Deletes the rows of the root (or of a descendant) under the staged root keys: a load that wrote
    /// them takes them back before it merges later occurrences of the same keys (<see cref="Loading.RepeatedKeys"/>).
    /// </summary>
    public static string DeleteReplaced(PlanTable root, PlanTable table)
    {
        var columns = table == root ? table.Target.QuotedKey : table.Target.QuotedColumns.Take(root.RootKeyWidth);
        return $"""
            DELETE FROM {table.Target.QualifiedName} t
            WHERE {Row("t", columns)} IN (SELECT {string.Join(", ", root.Target.QuotedKey)} FROM pg_temp.{root.StagingName})
            """;
    }

    /// <summary>Deletes a descendant's rows, under the root keys this unit loaded, that the records no longer hold.</summary>
    public static string DeleteMissing(PlanTable root, PlanTable descendant)
    {
        var target = descendant.Target;
        return $"""
            DELETE FROM {target.QualifiedName} t
            WHERE {Row("t", target.QuotedColumns.Take(root.RootKeyWidth))} IN (SELECT {string.Join(", ", root.Target.QuotedKey)} FROM pg_temp.{root.StagingName})
              AND NOT EXISTS (SELECT FROM pg_temp.{descendant.StagingName} s WHERE {Row("s", target.QuotedKey)} = {Row("t", target.QuotedKey)})
            """;
    }

    private static string Row(string alias, IEnumerable<string> columns) => "(" + string.Join(", ", columns.Select(c => $"{alias}.{c}")) + ")";
}
