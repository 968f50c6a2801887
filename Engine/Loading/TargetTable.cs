using System.Security.Cryptography;
using System.Text;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Loading;

/// <summary>
/// The table a spec loads into, with every identifier validated and quoted once here, so no
/// SQL elsewhere concatenates a raw name from a spec.
/// </summary>
public sealed class TargetTable
{
    public TargetTable(TargetSpec spec)
    {
        Spec = spec;
        QualifiedName = SqlIdentifier.Quote(spec.Schema) + "." + SqlIdentifier.Quote(spec.Table);
        QuotedColumns = spec.Columns.Select(c => SqlIdentifier.Quote(c.Name)).ToArray();
        QuotedKey = spec.Key.Select(SqlIdentifier.Quote).ToArray();
        DbTypes = spec.Columns.Select(c => ToDbType(c.Type)).ToArray();
        var shape = string.Join("\n", [QualifiedName, .. spec.Columns.Select(c => $"{c.Name} {c.Type}")]);
        StagingName = "ingest_stage_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(shape)))[..16];
    }

    public TargetSpec Spec { get; }

    /// <summary><c>"schema"."table"</c>.</summary>
    public string QualifiedName { get; }

    public IReadOnlyList<string> QuotedColumns { get; }

    public IReadOnlyList<string> QuotedKey { get; }

    public IReadOnlyList<NpgsqlDbType> DbTypes { get; }

    public bool IsKeyed => QuotedKey.Count > 0;

    /// <summary>The session's temporary staging table for this target and column set (a safe identifier).</summary>
    public string StagingName { get; }

    /// <summary>
    /// Creates the table when the spec asks for it and it is absent; then checks that its columns
    /// (and, for upserts, a unique key) match the spec. Throws naming every mismatch.
    /// Call inside a transaction: creation holds a transaction-scoped advisory lock.
    /// </summary>
    public async Task EnsureAsync(NpgsqlConnection connection, CancellationToken cancellationToken = default)
    {
        var existing = await ReadColumnsAsync(connection, cancellationToken);
        if (existing.Count == 0)
        {
            if (!Spec.Create)
                throw new TargetTableException($"target table {QualifiedName} does not exist (create it, or set target.create: true)");
            await CreateAsync(connection, cancellationToken);
            existing = await ReadColumnsAsync(connection, cancellationToken);
        }

        var problems = new List<string>();
        foreach (var column in Spec.Columns)
        {
            if (!existing.TryGetValue(column.Name, out var actual))
                problems.Add($"column '{column.Name}' is missing");
            else if (!TypeMatches(column.Type, actual))
                problems.Add($"column '{column.Name}' is {actual}, the spec says {column.Type.ToSql()}");
        }
        if (IsKeyed && problems.Count == 0 && !await HasUniqueIndexOnKeyAsync(connection, cancellationToken))
            problems.Add($"no primary key or unique index on ({string.Join(", ", Spec.Key)}), which an upsert needs");
        if (problems.Count > 0)
            throw new TargetTableException($"target table {QualifiedName} does not match the spec: {string.Join("; ", problems)}");
    }

    private static bool TypeMatches(ColumnType type, string actual) =>
        actual == type.ToSql() || (type == ColumnType.Numeric && actual.StartsWith("numeric", StringComparison.Ordinal));

    private async Task<Dictionary<string, string>> ReadColumnsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            """, connection);
        cmd.Parameters.AddWithValue(QualifiedName);
        var columns = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            columns[reader.GetString(0)] = reader.GetString(1);
        return columns;
    }

    private async Task CreateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var columns = Spec.Columns.Select((c, i) => $"{QuotedColumns[i]} {c.Type.ToSql()}");
        var key = IsKeyed ? $", PRIMARY KEY ({string.Join(", ", QuotedKey)})" : "";
        // Two silos planning imports into the same new table must not race on CREATE.
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT pg_advisory_xact_lock(hashtext({Literal(QualifiedName)}));
            CREATE SCHEMA IF NOT EXISTS {SqlIdentifier.Quote(Spec.Schema)};
            CREATE TABLE IF NOT EXISTS {QualifiedName} ({string.Join(", ", columns)}{key});
            """, connection);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<bool> HasUniqueIndexOnKeyAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT EXISTS (
              SELECT 1 FROM pg_index i
              WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
                     FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
                    = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) k))
            """, connection);
        cmd.Parameters.AddWithValue(QualifiedName);
        cmd.Parameters.AddWithValue(Spec.Key.ToArray());
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string Literal(string s) => "'" + s.Replace("'", "''") + "'";

    private static NpgsqlDbType ToDbType(ColumnType type) => type switch
    {
        ColumnType.Text => NpgsqlDbType.Text,
        ColumnType.Bigint => NpgsqlDbType.Bigint,
        ColumnType.Int => NpgsqlDbType.Integer,
        ColumnType.Double => NpgsqlDbType.Double,
        ColumnType.Numeric => NpgsqlDbType.Numeric,
        ColumnType.Boolean => NpgsqlDbType.Boolean,
        ColumnType.Date => NpgsqlDbType.Date,
        ColumnType.Timestamptz => NpgsqlDbType.TimestampTz,
        ColumnType.Jsonb => NpgsqlDbType.Jsonb,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };
}
