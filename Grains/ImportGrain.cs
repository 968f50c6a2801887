using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ingest.Grains;

/// <summary>
/// One import. It plans the import (retrying transient errors a bounded number of times), then hands
/// its units to unit grains, at most <c>parallelism</c> at a time across the cluster, and hears
/// back from them. The database is the truth: an activation rebuilds its queue from the import's
/// open units, so one started after a crash, on any silo, carries on. Units claimed by silos that
/// died are handed out again; their attempts were counted at claim, and their rows never committed.
/// An ended import's grain is left to idle collection (deactivating it from within its own
/// activation would reject the call that activated it).
/// </summary>
[CollectionAgeLimit(Minutes = 2)]
public sealed class ImportGrain(
    ImportCatalog catalog,
    ImportPlanner planner,
    IClusterMembershipService membership,
    IOptions<IngestSiloOptions> options,
    ILogger<ImportGrain> logger,
    [PersistentState("import", "imports")] IPersistentState<ImportGrainState> state)
    : Grain, IImportGrain, IRemindable
{
    private const string Backstop = "backstop";

    private sealed class Dispatch(string key)
    {
        public string Key { get; } = key;
        public string? Silo { get; set; }
    }

    // Ready units first (by backoff time), and among them those whose attempt was cut short (a lost
    // silo, a hand-back), so that a failover resumes what was in flight before starting new units.
    private readonly record struct Turn(DateTimeOffset NotBefore, bool Resumed, int UnitNo) : IComparable<Turn>
    {
        public int CompareTo(Turn other)
        {
            var byTime = NotBefore.CompareTo(other.NotBefore);
            if (byTime != 0) return byTime;
            return Resumed != other.Resumed ? (Resumed ? -1 : 1) : UnitNo.CompareTo(other.UnitNo);
        }
    }

    private readonly PriorityQueue<int, Turn> _queue = new();
    private readonly HashSet<int> _queued = [];
    private readonly Dictionary<int, Dispatch> _inFlight = [];
    private ImportCatalog.ImportRow? _import;
    private Task? _planning;
    private IGrainTimer? _reconcileTimer;
    private IGrainTimer? _wakeTimer;
    private DateTimeOffset _wakeAt = DateTimeOffset.MaxValue;
    private bool _reminder;
    private IDisposable? _metrics;

    private long Id => this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _metrics = IngestMetrics.TrackImport(Id, () => (_queue.Count, _inFlight.Count));
        await ReconcileAsync([], fullReload: true);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _metrics?.Dispose();
        return Task.CompletedTask;
    }

    public Task WakeAsync() => ReconcileAsync([], fullReload: true);

    public Task SilosLostAsync(string[] silos) => ReconcileAsync(silos, fullReload: false);

    public Task ReceiveReminder(string reminderName, TickStatus status) => ReconcileAsync([], fullReload: true);

    public async Task<ChangeResult> PauseAsync()
    {
        var result = await catalog.PauseAsync(Id);
        if (result.Applied) logger.LogInformation("import {ImportId} paused: {InFlight} units in flight finish, none start", Id, _inFlight.Count);
        await ReconcileAsync([], fullReload: false);
        return result;
    }

    public async Task<ChangeResult> ResumeAsync()
    {
        var result = await catalog.ResumeAsync(Id);
        if (result.Applied) logger.LogInformation("import {ImportId} resumed", Id);
        await ReconcileAsync([], fullReload: true);
        return result;
    }

    public async Task<ChangeResult> CancelAsync()
    {
        var result = await catalog.CancelAsync(Id);
        if (result.Applied)
        {
            // The units are cancelled in the database, so no attempt can commit any more; tell the
            // attempts in flight to roll back now rather than when they reach their fence.
            foreach (var dispatch in _inFlight.Values)
                _ = AbandonAsync(dispatch.Key);
            logger.LogInformation("import {ImportId} cancelled: {InFlight} units in flight rolled back", Id, _inFlight.Count);
        }
        await ReconcileAsync([], fullReload: false);
        return result;
    }

    public async Task UnitEndedAsync(UnitReport report)
    {
        if (!_inFlight.TryGetValue(report.UnitNo, out var dispatch) || dispatch.Key != report.Dispatch)
        {
            // From an attempt this activation did not hand out, or one a reconciliation already saw
            // end. Only an attempt that left its unit open can leave work behind: the database says
            // what is left. (Reconciling on every stray report would feed itself: each reload drops
            // units that committed while their reports were on the way, and those reports are stray.)
            if (report.End is UnitEnd.RetryLater or UnitEnd.HandedBack or UnitEnd.ImportNotRunning) await ReconcileAsync([], fullReload: true);
            return;
        }
        _inFlight.Remove(report.UnitNo);
        switch (report.End)
        {
            case UnitEnd.RetryLater:
                Enqueue(report.UnitNo, report.NotBefore ?? DateTimeOffset.UtcNow);
                break;
            case UnitEnd.HandedBack:
                // A moment's grace, so that placement learns its silo is leaving.
                Enqueue(report.UnitNo, DateTimeOffset.UtcNow.AddMilliseconds(250), resumed: true);
                break;
            case UnitEnd.ImportNotRunning:
                Enqueue(report.UnitNo, DateTimeOffset.UtcNow, resumed: true);
                break;
        }
        Pump();
        await EndIfDoneAsync();
    }

    // Brings the activation in line with the database: the import's state, and which units are
    // still to run. Units claimed on lost silos go back in the queue.
    private async Task ReconcileAsync(IReadOnlyCollection<string> lostSilos, bool fullReload)
    {
        _import = await catalog.GetImportAsync(Id);
        if (_import is null) return;
        if (ImportState.IsFinal(_import.State))
        {
            await StopAsync();
            return;
        }
        await EnsureBackstopAsync();
        if (_import.State == ImportState.Pending)
        {
            _planning ??= PlanAsync();
            return;
        }

        if (fullReload) IngestMetrics.ImportReloads.Add(1, new KeyValuePair<string, object?>("import_id", Id));
        var units = await catalog.GetOpenUnitsAsync(Id, runningOnly: !fullReload, also: [.. _inFlight.Keys]);
        var open = units.Select(u => u.UnitNo).ToHashSet();
        foreach (var unitNo in _inFlight.Keys.Where(n => !open.Contains(n)).ToList())
            _inFlight.Remove(unitNo); // ended, and its report was lost

        var live = LiveSilos();
        foreach (var unit in units)
        {
            // The silo of the attempt in flight: the database's row may still name an older attempt's.
            var silo = _inFlight.TryGetValue(unit.UnitNo, out var d) && unit.Dispatch != d.Key ? d.Silo : unit.Silo;
            var lost = silo is not null && (lostSilos.Contains(silo) || !live.Contains(silo));
            if (d is not null)
            {
                if (!lost) continue;
                _inFlight.Remove(unit.UnitNo);
                Enqueue(unit.UnitNo, DateTimeOffset.UtcNow, resumed: true);
            }
            else if (unit.State == UnitState.Running)
            {
                // Claimed by an attempt this activation did not hand out (the previous activation did).
                if (lost || unit.Dispatch is null) Enqueue(unit.UnitNo, DateTimeOffset.UtcNow, resumed: true);
                else _inFlight[unit.UnitNo] = new Dispatch(unit.Dispatch) { Silo = unit.Silo };
            }
            else
            {
                Enqueue(unit.UnitNo, unit.NotBefore);
            }
        }
        if (lostSilos.Count > 0) logger.LogInformation("import {ImportId}: silos lost ({Silos}); {Queued} units queued, {InFlight} in flight",
            Id, string.Join(", ", lostSilos), _queue.Count, _inFlight.Count);
        Pump();
        await EndIfDoneAsync();
    }

    private HashSet<string> LiveSilos() => membership.CurrentSnapshot.Members.Values
        .Where(m => m.Status is not (SiloStatus.Dead or SiloStatus.None))
        .Select(m => SiloNames.Of(m.SiloAddress))
        .ToHashSet();

    private void Enqueue(int unitNo, DateTimeOffset notBefore, bool resumed = false)
    {
        if (notBefore <= DateTimeOffset.UtcNow) notBefore = DateTimeOffset.MinValue;
        if (_queued.Add(unitNo)) _queue.Enqueue(unitNo, new Turn(notBefore, resumed, unitNo));
    }

    // Hands out ready units while the import is running and below its parallelism.
    private void Pump()
    {
        if (_import is not { State: ImportState.Running }) return;
        var now = DateTimeOffset.UtcNow;
        while (_inFlight.Count < _import.Parallelism && _queue.TryPeek(out var unitNo, out var turn))
        {
            if (turn.NotBefore > now)
            {
                WakeAt(turn.NotBefore);
                return;
            }
            _queue.Dequeue();
            _queued.Remove(unitNo);
            var dispatch = new Dispatch($"{Id}/{unitNo}/{Guid.NewGuid():N}");
            _inFlight[unitNo] = dispatch;
            _ = StartAsync(unitNo, dispatch);
        }
    }

    private async Task StartAsync(int unitNo, Dispatch dispatch)
    {
        try
        {
            dispatch.Silo = await GrainFactory.GetGrain<IUnitGrain>(dispatch.Key).StartAsync(new UnitAssignment(Id, unitNo, _import?.TraceParent));
        }
        catch (Exception e)
        {
            // Its silo went away under the call: hand it out again shortly.
            logger.LogWarning("import {ImportId}: unit {UnitNo} could not be started ({Error}); trying again", Id, unitNo, e.Message);
            if (_inFlight.TryGetValue(unitNo, out var current) && current == dispatch)
            {
                _inFlight.Remove(unitNo);
                Enqueue(unitNo, DateTimeOffset.UtcNow.AddSeconds(1), resumed: true);
                Pump();
            }
        }
    }

    private async Task AbandonAsync(string dispatch)
    {
        try { await GrainFactory.GetGrain<IUnitGrain>(dispatch).AbandonAsync(); }
        catch (Exception e) { logger.LogWarning("could not abandon unit attempt {Dispatch} ({Error}); its fence stops it instead", dispatch, e.Message); }
    }

    private void WakeAt(DateTimeOffset at)
    {
        if (_wakeTimer is not null && _wakeAt <= at) return;
        _wakeTimer?.Dispose();
        _wakeAt = at;
        var due = at - DateTimeOffset.UtcNow;
        _wakeTimer = this.RegisterGrainTimer(async () =>
        {
            _wakeTimer?.Dispose();
            _wakeTimer = null;
            _wakeAt = DateTimeOffset.MaxValue;
            Pump();
            await EndIfDoneAsync();
        }, due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
    }

    private async Task EndIfDoneAsync()
    {
        if (_import is not { State: ImportState.Running } || _queue.Count > 0 || _inFlight.Count > 0) return;
        var final = await catalog.FinalizeAsync(Id);
        if (final is null)
        {
            // The database still has open units this activation did not know of.
            if ((await catalog.GetOpenUnitsAsync(Id)).Count > 0) await ReconcileAsync([], fullReload: true);
            return;
        }
        logger.LogInformation("import {ImportId} {State}", Id, final);
        _import = _import with { State = final };
        await StopAsync();
    }

    private async Task PlanAsync()
    {
        try
        {
            while (true)
            {
                using (var span = IngestTracing.StartUnder(_import?.TraceParent, "plan", Id))
                {
                    try
                    {
                        var units = await planner.PlanAsync(Id);
                        if (units is not null) logger.LogInformation("import {ImportId} planned: {Units} units", Id, units);
                        break;
                    }
                    catch (Exception e) when (TransientErrors.IsBadInput(e))
                    {
                        // Bad input will not fix itself: the import fails, with the reason, and nothing loads.
                        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
                        logger.LogWarning("import {ImportId} failed at planning: {Error}", Id, e.Message);
                        await catalog.FailAsync(Id, e.Message);
                        break;
                    }
                    catch (Exception e)
                    {
                        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
                        var error = TransientErrors.Describe(e);
                        state.State.PlanAttempts++;
                        await state.WriteStateAsync();
                        var attempts = options.Value.PlanAttempts;
                        if (state.State.PlanAttempts >= attempts)
                        {
                            logger.LogWarning("import {ImportId} failed: planning failed {Attempts} times, last: {Error}", Id, attempts, error);
                            await catalog.FailAsync(Id, $"planning failed {attempts} times; last error: {error}");
                            break;
                        }
                        var wait = options.Value.PlanBackoff * Math.Pow(2, state.State.PlanAttempts - 1);
                        logger.LogWarning("import {ImportId}: planning attempt {Attempt}/{Attempts} failed, next in {Wait:F1}s: {Error}",
                            Id, state.State.PlanAttempts, attempts, wait.TotalSeconds, error);
                        await catalog.SetErrorAsync(Id, $"planning attempt {state.State.PlanAttempts}/{attempts} failed, retrying: {error}");
                        await Task.Delay(wait);
                    }
                }
            }
        }
        catch (Exception e)
        {
            // Grain storage or the catalog unreachable: the backstop reminder or the next wake-up tries again.
            logger.LogWarning("import {ImportId}: planning stopped ({Error}); the next wake-up tries again", Id, e.Message);
            _planning = null;
            return;
        }
        _planning = null;
        await ReconcileAsync([], fullReload: true);
    }

    private async Task EnsureBackstopAsync()
    {
        if (_reminder) return;
        await this.RegisterOrUpdateReminder(Backstop, options.Value.ReminderPeriod, options.Value.ReminderPeriod);
        _reminder = true;
        _reconcileTimer ??= this.RegisterGrainTimer(() => ReconcileAsync([], fullReload: false),
            options.Value.ReconcileInterval, options.Value.ReconcileInterval);
    }

    // The import ended: nothing more to do.
    private async Task StopAsync()
    {
        _reconcileTimer?.Dispose();
        _reconcileTimer = null;
        _wakeTimer?.Dispose();
        _wakeTimer = null;
        _queue.Clear();
        _queued.Clear();
        _inFlight.Clear();
        if (await this.GetReminder(Backstop) is { } reminder) await this.UnregisterReminder(reminder);
        _reminder = false;
    }
}
