using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Cluster;

/// <summary>
/// One stateless worker of the cluster. It registers itself, then runs three loops until stopped:
/// claim units into its free slots, heartbeat (renew leases, abandon the ones it lost), and
/// maintenance (plan pending imports, end finished ones, fail poison units). Every node runs all
/// three; PostgreSQL row locks and fencing tokens make that safe, so there is no leader.
/// On a clean stop it abandons its units (rolled back) and hands them back at once.
/// </summary>
public sealed class IngestNode : IAsyncDisposable
{
    private readonly ClusterOptions _options;
    private readonly ILogger _logger;
    private readonly NpgsqlDataSource _dataSource;
    private readonly NodeRegistry _registry;
    private readonly UnitQueue _queue;
    private readonly UnitRunner _runner;
    private readonly ImportPlanner _planner;
    private readonly ImportFinalizer _finalizer;
    private readonly ConcurrentDictionary<(long ImportId, int UnitNo), InFlight> _inFlight = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _maintainNow = new(0, 1);

    private sealed record InFlight(UnitClaim Claim, CancellationTokenSource Abandon, DateTimeOffset ClaimedAt);

    public IngestNode(ClusterOptions options, ILoggerFactory loggerFactory)
    {
        options.Validate();
        _options = options;
        _logger = loggerFactory.CreateLogger("Ingest.Node");
        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "ingest-node";
        // Keep session state across pooled uses: the staging tables are created once per session.
        // Nothing else is left in a session (locks are transaction-scoped, no SET is issued).
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        // Every unit runs the same dozen statements: prepare them once per session.
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0) builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        _dataSource = builder.Build();
        Id = Guid.NewGuid();
        _registry = new NodeRegistry(_dataSource, options, Id);
        _queue = new UnitQueue(_dataSource, options);
        _runner = new UnitRunner(_dataSource, _logger);
        _planner = new ImportPlanner(_dataSource, _logger);
        _finalizer = new ImportFinalizer(_dataSource);
    }

    public Guid Id { get; }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        // A node may start before its database: wait for it, saying so, until stopped.
        var startup = TransientErrors.UntilReachable(_logger);
        await startup.ExecuteAsync(async ct => await SchemaMigrator.MigrateAsync(_dataSource, ct), stoppingToken);
        await startup.ExecuteAsync(async ct => await _registry.RegisterAsync(ct), stoppingToken);
        _logger.LogInformation("node {NodeId} started on {Host} (pid {Pid}): {Slots} slots, lease {Lease}s",
            Id, Environment.MachineName, Environment.ProcessId, _options.Slots, _options.LeaseDuration.TotalSeconds);

        var heartbeat = EveryAsync(_options.HeartbeatInterval, HeartbeatAsync, "heartbeat", stoppingToken);
        var maintenance = EveryAsync(_options.MaintenanceInterval, MaintainAsync, "maintenance", stoppingToken, _maintainNow);
        // A submitted or resumed import is planned at once, not at the next maintenance round.
        var listen = WakeUpChannel.ListenAsync(_options.ConnectionString, () => Signal(_maintainNow), _logger, stoppingToken);
        var units = new List<Task>();
        using var slots = new SemaphoreSlim(_options.Slots);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await slots.WaitAsync(stoppingToken);
                UnitClaim? claim = null;
                try { claim = await _queue.TryClaimAsync(Id, stoppingToken); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _logger.LogWarning("claiming failed, will retry: {Error}", e.Message);
                }
                if (claim is null)
                {
                    slots.Release();
                    // Nothing claimable (or the import is at its parallelism): poll again later, or
                    // at once when one of our units ends and frees capacity.
                    await _wake.WaitAsync(_options.PollInterval, stoppingToken);
                    continue;
                }
                units.RemoveAll(t => t.IsCompleted);
                units.Add(RunUnitAsync(claim, slots, stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }

        _logger.LogInformation("node {NodeId} stopping: abandoning {Count} units", Id, _inFlight.Count);
        await Task.WhenAll(units.Append(heartbeat).Append(maintenance).Append(listen));
        using var releaseTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _registry.ReleaseAndStopAsync(releaseTimeout.Token);
            _logger.LogInformation("node {NodeId} stopped; its units were handed back", Id);
        }
        catch (Exception e)
        {
            _logger.LogWarning("node {NodeId} could not hand its units back ({Error}); their leases expire instead", Id, e.Message);
        }
    }

    private async Task RunUnitAsync(UnitClaim claim, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var key = (claim.ImportId, claim.UnitNo);
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _inFlight[key] = new InFlight(claim, abandon, DateTimeOffset.UtcNow);
        try
        {
            // Only the import's last units can end it; the others skip the check.
            if (!await _runner.RunAsync(claim, abandon.Token)) return;
            foreach (var (id, state) in await _finalizer.FinalizeAsync(claim.ImportId, stoppingToken))
            {
                _runner.Forget(id);
                _logger.LogInformation("import {ImportId} {State}", id, state);
            }
        }
        catch (OperationCanceledException) when (abandon.IsCancellationRequested) { }
        catch (Exception e)
        {
            _logger.LogError(e, "unit {ImportId}/{UnitNo}: unexpected error", claim.ImportId, claim.UnitNo);
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
            slots.Release();
            Wake();
        }
    }

    private void Wake() => Signal(_wake);

    private static void Signal(SemaphoreSlim signal)
    {
        try { signal.Release(); }
        catch (SemaphoreFullException) { } // already signalled
    }

    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        var asOf = DateTimeOffset.UtcNow;
        var held = await _registry.HeartbeatAsync(cancellationToken);
        foreach (var unit in _inFlight.Values)
        {
            // A claim made after this heartbeat began may not be in its answer yet.
            if (unit.ClaimedAt < asOf && !held.Contains((unit.Claim.ImportId, unit.Claim.UnitNo, unit.Claim.LeaseToken)))
            {
                _logger.LogWarning("unit {ImportId}/{UnitNo}: lease lost (cancelled or taken over), abandoning", unit.Claim.ImportId, unit.Claim.UnitNo);
                unit.Abandon.Cancel();
            }
        }
    }

    private async Task MaintainAsync(CancellationToken cancellationToken)
    {
        while (await _planner.PlanNextAsync(cancellationToken)) Wake();
        var poisoned = await _finalizer.FailExhaustedAsync(cancellationToken);
        if (poisoned > 0) _logger.LogWarning("{Count} units failed: their nodes died on every attempt", poisoned);
        foreach (var (id, state) in await _finalizer.FinalizeAsync(null, cancellationToken))
        {
            _runner.Forget(id);
            _logger.LogInformation("import {ImportId} {State}", id, state);
        }
    }

    // Runs the action every interval, or sooner when woken.
    private async Task EveryAsync(TimeSpan interval, Func<CancellationToken, Task> action, string name, CancellationToken stoppingToken, SemaphoreSlim? wake = null)
    {
        try
        {
            while (true)
            {
                try { await action(stoppingToken); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _logger.LogWarning("{Loop} failed, will retry: {Error}", name, e.Message);
                }
                if (wake is null) await Task.Delay(interval, stoppingToken);
                else await wake.WaitAsync(interval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
