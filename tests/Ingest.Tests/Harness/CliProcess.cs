using System.Diagnostics;

namespace Ingest.Tests.Harness;

/// <summary>What one run of the console client printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the real console client (<c>bin/ingest</c>'s program) as a separate process.</summary>
public static class CliProcess
{
    public static Task<CliResult> RunAsync(string? connectionString, params string[] args) => RunAsync(connectionString, null, args);

    public static async Task<CliResult> RunAsync(string? connectionString, IDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(RepoPaths.ClientDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (connectionString is null) psi.Environment.Remove("INGEST_DB");
        else psi.Environment["INGEST_DB"] = connectionString;
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }
}
