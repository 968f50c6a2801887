using Ingest.Engine.Sources;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Grains;

public static class IngestGrainsSiloBuilderExtensions
{
    /// <summary>
    /// Registers the import and unit grains' services on a silo: options, the catalog, the planner,
    /// the unit runner, the silo's slots (which hand units back when the silo stops), the
    /// cluster watcher, and the archive uploader. <paramref name="dataSource"/> is the cluster's database.
    /// </summary>
    public static ISiloBuilder AddIngestGrains(this ISiloBuilder silo, NpgsqlDataSource dataSource, Action<IngestSiloOptions> configure)
    {
        silo.Services.Configure(configure);
        silo.Services.AddSingleton(dataSource);
        // Before the sources: their rate limits hold across the cluster.
        silo.Services.AddSingleton<Ingest.Engine.Sources.Http.IRequestGate, ClusterRequestGate>();
        silo.Services.AddIngestSources();
        silo.Services.AddSingleton<ImportCatalog>();
        silo.Services.AddSingleton<ImportPlanner>();
        silo.Services.AddSingleton<UnitRunner>();
        silo.Services.AddSingleton<QueueConsumerRunner>();
        silo.Services.AddSingleton<SiloSlots>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloSlots>());
        silo.Services.AddSingleton<OutboxDispatcher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<OutboxDispatcher>());
        silo.Services.AddSingleton<ClusterWatcher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ClusterWatcher>());
        silo.Services.AddSingleton<ImportCleanup>();
        silo.Services.AddSingleton<Schedules>();
        silo.Services.AddSingleton<ArchiveRegistry>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, ArchiveUploader>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, CatalogRetention>();
        return silo;
    }
}
