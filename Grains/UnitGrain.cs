using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Orleans.Placement;

namespace Ingest.Grains;

/// <summary>
/// One attempt at one unit, placed on a random live silo: activation-count placement learns other
/// silos' counts only every few seconds, and so sent every short-lived unit grain to one silo. The
/// attempt runs in the background, off the grain's turn (a load can outlast any call timeout), in
/// one of the silo's slots; its report goes back to the import grain, which may by then live on
/// another silo.
/// </summary>
[RandomPlacement]
public sealed class UnitGrain(UnitRunner runner, SiloSlots slots, ILocalSiloDetails localSilo, ILogger<UnitGrain> logger) : Grain, IUnitGrain
{
    private readonly CancellationTokenSource _abandon = new();
    private Task? _attempt;

    public Task<string> StartAsync(UnitAssignment assignment)
    {
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
                async ct =>
                {
                    using var span = IngestTracing.StartUnder(assignment.TraceParent, "unit", assignment.ImportId, assignment.UnitNo);
                    span?.SetTag("ingest.silo", silo);
                    var report = await runner.RunAsync(assignment.ImportId, assignment.UnitNo, silo, dispatch, () => slots.HandingBack, ct);
                    span?.SetTag("ingest.unit_end", report.End.ToString());
                    return report;
                },
                () => new UnitReport(assignment.UnitNo, dispatch, slots.HandingBack ? UnitEnd.HandedBack : UnitEnd.Abandoned),
                report => TransientErrors.Delivery.ExecuteAsync(async _ => await importGrain.UnitEndedAsync(report), CancellationToken.None).AsTask(),
                _abandon.Token));
        }
        catch (Exception e)
        {
            // The report could not be delivered: the import grain's reconciliation finds the unit's state in the database.
            logger.LogWarning("unit {ImportId}/{UnitNo}: {Error}", assignment.ImportId, assignment.UnitNo, TransientErrors.Describe(e));
        }
        finally
        {
            DeactivateOnIdle();
        }
    }
}
