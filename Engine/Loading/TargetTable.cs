using System.Security.Cryptography;
using System.Text;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;

namespace Ingest.Engine.Loading;

/// <summary>
/// A table a spec loads into, with every identifier validated and quoted once here, so no
/// SQL elsewhere concatenates a raw name from a spec.
/// </summary>
public sealed class TargetTable
{
    /// <summary>The target of a flat spec: one table.</summary>
    public TargetTable(TargetSpec spec)
        : this(spec.Schema, spec.Table, spec.Columns.Select(c => new TableColumn(c.Name, c.Type)).ToArray(), spec.Key, spec.Create)
    {
        ChangedWhen = spec.Dedup is { } dedup ? [dedup.Column] : null;
        KeepExisting = spec.OnConflict == ConflictAction.Keep;
        Version = spec.VersionColumn is { } version ? SqlIdentifier.Quote(version) : null;
    }

    /// <param name="schema">The table's schema.</param>
    /// <param name="table">The table's name.</param>
    /// <param name="columns">The columns the loader writes.</param>
    /// <param name="key">The upsert's conflict target: the primary key, or with <paramref name="identity"/> a unique natural key.</param>
    /// <param name="create">Whether to create the table when it is absent.</param>
    /// <param name="identity">An identity column the table gets as its primary key (a dimension's surrogate).</param>
    public TargetTable(string schema, string table, IReadOnlyList<TableColumn> columns, IReadOnlyList<string> key, bool create, string? identity = null)
    {
        Schema = schema;
        Name = table;
        Columns = columns;
        Key = key;
        Create = create;
        Identity = identity;
        QualifiedName = SqlIdentifier.Quote(schema) + "." + SqlIdentifier.Quote(table);
        QuotedColumns = columns.Select(c => SqlIdentifier.Quote(c.Name)).ToArray();
        QuotedKey = key.Select(SqlIdentifier.Quote).ToArray();
        KeyColumns = key.Select(k => columns.Select(c => c.Name).ToList().IndexOf(k)).ToArray();
        var shape = string.Join("\n", [QualifiedName, .. columns.Select(c => $"{c.Name} {c.Type}")]);
        StagingName = "ingest_stage_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(shape)))[..16];
    }

    public string Schema { get; }

    public string Name { get; }

    public IReadOnlyList<TableColumn> Columns { get; }

    /// <summary>The upsert's conflict target (empty: plain inserts).</summary>
    public IReadOnlyList<string> Key { get; }

    public bool Create { get; }

    /// <summary>The identity column that is the primary key, when the key is a natural one beside it.</summary>
    public string? Identity { get; }

    /// <summary>
    /// The columns whose difference makes an existing row "changed" (the dedup hash); null: all
    /// columns outside the key.
    /// </summary>
    public IReadOnlyList<string>? ChangedWhen { get; init; }

    /// <summary>Rows whose key exists are left as they are (<c>onConflict: keep</c>).</summary>
    public bool KeepExisting { get; init; }

    /// <summary>
    /// The quoted column that orders a key's versions (<c>target.versionColumn</c>): a row is updated
    /// only by a greater one, and of a key met twice the greatest wins. Null: the last one wins.
    /// </summary>
    public string? Version { get; init; }

    /// <summary>Columns a created table gets besides those the loader writes: generated ones (a date dimension's calendar), as column definitions.</summary>
    public IReadOnlyList<string> Derived { get; init; } = [];

    /// <summary>Foreign keys a created table gets.</summary>
    public List<ForeignKey> ForeignKeys { get; } = [];

    /// <summary><c>"schema"."table"</c>.</summary>
    public string QualifiedName { get; }

    public IReadOnlyList<string> QuotedColumns { get; }

    public IReadOnlyList<string> QuotedKey { get; }

    public bool IsKeyed => QuotedKey.Count > 0;

    /// <summary>Where the key's columns are in a row of <see cref="Columns"/>.</summary>
    public IReadOnlyList<int> KeyColumns { get; }

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
            if (!Create)
                throw new TargetTableException($"target table {QualifiedName} does not exist (create it, or set target.create: true)");
            await CreateAsync(connection, cancellationToken);
            existing = await ReadColumnsAsync(connection, cancellationToken);
        }

        var problems = new List<string>();
        if (Identity is not null && (!existing.TryGetValue(Identity, out var identityType) || identityType != "bigint"))
            problems.Add($"column '{Identity}' (the surrogate key, bigint) is missing");
        foreach (var column in Columns)
        {
            if (!existing.TryGetValue(column.Name, out var actual))
                problems.Add($"column '{column.Name}' is missing");
            else if (!TypeMatches(column.Type, actual))
                problems.Add($"column '{column.Name}' is {actual}, the spec says {column.Type.ToSql()}");
        }
        if (IsKeyed && problems.Count == 0 && !await HasUniqueIndexOnKeyAsync(connection, cancellationToken))
            problems.Add($"no primary key or unique index on ({string.Join(", ", Key)}), which an upsert needs");
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
        var columns = Columns.Select((c, i) => $"{QuotedColumns[i]} {c.Type.ToSql()}").Concat(Derived).ToList();
        if (Identity is not null)
        {
            columns.Insert(0, $"{SqlIdentifier.Quote(Identity)} bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
            columns.Add($"UNIQUE ({string.Join(", ", QuotedKey)})");
        }
        else if (IsKeyed) columns.Add($"PRIMARY KEY ({string.Join(", ", QuotedKey)})");
        foreach (var fk in ForeignKeys)
            columns.Add($"FOREIGN KEY ({string.Join(", ", fk.Columns.Select(SqlIdentifier.Quote))}) REFERENCES {fk.Table.QualifiedName} ({string.Join(", ", fk.TableColumns.Select(SqlIdentifier.Quote))}){(fk.Cascade ? " ON DELETE CASCADE" : "")}");
        // Two silos planning imports into the same new table must not race on CREATE.
        await using var cmd = new NpgsqlCommand(
            $"""
            SELECT pg_advisory_xact_lock(hashtext({Literal(QualifiedName)}));
            CREATE SCHEMA IF NOT EXISTS {SqlIdentifier.Quote(Schema)};
            CREATE TABLE IF NOT EXISTS {QualifiedName} ({string.Join(", ", columns)});
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
        cmd.Parameters.AddWithValue(Key.ToArray());
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string Literal(string s) => "'" + s.Replace("'", "''") + "'";

    internal static NpgsqlDbType ToDbType(ColumnType type) => type switch
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
        ColumnType.Uuid => NpgsqlDbType.Uuid,
        ColumnType.Bytea => NpgsqlDbType.Bytea,
        ColumnType.Timestamp => NpgsqlDbType.Timestamp,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };
}

/// <summary>A column of a target table.</summary>
public sealed record TableColumn(string Name, ColumnType Type);

/// <summary>A foreign key from <paramref name="Columns"/> to <paramref name="TableColumns"/> of <paramref name="Table"/>.</summary>
public sealed record ForeignKey(IReadOnlyList<string> Columns, TargetTable Table, IReadOnlyList<string> TableColumns, bool Cascade);
