using Ingest.Client;
using Ingest.Grains;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Ingest.Tests.Harness;

/// <summary>
/// An Orleans cluster inside the test process (Microsoft.Orleans.TestingHost), with the production
/// grains on a test database: grain logic without silo processes. Membership is the test cluster's
/// in-memory table, tuned like the silo host's, so a killed silo is declared dead in seconds; grain
/// state and reminders are in memory under the production names.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    private InProcessCluster(InProcessTestCluster cluster, TestDatabase db)
    {
        Cluster = cluster;
        Control = new ImportControl(db.Catalog, _ => Task.FromResult<IClusterClient?>(cluster.Client));
    }

    public InProcessTestCluster Cluster { get; }

    /// <summary>Submit, pause, resume and cancel through the import grains, as the console does.</summary>
    public ImportControl Control { get; }

    public static async Task<InProcessCluster> StartAsync(TestDatabase db, short silos = 2, int slots = 2, TimeSpan? reconcileInterval = null, bool batches = true, long? batchBytes = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage("imports");
            silo.UseInMemoryReminderService();
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
            });
            silo.AddIngestGrains(db.DataSource, o =>
            {
                o.Slots = slots;
                if (!batches) o.BatchUnits = 1;
                if (batchBytes is { } bytes) o.BatchBytes = bytes;
                o.ReconcileInterval = reconcileInterval ?? TimeSpan.FromSeconds(2);
            });
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new InProcessCluster(cluster, db);
    }

    /// <summary>The silo that hosts the import's grain now, if it is active.</summary>
    public InProcessSiloHandle? HostOfImport(long id)
    {
        var grainId = Cluster.Client.GetGrain<GrainInterfaces.IImportGrain>(id).GetGrainId();
        return Cluster.TryGetGrainContext(grainId, out var context) && context.Address.SiloAddress is { } silo ? Cluster.GetSiloForAddress(silo) : null;
    }

    /// <summary>The name the silo's units record in <c>ingest.units.silo</c>.</summary>
    public static string NameOf(InProcessSiloHandle silo) => SiloNames.Of(silo.SiloAddress);

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();
}
