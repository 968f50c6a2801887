using System.Diagnostics;

namespace Ingest.Tests.Harness;

/// <summary>Runs a short-lived program to completion and captures its output.</summary>
public static class ExternalCommand
{
    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs <paramref name="file"/>; as the <c>postgres</c> user when <paramref name="asPostgres"/> and we are root (initdb refuses root).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, bool asPostgres = false,
        IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var psi = asPostgres && IsRoot ? new ProcessStartInfo("runuser") { ArgumentList = { "-u", "postgres", "--", file } } : new ProcessStartInfo(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish"); }
        return (p.ExitCode, await stdout + await stderr);
    }

    public static async Task RunCheckedAsync(string file, IEnumerable<string> args, bool asPostgres = false, IDictionary<string, string>? env = null)
    {
        var (code, output) = await RunAsync(file, args, asPostgres, env);
        if (code != 0) throw new InvalidOperationException($"{file} exited {code}: {output}");
    }

    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
