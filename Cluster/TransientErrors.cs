using Npgsql;
using Polly;
using Polly.Retry;

namespace Ingest.Cluster;

/// <summary>
/// Errors worth retrying at once, inside one attempt: deadlocks, serialization failures and a
/// PostgreSQL server that is restarting or unreachable. Everything else ends the attempt.
/// </summary>
public static class TransientErrors
{
    public static bool IsTransient(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
            || pg.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException npgsql => npgsql.IsTransient,
        System.Net.Sockets.SocketException or TimeoutException => true,
        _ => false,
    };

    /// <summary>Retries transient errors with jittered exponential backoff for up to about a minute.</summary>
    public static ResiliencePipeline Pipeline { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            MaxRetryAttempts = 12,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
        })
        .Build();
}
