namespace Ingest.Cluster;

/// <summary>How a node takes part in the cluster. Defaults recover a killed node's units within about 7 seconds.</summary>
public sealed class ClusterOptions
{
    /// <summary>Npgsql connection string of the cluster's database (state, and the default target). From <c>INGEST_DB</c>.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Units this node runs at once. Default: two per core. From <c>INGEST_NODE_SLOTS</c>.</summary>
    public int Slots { get; set; } = 2 * Environment.ProcessorCount;

    /// <summary>How long a claim holds without a heartbeat before other nodes may take the unit over. Default: 6 seconds.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often the node renews its leases and reports itself alive. Default: 1 second.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long an idle node waits before looking for work again. Default: 250 milliseconds.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How often the node plans pending imports, ends finished ones and fails poison units, when
    /// nothing wakes it sooner (a submit or a resume notifies every node). Default: 1 second.
    /// From <c>INGEST_MAINTENANCE_SECONDS</c>.
    /// </summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Reads the <c>INGEST_*</c> environment variables over the defaults.</summary>
    public static ClusterOptions FromEnvironment()
    {
        var options = new ClusterOptions { ConnectionString = Environment.GetEnvironmentVariable("INGEST_DB") ?? "" };
        if (int.TryParse(Environment.GetEnvironmentVariable("INGEST_NODE_SLOTS"), out var slots)) options.Slots = slots;
        if (double.TryParse(Environment.GetEnvironmentVariable("INGEST_LEASE_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var lease)) options.LeaseDuration = TimeSpan.FromSeconds(lease);
        if (double.TryParse(Environment.GetEnvironmentVariable("INGEST_HEARTBEAT_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var hb)) options.HeartbeatInterval = TimeSpan.FromSeconds(hb);
        if (double.TryParse(Environment.GetEnvironmentVariable("INGEST_MAINTENANCE_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var maintenance)) options.MaintenanceInterval = TimeSpan.FromSeconds(maintenance);
        return options;
    }

    /// <summary>Throws naming each setting that cannot work.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ConnectionString)) problems.Add("INGEST_DB is not set: give it an Npgsql connection string, e.g. 'Host=127.0.0.1;Port=5432;Username=postgres;Database=ingest'");
        if (Slots < 1) problems.Add($"INGEST_NODE_SLOTS must be at least 1 (is {Slots})");
        if (HeartbeatInterval <= TimeSpan.Zero) problems.Add("the heartbeat interval must be positive");
        if (MaintenanceInterval <= TimeSpan.Zero) problems.Add("INGEST_MAINTENANCE_SECONDS must be positive");
        if (LeaseDuration < 2 * HeartbeatInterval) problems.Add($"the lease ({LeaseDuration.TotalSeconds}s) must be at least twice the heartbeat interval ({HeartbeatInterval.TotalSeconds}s)");
        if (problems.Count > 0) throw new InvalidOperationException(string.Join(Environment.NewLine, problems));
    }
}
