namespace Ingest.Grains;

/// <summary>
/// A silo's unit slots, given out by priority: when one frees, the waiting attempt of the import with
/// the highest <c>priority</c> takes it (first come, first served within a priority), so a long
/// low-priority import does not hold back one submitted after it. Attempts running are never preempted.
/// </summary>
public sealed class PrioritySlots(int slots)
{
    private readonly object _lock = new();
    private readonly PriorityQueue<Waiter, (int Priority, long Order)> _waiting = new();
    private int _free = slots;
    private long _order;

    private sealed class Waiter : TaskCompletionSource
    {
        public Waiter() : base(TaskCreationOptions.RunContinuationsAsynchronously) { }
    }

    /// <summary>Waits for a free slot; a higher <paramref name="priority"/> is served first.</summary>
    public async Task WaitAsync(int priority, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_free > 0 && _waiting.Count == 0)
            {
                _free--;
                return;
            }
            waiter = new Waiter();
            _waiting.Enqueue(waiter, (-priority, _order++));
        }
        // A waiter cancelled is skipped by Release; one granted first keeps its slot (the caller releases it).
        await using (cancellationToken.Register(() => waiter.TrySetCanceled(cancellationToken)))
            await waiter.Task;
    }

    /// <summary>Frees a slot: the next waiter by priority takes it.</summary>
    public void Release()
    {
        lock (_lock)
        {
            while (_waiting.TryDequeue(out var next, out _))
                if (next.TrySetResult()) return; // a cancelled waiter is skipped
            _free++;
        }
    }
}
