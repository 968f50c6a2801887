namespace Ingest.Tests.Harness;

/// <summary>Waits for a condition by polling it, never by sleeping a guessed time.</summary>
public static class Poll
{
    public static Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what) =>
        UntilAsync(probe, done, timeout, () => what);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T value;
        while (!done(value = await probe()))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what()}; last value: {value}");
            await Task.Delay(50);
        }
        return value;
    }

    public static Task UntilAsync(Func<Task<bool>> probe, TimeSpan timeout, string what) =>
        UntilAsync(probe, static v => v, timeout, what);

    public static Task UntilAsync(Func<Task<bool>> probe, TimeSpan timeout, Func<string> what) =>
        UntilAsync(probe, static v => v, timeout, what);
}
