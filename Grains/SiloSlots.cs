using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ingest.Grains;

/// <summary>
/// The unit slots of one silo (<see cref="IngestSiloOptions.Slots"/>) and the attempts running in
/// them. When the silo stops (SIGTERM, Ctrl-C), before its grains go, every attempt is rolled back
/// and handed back at once, without using up an attempt, so other silos take the units over.
/// </summary>
public sealed class SiloSlots(IOptions<IngestSiloOptions> options, ILogger<SiloSlots> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly PrioritySlots _slots = new(options.Value.Slots);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _runs = new();
    private volatile bool _handingBack;

    /// <summary>Attempts on this silo: running, or waiting for a slot.</summary>
    public int InFlight => _runs.Count;

    /// <summary>Whether the silo is stopping, so that a rolled-back attempt is handed back rather than abandoned.</summary>
    public bool HandingBack => _handingBack;

    /// <summary>
    /// Runs <paramref name="work"/> in a free slot, waiting for one (behind attempts of a higher
    /// <paramref name="priority"/>, ahead of lower ones), then hands its result to
    /// <paramref name="deliver"/>. Its token is cancelled by <paramref name="abandon"/> or when the silo
    /// stops; the work says what it did then (<paramref name="cancelledBeforeStart"/> when it never ran).
    /// A stopping silo waits for the deliveries of the attempts it hands back.
    /// </summary>
    public async Task RunAsync<T>(string dispatch, int priority, Func<CancellationToken, Task<T>> work, Func<T> cancelledBeforeStart, Func<T, Task> deliver, CancellationToken abandon)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(abandon);
        if (_handingBack) cancel.Cancel();
        _runs[dispatch] = cancel;
        IngestMetrics.SiloUnitsInFlight.Add(1);
        try
        {
            T result;
            var acquired = false;
            try
            {
                await _slots.WaitAsync(priority, cancel.Token);
                acquired = true;
                result = await work(cancel.Token);
            }
            catch (OperationCanceledException) when (!acquired)
            {
                result = cancelledBeforeStart();
            }
            finally
            {
                if (acquired) _slots.Release();
            }
            await deliver(result);
        }
        finally
        {
            _runs.TryRemove(dispatch, out _);
            IngestMetrics.SiloUnitsInFlight.Add(-1);
        }
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        // Stops with the membership agent's stage, which marks this silo shutting down (so units handed
        // back are placed on other silos), and before the stage that deactivates grains (so they can still report).
        lifecycle.Subscribe(nameof(SiloSlots), ServiceLifecycleStage.BecomeActive, _ => Task.CompletedTask, HandBackAsync);

    private async Task HandBackAsync(CancellationToken cancellationToken)
    {
        _handingBack = true;
        if (_runs.IsEmpty) return;
        logger.LogInformation("silo stopping: handing back {Count} units", _runs.Count);
        foreach (var run in _runs.Values)
        {
            try { run.Cancel(); }
            catch (ObjectDisposedException) { } // it just ended
        }
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!_runs.IsEmpty && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
            await Task.Delay(50, CancellationToken.None);
    }
}
