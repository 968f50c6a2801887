using System.Diagnostics;
using Ingest.GrainInterfaces;
using Ingest.Catalog;
using Ingest.Engine;

namespace Ingest.Client;

/// <summary>
/// What a user does to imports: submit, pause, resume, cancel, retry. A submit is stored in the catalog,
/// where silos hear of it; the others go to the import's grain through the cluster. With no silo
/// running, the change is made in the catalog directly, which is all a grain does first too: the
/// import's grain reads it when a silo starts.
/// </summary>
public sealed class ImportControl(ImportCatalog catalog, Func<CancellationToken, Task<IClusterClient?>> cluster)
{
    /// <summary>
    /// Stores the import: a silo hears of it at once (<see cref="ImportNotifications.Submitted"/>) and
    /// wakes its grain; with none running, the first to start takes it. Returns its id. Throws
    /// <see cref="ImportNameInUseException"/> while an import of the same name has not ended, unless
    /// <see cref="SubmitOptions.Concurrent"/>, and <see cref="WatermarkScopeChangedException"/> as
    /// <see cref="ImportCatalog.SubmitAsync"/> says.
    /// </summary>
    public async Task<long> StoreAsync(ImportSpec spec, SubmitOptions? options = null, CancellationToken cancellationToken = default)
    {
        // The root span of the import's one trace; without a tracer the import still gets a trace id of its own.
        using var span = IngestTracing.Source.StartActivity(IngestTracing.SpanPrefix + "submit", ActivityKind.Producer);
        var id = await catalog.SubmitAsync(spec, span?.Id ?? IngestTracing.NewTraceParent(), options, cancellationToken);
        span?.SetTag("ingest.import_id", id);
        return id;
    }

    /// <summary>
    /// Stores the import (<see cref="StoreAsync"/>) and wakes its grain through the cluster as well,
    /// for a caller connected already; returns its id and whether a silo took it. A wake that fails
    /// (a cluster still forming, say) leaves the import to the silos that heard of it.
    /// </summary>
    public async Task<(long Id, bool Started)> SubmitAsync(ImportSpec spec, SubmitOptions? options = null, CancellationToken cancellationToken = default)
    {
        var id = await StoreAsync(spec, options, cancellationToken);
        if (await cluster(cancellationToken) is not { } client) return (id, false);
        try
        {
            await client.GetGrain<IImportGrain>(id).WakeAsync();
            return (id, true);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException)
        {
            return (id, false);
        }
    }

    public Task<ChangeResult> PauseAsync(long id, CancellationToken cancellationToken = default) =>
        ChangeAsync(g => g.PauseAsync(), () => catalog.PauseAsync(id, cancellationToken), id, cancellationToken);

    public Task<ChangeResult> ResumeAsync(long id, CancellationToken cancellationToken = default) =>
        ChangeAsync(g => g.ResumeAsync(), () => catalog.ResumeAsync(id, cancellationToken), id, cancellationToken);

    public Task<ChangeResult> CancelAsync(long id, CancellationToken cancellationToken = default) =>
        ChangeAsync(g => g.CancelAsync(), () => catalog.CancelAsync(id, cancellationToken), id, cancellationToken);

    public Task<ChangeResult> RetryAsync(long id, CancellationToken cancellationToken = default) =>
        ChangeAsync(g => g.RetryAsync(), () => catalog.RetryAsync(id, cancellationToken), id, cancellationToken);

    private async Task<ChangeResult> ChangeAsync(Func<IImportGrain, Task<ChangeResult>> viaGrain, Func<Task<ChangeResult>> direct, long id, CancellationToken cancellationToken)
    {
        // An id that names no import activates no grain.
        if (await catalog.GetImportAsync(id, cancellationToken) is null) return new ChangeResult(false, null);
        return await cluster(cancellationToken) is { } client ? await viaGrain(client.GetGrain<IImportGrain>(id)) : await direct();
    }
}
