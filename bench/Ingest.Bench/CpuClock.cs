using System.Diagnostics;

namespace Ingest.Bench;

/// <summary>
/// CPU seconds spent so far: by the whole machine (all cores, every process), by the local
/// PostgreSQL's processes, and by the node processes. Subtract two readings to get a phase's cost.
/// </summary>
public readonly record struct CpuClock(double Machine, double Postgres, double Nodes)
{
    private const double TicksPerSecond = 100.0; // USER_HZ

    public static CpuClock Read(IEnumerable<Process> nodes) =>
        new(MachineBusy(), PostgresProcesses(), nodes.Sum(p => { p.Refresh(); return p.TotalProcessorTime.TotalSeconds; }));

    public static CpuClock operator -(CpuClock a, CpuClock b) => new(a.Machine - b.Machine, a.Postgres - b.Postgres, a.Nodes - b.Nodes);

    public override string ToString() => $"machine {Machine:F2} s, postgres {Postgres:F2} s, nodes {Nodes:F2} s";

    // /proc/stat, first line: user nice system idle iowait irq softirq steal …
    private static double MachineBusy()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..].Select(long.Parse).ToArray();
        return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / TicksPerSecond;
    }

    // Every postgres process, with the children it has reaped (backends that exited).
    private static double PostgresProcesses()
    {
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                if (!stat[(open + 1)..close].StartsWith("postgres", StringComparison.Ordinal)) continue;
                var f = stat[(close + 2)..].Split(' '); // from field 3 (state) on
                ticks += long.Parse(f[11]) + long.Parse(f[12]) + long.Parse(f[13]) + long.Parse(f[14]); // utime stime cutime cstime
            }
            catch (IOException) { } // the process ended meanwhile
        }
        return ticks / TicksPerSecond;
    }
}
