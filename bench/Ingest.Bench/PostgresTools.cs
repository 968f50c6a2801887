using System.Diagnostics;
using Npgsql;

namespace Ingest.Bench;

/// <summary>PostgreSQL's own command-line tools (psql, pgbench) run against the benchmark's database.</summary>
public static class PostgresTools
{
    /// <summary>Debian's newest PostgreSQL binaries folder.</summary>
    public static string Bin() =>
        Directory.GetDirectories("/usr/lib/postgresql").OrderBy(d => Version.TryParse(Path.GetFileName(d), out var v) ? v : new Version())
            .Select(d => Path.Combine(d, "bin")).Last();

    /// <summary>The libpq connection string of an Npgsql one.</summary>
    public static string ConnInfo(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"host={b.Host} port={b.Port} user={b.Username} dbname={b.Database}";
    }

    /// <summary>Runs a command to its end: its standard output and wall-clock seconds. A failure stops the benchmark.</summary>
    public static async Task<(string Output, double Seconds)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var seconds = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {process.ExitCode}:\n{await output}\n{await error}");
        return (await output, seconds);
    }
}
