namespace Ingest.Grains;

/// <summary>How the grains of one silo behave. Read from <c>INGEST_*</c> variables by the silo host.</summary>
public sealed class IngestSiloOptions
{
    /// <summary>Units this silo loads at once; more wait for a slot. Default: two per core. From <c>INGEST_SILO_SLOTS</c>.</summary>
    public int Slots { get; set; } = 2 * Environment.ProcessorCount;

    /// <summary>
    /// Most units in one batch: small units (see <see cref="BatchUnitBytes"/>) on their first try are
    /// handed out together and loaded in one transaction, which saves a claim, a commit and two grain
    /// calls per unit. 1 turns batching off. Default: 128 (<see cref="BatchBytes"/> bounds a batch
    /// of larger units). From <c>INGEST_BATCH_UNITS</c>.
    /// </summary>
    public int BatchUnits { get; set; } = 128;

    /// <summary>
    /// The largest unit (file or object size) that is batched. Default: 1 MiB, an API page of up to
    /// a thousand nested records: each of its statements (a COPY per table) costs PostgreSQL a
    /// fixed part that a batch shares. From <c>INGEST_BATCH_UNIT_BYTES</c>.
    /// </summary>
    public long BatchUnitBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most bytes in one batch (its units' sizes added up). Each batch costs the server a COPY per
    /// table and a commit, so larger batches cost it less; but a batch is one transaction, and a new
    /// dimension key it inserts holds up every other transaction inserting that key until it
    /// commits, and what a failed batch rolls back is lost work. Default: 8 MiB (docs/BENCHMARKS.md
    /// says how the sizes compared). From <c>INGEST_BATCH_BYTES</c>.
    /// </summary>
    public long BatchBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// How often an active import grain compares its units with the database (a unit report lost
    /// with a silo, say). Default: 10 seconds. From <c>INGEST_RECONCILE_SECONDS</c>.
    /// </summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Period of the reminder that reactivates an unfinished import if nothing else does (the
    /// backstop behind membership watching and the startup task). Default: 1 minute. From <c>INGEST_REMINDER_SECONDS</c>.
    /// </summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How often each silo wakes every unfinished import (an import stored while its wake-up call
    /// was lost, say). Default: 30 seconds. From <c>INGEST_SWEEP_SECONDS</c>.
    /// </summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts at planning an import that meets transient errors (S3 500s, say) before it fails. Default: 5. From <c>INGEST_PLAN_ATTEMPTS</c>.</summary>
    public int PlanAttempts { get; set; } = 5;

    /// <summary>Wait before the second planning attempt, doubled before each later one. Default: 1 second. From <c>INGEST_PLAN_BACKOFF_SECONDS</c>.</summary>
    public TimeSpan PlanBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a dead silo's row stays in the membership table before a sweep prunes it. Default: 1 hour. From <c>INGEST_DEFUNCT_SILO_SECONDS</c>.</summary>
    public TimeSpan DefunctSiloExpiration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Fault injection for tests: the silo process kills itself after this many queue batches
    /// committed and before their ack, as a crash between the two would. Default: never. From
    /// <c>INGEST_FAULT_KILL_AFTER_BATCHES</c>.
    /// </summary>
    public int? KillAfterBatches { get; set; }

    /// <summary>
    /// Ended imports older than this many days are removed from the catalog once a day (and when the
    /// silo starts), as <c>ingest cleanup --older-than</c> does; null (default): never. From <c>INGEST_RETENTION_DAYS</c>.
    /// </summary>
    public int? RetentionDays { get; set; }

    /// <summary>
    /// How long a queue consumer goes on reconnecting while its broker (or the catalog) cannot be
    /// reached, before its attempt fails; the import's status shows why meanwhile. Default: 10
    /// minutes. From <c>INGEST_QUEUE_OUTAGE_SECONDS</c>.
    /// </summary>
    public TimeSpan QueueOutage { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long an import's event (<c>notify</c>) is tried while its target fails, counted from the
    /// event; then it is given up (kept with its error, never sent) and the import's later events go
    /// on. Default: 24 hours. From <c>INGEST_EVENT_MAX_AGE_SECONDS</c>.
    /// </summary>
    public TimeSpan EventMaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often the scheduler looks for scheduled imports that are due. Default: 5 seconds. From <c>INGEST_SCHEDULE_SECONDS</c>.</summary>
    public TimeSpan ScheduleTick { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often each silo looks for loaded files to archive (imports with an <c>archive</c>). Default: 1 second. From <c>INGEST_ARCHIVE_SECONDS</c>.</summary>
    public TimeSpan ArchiveInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a silo's claim on a file it archives lasts unless renewed (it renews it every third of
    /// this while it works): a silo that dies mid-upload leaves its files to the others after this
    /// long. Default: 60 seconds. From <c>INGEST_ARCHIVE_LEASE_SECONDS</c>.
    /// </summary>
    public TimeSpan ArchiveLease { get; set; } = TimeSpan.FromSeconds(60);
}
