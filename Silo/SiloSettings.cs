using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ingest.Grains;

namespace Ingest.Silo;

/// <summary>
/// Everything a silo is configured with, read from <c>INGEST_*</c> variables. A value that does not
/// parse is a startup error naming the variable, never a silent default.
/// </summary>
public sealed class SiloSettings
{
    /// <summary>Npgsql connection string: Orleans' membership, grain state and reminders, the catalog, and the default target. <c>INGEST_DB</c>.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>Orleans cluster and service id; silos and clients of one cluster share it. <c>INGEST_CLUSTER_ID</c>, default <c>ingest</c>.</summary>
    public string ClusterId { get; init; } = "ingest";

    /// <summary>The silo's name; its process id is appended. <c>INGEST_SILO_NAME</c>, default <c>silo</c>.</summary>
    public string Name { get; init; } = "silo";

    /// <summary>The address other silos and clients reach this one at. <c>INGEST_SILO_ADDRESS</c>: an IP, or a host name to resolve (<c>hostname</c>: this machine's name); default 127.0.0.1.</summary>
    public IPAddress AdvertisedAddress { get; init; } = IPAddress.Loopback;

    /// <summary>Silo-to-silo port. <c>INGEST_SILO_PORT</c>; 0 (default): a free port.</summary>
    public int SiloPort { get; init; }

    /// <summary>Client gateway port. <c>INGEST_GATEWAY_PORT</c>; 0 (default): a free port.</summary>
    public int GatewayPort { get; init; }

    /// <summary>How long a probe of another silo may take (<c>INGEST_PROBE_TIMEOUT_SECONDS</c>, default 1).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest a probe timeout grows to while this silo is degraded (<c>INGEST_MAX_PROBE_TIMEOUT_SECONDS</c>, default 3).</summary>
    public TimeSpan MaxProbeTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Missed probes before a silo suspects another (<c>INGEST_MISSED_PROBES</c>, default 2).</summary>
    public int MissedProbesLimit { get; init; } = 2;

    /// <summary>Suspicions needed to declare a silo dead (<c>INGEST_DEATH_VOTES</c>, default 2; fewer live silos need fewer).</summary>
    public int DeathVotes { get; init; } = 2;

    /// <summary>
    /// Whether a silo that still receives messages from another is kept from voting it dead
    /// (<c>INGEST_CONNECTION_LIVENESS_CHECK</c>, default false: a frozen silo's open connections
    /// would otherwise delay its eviction by about a minute).
    /// </summary>
    public bool ConnectionLivenessCheck { get; init; }

    /// <summary>How long dead silos' rows stay in the membership table (<c>INGEST_DEFUNCT_SILO_SECONDS</c>, default 3600).</summary>
    public TimeSpan DefunctSiloExpiration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Port of the Orleans dashboard; none when unset. <c>INGEST_DASHBOARD_PORT</c>.</summary>
    public int? DashboardPort { get; init; }

    /// <summary>The web console, when <c>INGEST_WEB_PORT</c> is set; null: none.</summary>
    public Web.WebConsoleOptions? Web { get; init; }

    /// <summary>Whether log lines are JSON objects (<c>INGEST_LOG_FORMAT=json</c>) rather than plain text (<c>text</c>, the default).</summary>
    public bool JsonLogs { get; init; }

    /// <summary>The grains' own options.</summary>
    public required IngestSiloOptions Grains { get; init; }

    /// <summary>Reads the environment; throws <see cref="SiloSettingsException"/> naming every bad variable.</summary>
    public static SiloSettings FromEnvironment()
    {
        var problems = new List<string>();
        var env = new Reader(problems);
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrWhiteSpace(cs)) problems.Add("INGEST_DB is not set: give it an Npgsql connection string, e.g. 'Host=127.0.0.1;Port=5432;Username=postgres;Database=ingest'");
        var defaults = new IngestSiloOptions();
        var grains = new IngestSiloOptions
        {
            Slots = env.Int("INGEST_SILO_SLOTS", defaults.Slots, min: 1),
            BatchUnits = env.Int("INGEST_BATCH_UNITS", defaults.BatchUnits, min: 1),
            BatchUnitBytes = env.Int("INGEST_BATCH_UNIT_BYTES", (int)defaults.BatchUnitBytes, min: 0),
            BatchBytes = env.Int("INGEST_BATCH_BYTES", (int)defaults.BatchBytes, min: 0),
            ReconcileInterval = env.Seconds("INGEST_RECONCILE_SECONDS", defaults.ReconcileInterval),
            ReminderPeriod = env.Seconds("INGEST_REMINDER_SECONDS", defaults.ReminderPeriod),
            SweepInterval = env.Seconds("INGEST_SWEEP_SECONDS", defaults.SweepInterval),
            PlanAttempts = env.Int("INGEST_PLAN_ATTEMPTS", defaults.PlanAttempts, min: 1),
            PlanBackoff = env.Seconds("INGEST_PLAN_BACKOFF_SECONDS", defaults.PlanBackoff, allowZero: true),
            KillAfterBatches = Environment.GetEnvironmentVariable("INGEST_FAULT_KILL_AFTER_BATCHES") is null ? null : env.Int("INGEST_FAULT_KILL_AFTER_BATCHES", 0, min: 1),
            ScheduleTick = env.Seconds("INGEST_SCHEDULE_SECONDS", defaults.ScheduleTick),
            QueueOutage = env.Seconds("INGEST_QUEUE_OUTAGE_SECONDS", defaults.QueueOutage),
            EventMaxAge = env.Seconds("INGEST_EVENT_MAX_AGE_SECONDS", defaults.EventMaxAge),
            ArchiveInterval = env.Seconds("INGEST_ARCHIVE_SECONDS", defaults.ArchiveInterval),
            ArchiveLease = env.Seconds("INGEST_ARCHIVE_LEASE_SECONDS", defaults.ArchiveLease),
            RetentionDays = env.Int("INGEST_RETENTION_DAYS", 0, min: 1, optional: true) is var days and > 0 ? days : null,
        };
        var settings = new SiloSettings
        {
            ConnectionString = cs ?? "",
            ClusterId = env.Text("INGEST_CLUSTER_ID", "ingest"),
            Name = env.Text("INGEST_SILO_NAME", "silo"),
            AdvertisedAddress = env.Address("INGEST_SILO_ADDRESS", IPAddress.Loopback),
            SiloPort = env.Int("INGEST_SILO_PORT", 0, min: 0, max: 65535),
            GatewayPort = env.Int("INGEST_GATEWAY_PORT", 0, min: 0, max: 65535),
            ProbeTimeout = env.Seconds("INGEST_PROBE_TIMEOUT_SECONDS", TimeSpan.FromSeconds(1)),
            MaxProbeTimeout = env.Seconds("INGEST_MAX_PROBE_TIMEOUT_SECONDS", TimeSpan.FromSeconds(3)),
            MissedProbesLimit = env.Int("INGEST_MISSED_PROBES", 2, min: 1),
            DeathVotes = env.Int("INGEST_DEATH_VOTES", 2, min: 1),
            ConnectionLivenessCheck = env.Bool("INGEST_CONNECTION_LIVENESS_CHECK", false),
            DefunctSiloExpiration = env.Seconds("INGEST_DEFUNCT_SILO_SECONDS", TimeSpan.FromHours(1)),
            DashboardPort = env.Int("INGEST_DASHBOARD_PORT", 0, min: 1, max: 65535, optional: true) is var p and > 0 ? p : null,
            JsonLogs = env.Choice("INGEST_LOG_FORMAT", "text", "json") == "json",
            Web = env.Int("INGEST_WEB_PORT", 0, min: 1, max: 65535, optional: true) is var web and > 0
                ? new Web.WebConsoleOptions(web, env.Address("INGEST_WEB_ADDRESS", IPAddress.Loopback), env.Secret("INGEST_WEB_TOKEN"), env.Secret("INGEST_WEB_READ_TOKEN"),
                    env.Secret("INGEST_TRACE_URL"))
                : null,
            Grains = grains,
        };
        if (problems.Count > 0) throw new SiloSettingsException(problems);
        return settings;
    }

    private sealed class Reader(List<string> problems)
    {
        private static string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Trim() : null;

        public string Text(string name, string fallback) => Get(name) ?? fallback;

        public string? Secret(string name) => Get(name);

        public string Choice(string name, params string[] choices)
        {
            var value = Get(name) ?? choices[0];
            if (choices.Contains(value, StringComparer.OrdinalIgnoreCase)) return value.ToLowerInvariant();
            problems.Add($"{name} must be {string.Join(" or ", choices)}, not '{value}'");
            return choices[0];
        }

        public int Int(string name, int fallback, int min, int max = int.MaxValue, bool optional = false)
        {
            if (Get(name) is not { } text) return fallback;
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max) return value;
            problems.Add($"{name}='{text}' is not a whole number from {min} to {max}");
            return fallback;
        }

        public TimeSpan Seconds(string name, TimeSpan fallback, bool allowZero = false)
        {
            if (Get(name) is not { } text) return fallback;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && double.IsFinite(s) && (s > 0 || (allowZero && s == 0)))
                return TimeSpan.FromSeconds(s);
            problems.Add($"{name}='{text}' is not a number of seconds{(allowZero ? " (0 or more)" : " greater than 0")}");
            return fallback;
        }

        public bool Bool(string name, bool fallback)
        {
            if (Get(name) is not { } text) return fallback;
            if (bool.TryParse(text, out var b)) return b;
            problems.Add($"{name}='{text}' is not true or false");
            return fallback;
        }

        public IPAddress Address(string name, IPAddress fallback)
        {
            if (Get(name) is not { } text) return fallback;
            if (IPAddress.TryParse(text, out var ip)) return ip;
            try
            {
                var host = text == "hostname" ? Dns.GetHostName() : text;
                return Dns.GetHostAddresses(host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
            }
            catch (Exception e) when (e is SocketException or InvalidOperationException)
            {
                problems.Add($"{name}='{text}' is neither an IP address nor a host name that resolves to an IPv4 address");
                return fallback;
            }
        }
    }
}

/// <summary>Settings that cannot work; the message names every problem.</summary>
public sealed class SiloSettingsException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems));
