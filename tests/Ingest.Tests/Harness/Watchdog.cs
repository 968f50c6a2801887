using System.Diagnostics;

namespace Ingest.Tests.Harness;

/// <summary>
/// Cleans up what the test run started (PostgreSQL servers, s3rver, node processes) even when the
/// test host is killed rather than shut down: a detached shell waits for the test host to end, then
/// runs the cleanup scripts registered in a folder of its own. Items that end normally unregister.
/// </summary>
public static class Watchdog
{
    private static readonly Lazy<string> Folder = new(Start);

    /// <summary>Registers a shell command to run if the test host dies; dispose the result once it is no longer needed.</summary>
    public static IDisposable Register(string shellCommand)
    {
        var file = Path.Combine(Folder.Value, Guid.NewGuid().ToString("N") + ".sh");
        File.WriteAllText(file, shellCommand + "\n");
        return new Registration(file);
    }

    private static string Start()
    {
        var folder = Directory.CreateTempSubdirectory($"ingest-tests-{Environment.ProcessId}-").FullName;
        var script = $"""
            exec </dev/null >/dev/null 2>&1
            while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done
            for f in '{folder}'/*.sh; do [ -f "$f" ] && bash "$f"; done
            rm -rf '{folder}'
            """;
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var a in new[] { "bash", "-c", script }) psi.ArgumentList.Add(a);
        Process.Start(psi)!.Dispose();
        return folder;
    }

    private sealed class Registration(string file) : IDisposable
    {
        public void Dispose() => File.Delete(file);
    }
}
