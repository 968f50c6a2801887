using Ingest.Engine;
using Ingest.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;
using Ingest.Catalog;

namespace Ingest.Grains;

/// <summary>
/// One import. It plans the import (retrying transient errors a bounded number of times), then hands
/// its units to unit grains, at most <c>parallelism</c> at a time across the cluster, and hears
/// back from them. Small units on their first try go out in batches (one grain call, one
/// transaction for many); a unit whose batch did not commit goes out alone from then on. The
/// database is the truth: an activation rebuilds its queue from the import's open units, so one
/// started after a crash, on any silo, carries on. Units claimed by silos that
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

    // Units whose attempt was cut short (a lost silo, a hand-back, a failed start, a batch rolled back)
    // first, so that a failover resumes what was in flight before starting new units; they wait a
    // second at most. Then the others by backoff time.
    private readonly record struct Turn(DateTimeOffset NotBefore, bool Resumed, int UnitNo) : IComparable<Turn>
    {
        public int CompareTo(Turn other)
        {
            if (Resumed != other.Resumed) return Resumed ? -1 : 1;
            var byTime = NotBefore.CompareTo(other.NotBefore);
            return byTime != 0 ? byTime : UnitNo.CompareTo(other.UnitNo);
        }
    }

    private readonly PriorityQueue<int, Turn> _queue = new();
    private readonly HashSet<int> _queued = [];
    private readonly InFlightUnits _inFlight = new();
    // Queued units that may go out in a batch (small, pending, on their first try, in no batch before), with their sizes.
    private readonly Dictionary<int, long> _batchable = [];
    // Consumers told to stop so that they start again on a less busy silo.
    private readonly HashSet<string> _moving = [];
    private ImportCatalog.ImportRow? _import;
    private bool _dispatched;
    private Task? _planning;
    private IGrainTimer? _reconcileTimer;
    private IGrainTimer? _wakeTimer;
    private IGrainTimer? _plannedTimer;
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

    public Task SilosJoinedAsync()
    {
        Rebalance();
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => ReconcileAsync([], fullReload: true);

    public async Task<ChangeResult> PauseAsync()
    {
        var result = await catalog.PauseAsync(Id);
        if (result.Applied && _import is { Continuous: true })
        {
            // A consumer never finishes: it stops, its unacked messages go back, and its unit waits for the resume.
            foreach (var dispatch in _inFlight.AllDispatches.ToList())
                _ = AbandonAsync(dispatch.Key);
            logger.LogInformation("import {ImportId} paused: {InFlight} consumers stop", Id, _inFlight.Count);
        }
        else if (result.Applied) logger.LogInformation("import {ImportId} paused: {InFlight} units in flight finish, none start", Id, _inFlight.Count);
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

    public async Task<ChangeResult> RetryAsync()
    {
        var result = await catalog.RetryAsync(Id);
        if (result.Applied)
        {
            logger.LogInformation("import {ImportId} retried: its failed units run again", Id);
            // Planning that gave up is tried again, with its attempts counted afresh.
            state.State.PlanAttempts = 0;
            await state.WriteStateAsync();
            if (_planning is { IsCompleted: true }) _planning = null;
        }
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
            foreach (var dispatch in _inFlight.AllDispatches.ToList())
                _ = AbandonAsync(dispatch.Key);
            logger.LogInformation("import {ImportId} cancelled: {InFlight} units in flight rolled back", Id, _inFlight.Count);
        }
        await ReconcileAsync([], fullReload: false);
        return result;
    }

    public async Task UnitsEndedAsync(UnitReport[] reports)
    {
        var reload = false;
        foreach (var report in reports)
        {
            if (!_inFlight.TryGet(report.UnitNo, out var dispatch) || dispatch.Key != report.Dispatch)
            {
                // From an attempt this activation did not hand out, or one a reconciliation already saw
                // end. Only an attempt that left its unit open can leave work behind: the database says
                // what is left. (Reconciling on every stray report would feed itself: each reload drops
                // units that committed while their reports were on the way, and those reports are stray.)
                reload |= report.End is UnitEnd.RetryLater or UnitEnd.HandedBack or UnitEnd.ImportNotRunning or UnitEnd.RunAlone or UnitEnd.ImportFailed;
                continue;
            }
            _inFlight.Remove(report.UnitNo);
            _moving.Remove(report.Dispatch);
            switch (report.End)
            {
                case UnitEnd.RetryLater:
                    _batchable.Remove(report.UnitNo);
                    Enqueue(report.UnitNo, report.NotBefore ?? DateTimeOffset.UtcNow);
                    break;
                case UnitEnd.HandedBack:
                    // A moment's grace, so that placement learns its silo is leaving.
                    Enqueue(report.UnitNo, DateTimeOffset.UtcNow.AddMilliseconds(250), resumed: true);
                    break;
                case UnitEnd.ImportNotRunning:
                    Enqueue(report.UnitNo, DateTimeOffset.UtcNow, resumed: true);
                    break;
                case UnitEnd.RunAlone:
                    _batchable.Remove(report.UnitNo);
                    Enqueue(report.UnitNo, DateTimeOffset.UtcNow, resumed: true);
                    break;
                case UnitEnd.ImportFailed:
                    // Failed in the catalog already: the other attempts roll back now, as for a cancel.
                    foreach (var other in _inFlight.AllDispatches.ToList()) _ = AbandonAsync(other.Key);
                    reload = true;
                    break;
                case UnitEnd.Abandoned when _import is { State: ImportState.Running, Continuous: false }:
                    // Told to roll back (a cancel or failure), yet running again (a retry came first): its unit is open again.
                    reload = true;
                    break;
            }
        }
        if (reload)
        {
            await ReconcileAsync([], fullReload: true);
            return;
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
        if (_import.State.IsFinal())
        {
            await StopAsync();
            return;
        }
        await EnsureBackstopAsync();
        // Planning goes on beside loading: units start as the listing stores them. A pause stops the
        // listing too; a resume takes it up again.
        if (!_import.Planned && _import.State != ImportState.Paused) _planning ??= PlanAsync();
        if (_import.State == ImportState.Pending) return;

        if (fullReload) IngestMetrics.ImportReloads.Add(1, new KeyValuePair<string, object?>("import_id", Id));
        var units = await catalog.GetOpenUnitsAsync(Id, runningOnly: !fullReload, also: [.. _inFlight.UnitNos]);
        var open = units.Select(u => u.UnitNo).ToHashSet();
        foreach (var unitNo in _inFlight.UnitNos.Where(n => !open.Contains(n)).ToList())
            _inFlight.Remove(unitNo); // ended, and its report was lost

        var live = LiveSilos();
        foreach (var unit in units)
        {
            // A unit of unknown size is not batched: a batch's byte budget could not bound it.
            if (unit.Fresh && unit.SizeBytes is { } size && size <= options.Value.BatchUnitBytes) _batchable[unit.UnitNo] = size;
            else _batchable.Remove(unit.UnitNo);
            // The silo of the attempt in flight: the database's row may still name an older attempt's.
            var silo = _inFlight.TryGet(unit.UnitNo, out var d) && unit.Dispatch != d.Key ? d.Silo : unit.Silo;
            var lost = silo is not null && (lostSilos.Contains(silo) || !live.Contains(silo));
            if (d is not null)
            {
                if (!lost) continue;
                _inFlight.Remove(unit.UnitNo);
                Enqueue(unit.UnitNo, DateTimeOffset.UtcNow, resumed: true);
            }
            else if (unit.State == UnitState.Running && !_queued.Contains(unit.UnitNo))
            {
                // Claimed by an attempt this activation did not hand out (the previous activation did).
                if (lost || unit.Dispatch is null) Enqueue(unit.UnitNo, DateTimeOffset.UtcNow, resumed: true);
                else _inFlight.Add(unit.UnitNo, unit.Dispatch).Silo = unit.Silo;
            }
            else
            {
                Enqueue(unit.UnitNo, unit.NotBefore);
            }
        }
        if (lostSilos.Count > 0) logger.LogInformation("import {ImportId}: silos lost ({Silos}); {Queued} units queued, {InFlight} in flight",
            Id, string.Join(", ", lostSilos), _queue.Count, _inFlight.Count);
        Pump();
        Rebalance();
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
        while (_inFlight.Dispatches < _import.Parallelism && _queue.TryPeek(out var unitNo, out var turn))
        {
            if (turn.NotBefore > now)
            {
                WakeAt(turn.NotBefore);
                return;
            }
            var units = TakeBatch(now);
            var key = $"{Id}/{unitNo}/{Guid.NewGuid():N}";
            var target = LeastBusySilo();
            var targetName = target is null ? null : SiloNames.Of(target);
            foreach (var n in units) _inFlight.Add(n, key).Target = targetName;
            _ = StartAsync(units, key, target);
        }
    }

    // The ready unit at the head of the queue, with the batchable ready units behind it when it is
    // batchable itself. Each batch costs the server a COPY per table and a commit whatever its size,
    // and fewer, larger COPYs cost it less CPU per row. A batch takes a parallelism's share of what
    // is queued (guided: the batches shrink as the queue does, so that the last ones end together).
    // The first dispatch of an activation goes alone: the keys a relational load's first batch
    // inserts into its dimensions are the ones every other batch inserts too, and they wait for it
    // to commit; a single unit commits soonest.
    private int[] TakeBatch(DateTimeOffset now)
    {
        var head = _queue.Dequeue();
        _queued.Remove(head);
        var parallelism = _import!.Parallelism;
        var first = !_dispatched;
        _dispatched = true;
        if (!_batchable.TryGetValue(head, out var bytes) || (first && parallelism > 1)) return [head];
        var most = Math.Min(options.Value.BatchUnits, (_queue.Count + parallelism) / parallelism);
        var batch = new List<int> { head };
        while (batch.Count < most && _queue.TryPeek(out var next, out var turn) && turn.NotBefore <= now
               && _batchable.TryGetValue(next, out var size) && bytes + size <= options.Value.BatchBytes)
        {
            bytes += size;
            _queue.Dequeue();
            _queued.Remove(next);
            batch.Add(next);
        }
        batch.Sort(); // the batch locks its units' rows in this order
        return [.. batch];
    }

    // The active silo running the fewest of this import's attempts (ties broken at random). A unit
    // grain placed at random could wait for a slot behind a long attempt on a busy silo while another
    // silo (one that just joined, say) sits idle.
    private SiloAddress? LeastBusySilo() => membership.CurrentSnapshot.Members.Values
        .Where(m => m.Status == SiloStatus.Active)
        .Select(m => m.SiloAddress)
        .OrderBy(s => _inFlight.On(SiloNames.Of(s)))
        .ThenBy(_ => Random.Shared.Next())
        .FirstOrDefault();

    // A continuous import's consumers never end by themselves, so placement at start is not enough:
    // while one active silo runs two more of them than another (one joined, say), one consumer of
    // the busiest is stopped and handed back, and starts again on the least busy one.
    private void Rebalance()
    {
        if (_import is not { State: ImportState.Running, Continuous: true }) return;
        var silos = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => SiloNames.Of(m.SiloAddress)).ToList();
        if (silos.Count < 2) return;
        var running = _inFlight.AllDispatches.Where(d => d.Silo is not null && !_moving.Contains(d.Key)).ToList();
        while (true)
        {
            var load = silos.ToDictionary(s => s, s => running.Count(d => d.Silo == s));
            var busiest = load.MaxBy(kv => kv.Value);
            if (busiest.Value - load.Values.Min() < 2) return;
            var move = running.First(d => d.Silo == busiest.Key);
            running.Remove(move);
            _moving.Add(move.Key);
            logger.LogInformation("import {ImportId}: consumer {Dispatch} moves off silo {Silo}, which runs {Count} of them", Id, move.Key, busiest.Key, busiest.Value);
            _ = AbandonAsync(move.Key);
        }
    }

    private async Task StartAsync(int[] units, string key, SiloAddress? target)
    {
        try
        {
            // A placement hint: the new unit grain goes to the target while that silo is active, else to a random one.
            if (target is not null) RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
            var start = GrainFactory.GetGrain<IUnitGrain>(key).StartAsync(new UnitAssignment(Id, units, _import?.TraceParent, _import?.Priority ?? 0));
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            var silo = await start;
            if (_inFlight.TryGetDispatch(key, out var dispatch)) dispatch.Silo = silo;
        }
        catch (Exception e)
        {
            // Its silo went away under the call: hand its units out again shortly.
            logger.LogWarning("import {ImportId}: units {Units} could not be started ({Error}); trying again", Id, string.Join(',', units), e.Message);
            foreach (var unitNo in units)
            {
                if (!_inFlight.TryGet(unitNo, out var dispatch) || dispatch.Key != key) continue;
                _inFlight.Remove(unitNo);
                Enqueue(unitNo, DateTimeOffset.UtcNow.AddSeconds(1), resumed: true);
            }
            Pump();
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
        if (_import is not { State: ImportState.Running, Planned: true } || _queue.Count > 0 || _inFlight.Count > 0) return;
        if (await catalog.FinalizeAsync(Id) is not { } final)
        {
            // The database still has open units this activation did not know of.
            if ((await catalog.GetOpenUnitsAsync(Id)).Count > 0) await ReconcileAsync([], fullReload: true);
            return;
        }
        logger.LogInformation("import {ImportId} {State}", Id, final.Name());
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
                        var units = await planner.PlanAsync(Id, UnitsPlannedAsync);
                        if (units is not null) logger.LogInformation("import {ImportId} planned: {Units} units", Id, units);
                        break;
                    }
                    catch (Exception e) when (ErrorClassifier.IsBadInput(e))
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
                        var error = ErrorClassifier.Describe(e);
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
        // In a turn of its own: planning runs beside the grain's calls, and a reconciliation's snapshot
        // of the units must not be taken while unit reports are handled (a batch that ended during
        // the read would be put back in flight).
        _plannedTimer?.Dispose();
        _plannedTimer = this.RegisterGrainTimer(() => ReconcileAsync([], fullReload: true), TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    // Units the listing just stored go out as they come, while the listing goes on; queued in a turn
    // of their own, like the reconciliation at the end of planning (a reconciliation in progress
    // would otherwise take those sent out meanwhile for ended ones).
    private Task UnitsPlannedAsync(IReadOnlyList<PlannedUnits.PlannedUnit> units)
    {
        IGrainTimer? turn = null;
        turn = this.RegisterGrainTimer(async () =>
        {
            turn!.Dispose();
            await QueuePlannedAsync(units);
        }, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        return Task.CompletedTask;
    }

    private async Task QueuePlannedAsync(IReadOnlyList<PlannedUnits.PlannedUnit> units)
    {
        if (_import is not { State: ImportState.Running }) _import = await catalog.GetImportAsync(Id);
        if (_import is null || _import.State.IsFinal()) return;
        foreach (var unit in units)
        {
            if (_inFlight.TryGet(unit.UnitNo, out _)) continue; // a reconciliation found it first
            if (unit.SizeBytes is { } size && size <= options.Value.BatchUnitBytes) _batchable[unit.UnitNo] = size;
            Enqueue(unit.UnitNo, DateTimeOffset.MinValue);
        }
        Pump();
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
        _plannedTimer?.Dispose();
        _plannedTimer = null;
        _queue.Clear();
        _queued.Clear();
        _inFlight.Clear();
        _batchable.Clear();
        _moving.Clear();
        if (await this.GetReminder(Backstop) is { } reminder) await this.UnregisterReminder(reminder);
        _reminder = false;
    }
}
