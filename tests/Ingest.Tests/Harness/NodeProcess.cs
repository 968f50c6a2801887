using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ingest.Tests.Harness;

/// <summary>A real <c>ingest-node</c> process; killed with SIGKILL or stopped with SIGTERM like in production.</summary>
public sealed partial class NodeProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly IDisposable _watchdog;

    private NodeProcess(Process process)
    {
        _process = process;
        _watchdog = Watchdog.Register($"kill -9 {process.Id}");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output => string.Join(Environment.NewLine, _lines);

    /// <summary>
    /// Starts a node. Leases are short (3 s, heartbeat 0.5 s) so the failover tests run in seconds;
    /// production defaults are 6 s and 1 s.
    /// </summary>
    public static NodeProcess Start(string connectionString, int slots = 2, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(RepoPaths.NodeDll);
        psi.Environment["INGEST_DB"] = connectionString;
        psi.Environment["INGEST_NODE_SLOTS"] = slots.ToString();
        psi.Environment["INGEST_LEASE_SECONDS"] = "3";
        psi.Environment["INGEST_HEARTBEAT_SECONDS"] = "0.5";
        psi.Environment["DOTNET_TieredPGO"] = "0";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return new NodeProcess(Process.Start(psi)!);
    }

    /// <summary>SIGKILL: no chance to release anything.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: the node stops claiming, abandons its units and releases their leases.</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>
    /// SIGSTOP: the node freezes (as in a long GC pause or a VM stall) without its connections
    /// closing. Returns once every thread has stopped: the signal itself takes effect later.
    /// </summary>
    public async Task FreezeAsync()
    {
        Signal(SigStop);
        await Poll.UntilAsync(() => Task.FromResult(AllThreadsStopped()), TimeSpan.FromSeconds(10), $"node {Pid} to stop");
    }

    // /proc/PID/task/TID/stat: "tid (comm) S ..."; T is stopped by a signal.
    private bool AllThreadsStopped() => Directory.GetDirectories($"/proc/{Pid}/task").All(task =>
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(task, "stat"));
            return stat[stat.LastIndexOf(')')..].StartsWith(") T", StringComparison.Ordinal);
        }
        catch (IOException) { return true; } // the thread ended
    });

    /// <summary>SIGCONT: a frozen node carries on where it was.</summary>
    public void Thaw() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _watchdog.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
