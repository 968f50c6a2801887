using Npgsql;

namespace Ingest.Tests.Harness;

/// <summary>
/// A throwaway PostgreSQL server from the machine's Debian binaries: initdb in a temp folder,
/// listening on a free loopback port, removed when the test run ends.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly Lazy<Task<PostgresServer>> SharedServer = new(() => StartAsync());
    private static int _databases;
    private readonly string _bin;
    private readonly string _dir;
    private IDisposable? _watchdog;

    private PostgresServer(string bin, string dir, int port, string? password)
    {
        _bin = bin;
        _dir = dir;
        Port = port;
        Password = password;
    }

    /// <summary>The superuser's password, for a server that asks for passwords over TCP; null: trust.</summary>
    public string? Password { get; }

    /// <summary>The server most tests share; each test takes its own database on it.</summary>
    public static Task<PostgresServer> SharedAsync() => SharedServer.Value;

    public int Port { get; }

    /// <summary>The folder of the server's binaries (pg_dump, …).</summary>
    public string Bin => _bin;

    private string DataDir => Path.Combine(_dir, "data");

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Timeout=15;Maximum Pool Size=30{(Password is null ? "" : ";Password=" + Password)}";

    /// <summary>Starts a server; with <paramref name="password"/>, connections over TCP must give it (scram-sha-256), as a source database's do.</summary>
    public static async Task<PostgresServer> StartAsync(int? port = null, string? password = null)
    {
        var bin = FindBinaries();
        var dir = Directory.CreateTempSubdirectory("ingest-pg-").FullName;
        if (ExternalCommand.IsRoot) await ExternalCommand.RunCheckedAsync("chown", ["postgres:postgres", dir]);
        string[] auth = ["--auth=trust"];
        if (password is not null)
        {
            var file = Path.Combine(dir, "pwfile");
            await File.WriteAllTextAsync(file, password + "\n");
            if (ExternalCommand.IsRoot) await ExternalCommand.RunCheckedAsync("chown", ["postgres:postgres", file]);
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", $"--pwfile={file}"];
        }
        await ExternalCommand.RunCheckedAsync(Path.Combine(bin, "initdb"),
            ["-D", Path.Combine(dir, "data"), "-U", "postgres", .. auth, "-E", "UTF8", "--no-sync", "--locale=C"], asPostgres: true);
        var server = new PostgresServer(bin, dir, port ?? ExternalCommand.FreePort(), password);
        var pgCtl = (ExternalCommand.IsRoot ? "runuser -u postgres -- " : "") + $"'{Path.Combine(bin, "pg_ctl")}'";
        server._watchdog = Watchdog.Register($"{pgCtl} -D '{server.DataDir}' stop -m immediate -w; rm -rf '{dir}'");
        await server.PgCtlAsync("start");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return server;
    }

    /// <summary>Creates an empty database for one test.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..20];
        await using var conn = new NpgsqlConnection(ConnectionString("postgres"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>Stops the server with a fast shutdown (every session is cut) and starts it again.</summary>
    public Task RestartAsync() => PgCtlAsync("restart", "-m", "fast");

    public async ValueTask DisposeAsync()
    {
        if (Directory.Exists(DataDir))
        {
            await ExternalCommand.RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDir, "stop", "-m", "immediate", "-w"], asPostgres: true);
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }
        _watchdog?.Dispose();
    }

    private Task PgCtlAsync(string action, params string[] extra) => ExternalCommand.RunCheckedAsync(Path.Combine(_bin, "pg_ctl"),
    [
        "-D", DataDir, "-l", Path.Combine(_dir, "server.log"), "-w", "-t", "60",
        "-o", $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={_dir} -c fsync=off -c synchronous_commit=off " +
              "-c full_page_writes=off -c max_connections=500 -c shared_buffers=64MB -c client_connection_check_interval=1000",
        action, .. extra,
    ], asPostgres: true);

    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("INGEST_PG_BIN") is { Length: > 0 } configured) return configured;
        var found = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0).FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run 'make test' (installs Debian's postgresql) or set INGEST_PG_BIN");
    }
}
