using Ingest.Catalog;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ingest.Grains;

/// <summary>
/// Submits scheduled imports when they are due. A reminder keeps it alive on some silo (and brings it
/// back after every silo was lost); while active it looks every <see cref="IngestSiloOptions.ScheduleTick"/>.
/// A due time moves on to the next one before the import is submitted, so a time missed while no silo
/// ran is run once, not once per missed time; a time that comes while the last run of that name is
/// still going is skipped, and recorded as such.
/// </summary>
public sealed class ScheduleGrain(Schedules schedules, ImportCatalog catalog, IOptions<IngestSiloOptions> options, ILogger<ScheduleGrain> logger)
    : Grain, IScheduleGrain, IRemindable
{
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await this.RegisterOrUpdateReminder("schedules", options.Value.ReminderPeriod, options.Value.ReminderPeriod);
        this.RegisterGrainTimer(RunDueAsync, options.Value.ScheduleTick, options.Value.ScheduleTick);
    }

    public Task WakeAsync() => RunDueAsync();

    public Task ReceiveReminder(string reminderName, TickStatus status) => RunDueAsync();

    private async Task RunDueAsync()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var due in await schedules.DueAsync())
        {
            var schedule = CronSchedule.Parse(due.Spec.Schedule!, due.Spec.TimeZone, out _);
            var next = schedule?.NextAfter(now) ?? DateTimeOffset.MaxValue;
            if (!await schedules.ClaimAsync(due, next)) continue;
            long id;
            try
            {
                id = await catalog.SubmitAsync(due.Spec, IngestTracing.NewTraceParent());
            }
            catch (ImportNameInUseException e)
            {
                await RecordSkipAsync(due.Name, $"run due {due.NextAt:O} skipped: import {e.ImportId} of this name is still {e.State.Name()}");
                logger.LogInformation("schedule {Name}: run due {Due:O} skipped, import {ImportId} still {State}", due.Name, due.NextAt, e.ImportId, e.State.Name());
                continue;
            }
            catch (Exception e)
            {
                // Recorded where `schedule list` shows it, and the other due schedules still run.
                var why = e is WatermarkScopeChangedException ? $"{e.Message} (`ingest reset {due.Name}` clears its state)" : ErrorClassifier.Describe(e);
                logger.LogWarning("schedule {Name}: run due {Due:O} not submitted: {Error}", due.Name, due.NextAt, why);
                await RecordSkipAsync(due.Name, $"run due {due.NextAt:O} not submitted: {why}");
                continue;
            }
            logger.LogInformation("schedule {Name}: import {ImportId} submitted (due {Due:O}; next {Next:O})", due.Name, id, due.NextAt, next);
            try
            {
                await schedules.RecordRunAsync(due.Name, id);
            }
            catch (Exception e) when (ErrorClassifier.IsTransient(e))
            {
                logger.LogWarning("schedule {Name}: import {ImportId} submitted, but its run not counted: {Error}", due.Name, id, ErrorClassifier.Describe(e));
            }
        }
    }

    private async Task RecordSkipAsync(string name, string reason)
    {
        try
        {
            await schedules.RecordSkipAsync(name, reason);
        }
        catch (Exception e) when (ErrorClassifier.IsTransient(e))
        {
            logger.LogWarning("schedule {Name}: could not record a skipped run: {Error}", name, ErrorClassifier.Describe(e));
        }
    }
}
