using Npgsql;

namespace Ingest.Tests.Harness;

/// <summary>
/// The source databases of the SQL-source tests, started once per test class: a second PostgreSQL
/// (asking for passwords over TCP, as a shop's database does) and a MariaDB, each on a free loopback
/// port. Each test takes a database of its own on each, with a user and a password.
/// </summary>
public sealed class SqlSources : IAsyncDisposable
{
    private static int _databases;
    private readonly Lazy<Task<PostgresServer>> _postgres = new(() => PostgresServer.StartAsync(password: $"pg-{Guid.NewGuid():N}"));

    public Task<PostgresServer> PostgresAsync() => _postgres.Value;

    public Task<MariaDbServer> MariaDbAsync() => MariaDbServer.SharedAsync();

    /// <summary>A PostgreSQL database with a login role of its own; returns its connection string and the role's password.</summary>
    public async Task<(string ConnectionString, string Password, NpgsqlDataSource Admin)> PostgresDatabaseAsync()
    {
        var server = await PostgresAsync();
        var admin = await server.CreateDatabaseAsync();
        var n = Interlocked.Increment(ref _databases);
        var (role, password) = ($"shop{n}", $"pw-{Guid.NewGuid():N}");
        var source = NpgsqlDataSource.Create(admin);
        await using (var cmd = source.CreateCommand($"CREATE ROLE {role} LOGIN PASSWORD '{password}'; GRANT ALL ON SCHEMA public TO {role}; " +
                                                    $"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}"))
            await cmd.ExecuteNonQueryAsync();
        var builder = new NpgsqlConnectionStringBuilder(admin) { Username = role, Password = password };
        return (builder.ConnectionString, password, source);
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres.IsValueCreated) await (await _postgres.Value).DisposeAsync();
    }
}
