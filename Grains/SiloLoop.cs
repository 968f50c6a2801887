namespace Ingest.Grains;

/// <summary>
/// Work a silo does in the background while it is up: started once the silo is active (its grains
/// can be called), cancelled and awaited when it stops. Each silo runs its own; they are written to
/// be harmless when several silos do the same.
/// </summary>
public abstract class SiloLoop : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _running = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(GetType().Name, ServiceLifecycleStage.Active, StartAsync, StopAsync);

    /// <summary>The work, until <paramref name="cancellationToken"/> says the silo stops.</summary>
    protected abstract Task RunAsync(CancellationToken cancellationToken);

    /// <summary>After the work ended as the silo stops: what it holds is let go.</summary>
    protected virtual ValueTask StoppedAsync() => ValueTask.CompletedTask;

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _running = Task.Run(() => RunAsync(_stopping.Token));
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try { await _running.WaitAsync(cancellationToken); }
        catch (OperationCanceledException) { }
        await StoppedAsync();
    }
}
