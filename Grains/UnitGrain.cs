using Ingest.Engine;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Ingest.Grains;

/// <summary>
/// One attempt at one unit (or a batch of small ones), placed on the silo its import grain names in a
/// placement hint (the active silo running the fewest of the import's attempts), or on a random one
/// when that silo is gone: activation-count placement learns other silos' counts only every few
/// seconds, and so sent every short-lived unit grain to one silo. The
/// attempt runs in the background, off the grain's turn (a load can outlast any call timeout), in
/// one of the silo's slots; its reports go back to the import grain, which may by then live on
/// another silo.
/// </summary>
[RandomPlacement]
public sealed class UnitGrain(UnitRunner runner, SiloSlots slots, ILocalSiloDetails localSilo, ILogger<UnitGrain> logger) : Grain, IUnitGrain
{
    private readonly CancellationTokenSource _abandon = new();
    private Task? _attempt;

    public Task<string> StartAsync(UnitAssignment assignment)
    {
        // The import grain's placement hint came with the call: the attempt's own calls (its reports,
        // which may activate the import grain again) must not carry it.
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        // A repeated start (a retried call) does not start a second attempt.
        _attempt ??= RunAsync(assignment);
        return Task.FromResult(SiloNames.Of(localSilo.SiloAddress));
    }

    public Task AbandonAsync()
    {
        _abandon.Cancel();
        return Task.CompletedTask;
    }

    private async Task RunAsync(UnitAssignment assignment)
    {
        // Idle collection must not take the grain while its attempt runs.
        DelayDeactivation(TimeSpan.FromDays(1));
        var dispatch = this.GetPrimaryKeyString();
        var silo = SiloNames.Of(localSilo.SiloAddress);
        var importGrain = GrainFactory.GetGrain<IImportGrain>(assignment.ImportId);
        try
        {
            await Task.Run(() => slots.RunAsync(
                dispatch,
                assignment.Priority,
                async ct =>
                {
                    using var span = IngestTracing.StartUnder(assignment.TraceParent, "unit", assignment.ImportId, assignment.Units[0]);
                    span?.SetTag("ingest.silo", silo);
                    if (assignment.Units.Length > 1) span?.SetTag("ingest.batch_units", assignment.Units.Length);
                    var reports = await runner.RunAsync(assignment.ImportId, assignment.Units, silo, dispatch, () => slots.HandingBack, ct);
                    span?.SetTag("ingest.unit_end", string.Join(',', reports.Select(r => r.End).Distinct()));
                    return reports;
                },
                () => [.. assignment.Units.Select(u => new UnitReport(u, dispatch, slots.HandingBack ? UnitEnd.HandedBack : UnitEnd.Abandoned))],
                reports => TransientErrors.Delivery.ExecuteAsync(async _ => await importGrain.UnitsEndedAsync(reports), CancellationToken.None).AsTask(),
                _abandon.Token));
        }
        catch (Exception e)
        {
            // The report could not be delivered: the import grain's reconciliation finds the unit's state in the database.
            logger.LogWarning("unit {ImportId}/{Units}: {Error}", assignment.ImportId, string.Join(',', assignment.Units), ErrorClassifier.Describe(e));
        }
        finally
        {
            DeactivateOnIdle();
        }
    }
}
