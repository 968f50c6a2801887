using System.Reflection;
using Npgsql;

namespace Ingest.Catalog;

/// <summary>
/// Applies the versioned scripts of <c>sql/</c> (embedded) that the database lacks, in order, in
/// one transaction under an advisory lock, so nodes and clients starting together do not race.
/// </summary>
public static class SchemaMigrator
{
    private const long MigrationLock = 0x1A6E57_0001;

    public static Task MigrateAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default) =>
        MigrateAsync(dataSource, int.MaxValue, cancellationToken);

    /// <summary>Applies the scripts up to version <paramref name="throughVersion"/> (a database as an older release left it, for upgrade tests).</summary>
    public static async Task MigrateAsync(NpgsqlDataSource dataSource, int throughVersion, CancellationToken cancellationToken = default)
    {
        var scripts = typeof(SchemaMigrator).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("sql.", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => (Name: n["sql.".Length..^".sql".Length], Resource: n))
            .Select(s => (Version: int.Parse(s.Name.Split('_')[0]), s.Name, s.Resource))
            .OrderBy(s => s.Version)
            .ToList();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await using (var init = new NpgsqlCommand(
            $"""
            SELECT pg_advisory_xact_lock({MigrationLock});
            CREATE SCHEMA IF NOT EXISTS ingest;
            CREATE TABLE IF NOT EXISTS ingest.schema_migrations (
              version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
            """, connection))
            await init.ExecuteNonQueryAsync(cancellationToken);

        var applied = new HashSet<int>();
        await using (var read = new NpgsqlCommand("SELECT version FROM ingest.schema_migrations", connection))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) applied.Add(reader.GetInt32(0));

        foreach (var script in scripts.Where(s => !applied.Contains(s.Version) && s.Version <= throughVersion))
        {
            await using var stream = typeof(SchemaMigrator).Assembly.GetManifestResourceStream(script.Resource)!;
            var sql = await new StreamReader(stream).ReadToEndAsync(cancellationToken);
            await using (var apply = new NpgsqlCommand(sql, connection))
                await apply.ExecuteNonQueryAsync(cancellationToken);
            await using var record = new NpgsqlCommand("INSERT INTO ingest.schema_migrations (version, name) VALUES ($1, $2)", connection);
            record.Parameters.AddWithValue(script.Version);
            record.Parameters.AddWithValue(script.Name);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
    }
}
