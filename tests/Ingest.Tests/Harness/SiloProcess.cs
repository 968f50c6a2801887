using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Ingest.Tests.Harness;

/// <summary>A real <c>ingest-silo</c> process; killed with SIGKILL, stopped with SIGTERM, frozen with SIGSTOP, as in production.</summary>
public sealed partial class SiloProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly IDisposable _watchdog;

    private SiloProcess(Process process)
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

    /// <summary>The silo's address as the database names it (<c>ip:port@generation</c>), once it has started; the latest if it rejoined.</summary>
    public string? Address => _lines.Select(l => Started().Match(l)).LastOrDefault(m => m.Success)?.Groups[1].Value;

    [GeneratedRegex(@"silo \S+ (\S+:\d+@\d+) started on ")]
    private static partial Regex Started();

    /// <summary>
    /// Starts a silo with <paramref name="slots"/> unit slots; without <paramref name="batches"/> every
    /// attempt carries one unit; <paramref name="env"/> adds or overrides variables.
    /// </summary>
    public static SiloProcess Start(string connectionString, int slots = 2, IDictionary<string, string>? env = null, bool batches = true)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(RepoPaths.SiloDll);
        psi.Environment["INGEST_DB"] = connectionString;
        psi.Environment["INGEST_SILO_SLOTS"] = slots.ToString();
        psi.Environment["DOTNET_TieredPGO"] = "0";
        if (!batches) psi.Environment["INGEST_BATCH_UNITS"] = "1";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return new SiloProcess(Process.Start(psi)!);
    }

    /// <summary>Waits until the silo has joined the cluster (it logs its address).</summary>
    public async Task<string> StartedAsync(TimeSpan? timeout = null)
    {
        await Poll.UntilAsync(() => Task.FromResult(Address is not null || HasExited), timeout ?? TimeSpan.FromSeconds(60), () => $"silo {Pid} to start; output:\n{Output}");
        return Address ?? throw new InvalidOperationException($"silo {Pid} exited before it started:\n{Output}");
    }

    /// <summary>SIGKILL: no chance to hand anything back.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: the silo hands its units back and leaves the cluster.</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>
    /// SIGSTOP: the silo freezes (as in a long GC pause or a VM stall) without its connections
    /// closing. Returns once every thread has stopped: the signal itself takes effect later.
    /// </summary>
    public async Task FreezeAsync()
    {
        Signal(SigStop);
        await Poll.UntilAsync(() => Task.FromResult(AllThreadsStopped()), TimeSpan.FromSeconds(10), $"silo {Pid} to stop");
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

    /// <summary>SIGCONT: a frozen silo carries on where it was.</summary>
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
