using MySqlConnector;

namespace Ingest.Tests.Harness;

/// <summary>
/// A throwaway MariaDB server from the machine's Debian binaries (<c>bin/install-deps</c> installs
/// them without starting a service): <c>mariadb-install-db</c> in a temp folder, then <c>mariadbd</c>
/// as a plain process on a free loopback port, stopped and removed when the test run ends.
/// </summary>
public sealed class MariaDbServer : IAsyncDisposable
{
    private static readonly Lazy<Task<MariaDbServer>> SharedServer = new(() => StartAsync());
    private static int _databases;
    private readonly string _dir;
    private readonly System.Diagnostics.Process _process;
    private readonly IDisposable _watchdog;

    private MariaDbServer(string dir, int port, System.Diagnostics.Process process, IDisposable watchdog)
    {
        _dir = dir;
        Port = port;
        _process = process;
        _watchdog = watchdog;
    }

    /// <summary>The server the SQL-source tests share; each takes its own database on it.</summary>
    public static Task<MariaDbServer> SharedAsync() => SharedServer.Value;

    public int Port { get; }

    /// <summary>The administrator's connection string (root, no password), to a database or none.</summary>
    public string RootConnectionString(string? database = null) =>
        $"Server=127.0.0.1;Port={Port};User ID=root;Database={database ?? ""};Connection Timeout=15";

    public static async Task<MariaDbServer> StartAsync()
    {
        var server = FindBinary("mariadbd", "/usr/sbin");
        var install = FindBinary("mariadb-install-db", "/usr/bin");
        var dir = Directory.CreateTempSubdirectory("ingest-mariadb-").FullName;
        var data = Path.Combine(dir, "data");
        var user = ExternalCommand.IsRoot ? "--user=root" : $"--user={Environment.UserName}";
        await ExternalCommand.RunCheckedAsync(install, ["--no-defaults", $"--datadir={data}", "--auth-root-authentication-method=normal", user, "--skip-test-db"]);
        var port = ExternalCommand.FreePort();
        var psi = new System.Diagnostics.ProcessStartInfo(server)
        {
            ArgumentList =
            {
                "--no-defaults", $"--datadir={data}", $"--port={port}", "--bind-address=127.0.0.1", $"--socket={Path.Combine(dir, "sock")}",
                $"--pid-file={Path.Combine(dir, "pid")}", user, "--skip-log-bin", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
                $"--log-error={Path.Combine(dir, "error.log")}", "--max-connections=300",
            },
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        var process = System.Diagnostics.Process.Start(psi)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var watchdog = Watchdog.Register($"kill -9 {process.Id}; rm -rf '{dir}'");
        var started = new MariaDbServer(dir, port, process, watchdog);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => started.DisposeAsync().AsTask().GetAwaiter().GetResult();
        await Poll.UntilAsync(async () =>
        {
            if (process.HasExited) throw new InvalidOperationException($"mariadbd exited {process.ExitCode}: {ReadLog(dir)}");
            try
            {
                await using var conn = new MySqlConnection(started.RootConnectionString());
                await conn.OpenAsync();
                return true;
            }
            catch (MySqlException) { return false; }
        }, TimeSpan.FromSeconds(60), "mariadbd to accept connections");
        return started;
    }

    /// <summary>Creates an empty database, and a user that may read and write only it, with a password.</summary>
    public async Task<(string Database, string User, string Password)> CreateDatabaseAsync()
    {
        var n = Interlocked.Increment(ref _databases);
        var (database, user, password) = ($"shop{n}", $"shop{n}", $"pw-{Guid.NewGuid():N}");
        await ExecuteAsync($"CREATE DATABASE `{database}`; CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; " +
                           $"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1';");
        return (database, user, password);
    }

    /// <summary>Runs statements as the administrator.</summary>
    public async Task ExecuteAsync(string sql, string? database = null)
    {
        await using var conn = new MySqlConnection(RootConnectionString(database) + ";Allow User Variables=true");
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public string ConnectionString(string database, string user, string password) =>
        $"Server=127.0.0.1;Port={Port};User ID={user};Password={password};Database={database};Connection Timeout=15";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        _watchdog.Dispose();
    }

    private static string ReadLog(string dir) => File.Exists(Path.Combine(dir, "error.log")) ? File.ReadAllText(Path.Combine(dir, "error.log")) : "";

    private static string FindBinary(string name, string folder) =>
        File.Exists(Path.Combine(folder, name)) ? Path.Combine(folder, name)
        : throw new InvalidOperationException($"{name} not found in {folder}: run 'make test' (bin/install-deps --s3rver installs Debian's mariadb-server, starting no service)");
}
