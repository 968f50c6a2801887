using Ingest.GrainInterfaces;

namespace Ingest.Engine.Loading;

/// <summary>
/// The upsert from a staging table into its target: <c>INSERT … SELECT … ON CONFLICT DO UPDATE …
/// WHERE row differs</c>. The last occurrence of a key in staging wins (highest <c>ingest_ord</c>),
/// rows are written in key order (so concurrent units with overlapping keys lock in the same
/// order), and identical rows are not rewritten. With a dedup hash only the hash tells a changed
/// row; with <c>onConflict: keep</c> existing rows are never touched; with a version column
/// (<see cref="TargetTable.Version"/>) the greatest version wins and a row is updated only by a greater one.
/// </summary>
public static class StagedMerge
{
    /// <summary>
    /// Empties a staging table at a unit's start: a transaction that loads a batch of units stages
    /// them one after another. A DELETE, since staging then holds few rows (or none), and a TRUNCATE
    /// rewrites the catalog.
    /// </summary>
    public static string ClearStaging(string staging) => $"DELETE FROM pg_temp.{staging}";

    /// <summary>Staging tables a session may hold besides those of the load at hand.</summary>
    public const int SessionStagingSlack = 32;

    /// <summary>
    /// Drops the session's temporary tables when it holds more than <see cref="SessionStagingSlack"/>
    /// staging tables beyond the <paramref name="needed"/> ones of the load at hand (which then
    /// recreates them). Staging tables live as long as the pooled session, so it gathers those of
    /// every import it served, and PostgreSQL empties every one of them at each commit that touched
    /// any. Staging names start with <c>ingest_</c>: the count is a range of pg_class's name index.
    /// </summary>
    public static string BoundSessionStaging(int needed) => $$"""
        DO $$ BEGIN
          IF (SELECT count(*) FROM pg_class WHERE relname >= 'ingest_' AND relname < 'ingest`' AND relnamespace = pg_my_temp_schema())
             > {{needed + SessionStagingSlack}} THEN DISCARD TEMP; END IF;
        END $$
        """;

    /// <summary>Rows sent as arrays (<see cref="RowArrays"/>), as a FROM item with the target's columns and <c>ingest_ord</c>, for <see cref="Sql"/> and <see cref="Replace"/>.</summary>
    public static string Unnest(TargetTable target) =>
        $"unnest({string.Join(", ", target.Columns.Select((c, i) => $"${i + 1}::{c.Type.ToSql()}[]"))}, ${target.Columns.Count + 1}::bigint[]) AS s({string.Join(", ", target.QuotedColumns)}, ingest_ord)";

    /// <summary>
    /// Overwrites the target's rows of the given keys with the last occurrence of each: rows this
    /// transaction wrote, whose keys its load met again (<see cref="RepeatedKeys"/>). Null when the
    /// target has no column besides its key.
    /// </summary>
    /// <param name="target">The target.</param>
    /// <param name="rows">A FROM item of rows with <c>ingest_ord</c>: <see cref="Unnest"/>.</param>
    public static string? Replace(TargetTable target, string rows)
    {
        var attributes = target.QuotedColumns.Except(target.QuotedKey).ToArray();
        if (attributes.Length == 0) return null;
        var key = string.Join(", ", target.QuotedKey);
        var newer = target.Version is { } v ? $" AND (t.{v} IS NULL OR src.{v} > t.{v})" : "";
        return $"""
            UPDATE {target.QualifiedName} AS t SET ({string.Join(", ", attributes)}) = ROW({string.Join(", ", attributes.Select(c => "src." + c))})
            FROM (SELECT DISTINCT ON ({key}) {string.Join(", ", target.QuotedColumns)} FROM {rows} ORDER BY {key}, {Winner(target)}) AS src
            WHERE ({string.Join(", ", target.QuotedKey.Select(c => "t." + c))}) = ({string.Join(", ", target.QuotedKey.Select(c => "src." + c))}){newer}
            """;
    }

    /// <summary>The statement; it returns one row: (distinct keys staged, inserted, updated).</summary>
    /// <param name="target">The target.</param>
    /// <param name="rows">A FROM item of rows with <c>ingest_ord</c>: a staging table (<c>pg_temp.…</c>), or <see cref="Unnest"/>.</param>
    public static string Sql(TargetTable target, string rows)
    {
        var columns = string.Join(", ", target.QuotedColumns);
        var key = string.Join(", ", target.QuotedKey);
        var attributes = target.QuotedColumns.Except(target.QuotedKey).ToArray();
        var compared = target.ChangedWhen?.Select(SqlIdentifier.Quote).ToArray() ?? attributes;
        var newer = target.Version is { } v ? $" AND (t.{v} IS NULL OR EXCLUDED.{v} > t.{v})" : "";
        var onConflict = attributes.Length == 0 || target.KeepExisting
            ? "DO NOTHING"
            : $"""
              DO UPDATE SET {string.Join(", ", attributes.Select(c => $"{c} = EXCLUDED.{c}"))}
              WHERE ({string.Join(", ", compared.Select(c => "t." + c))}) IS DISTINCT FROM ({string.Join(", ", compared.Select(c => "EXCLUDED." + c))}){newer}
              """;
        // xmax = 0 on a returned row means it was inserted; otherwise an existing row was updated.
        // Rows the WHERE leaves alone are not returned: they are the unchanged ones.
        return $"""
            WITH src AS (
              SELECT DISTINCT ON ({key}) {columns} FROM {rows} ORDER BY {key}, {Winner(target)}
            ), up AS (
              INSERT INTO {target.QualifiedName} AS t ({columns})
              SELECT {columns} FROM src ORDER BY {key}
              ON CONFLICT ({key}) {onConflict}
              RETURNING (t.xmax = 0) AS inserted
            )
            SELECT (SELECT count(*) FROM src), count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
            """;
    }

    // Of a key met more than once, the row that wins: the greatest version, else the last.
    private static string Winner(TargetTable target) =>
        target.Version is { } v ? $"{v} DESC NULLS LAST, ingest_ord DESC" : "ingest_ord DESC";
}
