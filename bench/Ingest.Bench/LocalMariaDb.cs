using System.Diagnostics;
using MySqlConnector;

namespace Ingest.Bench;

/// <summary>
/// A MariaDB for one benchmark run, from Debian's binaries (<c>bin/install-deps --s3rver</c>):
/// <c>mariadb-install-db</c> in the run's folder and <c>mariadbd</c> as a plain process on a free
/// loopback port, killed at the end; no service is involved.
/// </summary>
public sealed class LocalMariaDb : IAsyncDisposable
{
    private readonly Process _process;
    private readonly int _port;

    private LocalMariaDb(Process process, int port, string socket)
    {
        _process = process;
        _port = port;
        Socket = socket;
    }

    /// <summary>The server's socket, for the <c>mariadb</c> client.</summary>
    public string Socket { get; }

    /// <summary>Debian's <c>mariadb</c> client.</summary>
    public string Client => "/usr/bin/mariadb";

    public string ConnectionString(string database) => $"Server=127.0.0.1;Port={_port};User ID=root;Database={database}";

    public static async Task<LocalMariaDb> StartAsync(string work)
    {
        var data = Path.Combine(work, "mariadb");
        var user = Environment.UserName == "root" ? "--user=root" : $"--user={Environment.UserName}";
        await PostgresTools.RunAsync("/usr/bin/mariadb-install-db", "--no-defaults", $"--datadir={data}", "--auth-root-authentication-method=normal", user, "--skip-test-db");
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var socket = Path.Combine(work, "mariadb.sock");
        var psi = new ProcessStartInfo("/usr/sbin/mariadbd") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--no-defaults", $"--datadir={data}", $"--port={port}", "--bind-address=127.0.0.1", $"--socket={socket}", user, "--skip-log-bin",
                     "--innodb-buffer-pool-size=512M", "--innodb-flush-log-at-trx-commit=0", $"--log-error={Path.Combine(work, "mariadb.log")}" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new LocalMariaDb(process, port, socket);
        for (var clock = Stopwatch.StartNew(); ; await Task.Delay(100))
        {
            try
            {
                await using var conn = new MySqlConnection(server.ConnectionString(""));
                await conn.OpenAsync();
                return server;
            }
            catch (MySqlException) when (clock.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
            }
        }
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var conn = new MySqlConnection(ConnectionString("") + ";Default Command Timeout=0");
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
    }
}
