using Ingest.Engine;
using Ingest.Engine.Loading;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Ingest.Grains;

/// <summary>
/// The one error classifier. Transient errors are retried at once, inside one attempt: deadlocks,
/// serialization failures and a PostgreSQL server that is restarting or unreachable. Bad input (a
/// malformed file, a missing folder, a table that does not match) is terminal: for the unit when
/// it loads, for the import when it is planned. Anything else ends the attempt, which is retried
/// with backoff while attempts remain.
/// </summary>
public static class TransientErrors
{
    /// <summary>Whether <paramref name="e"/> is bad input, which running again cannot fix.</summary>
    public static bool IsBadInput(Exception e) => e is SourceDataException or TargetTableException;

    /// <summary>The error as a status or event shows it.</summary>
    public static string Describe(Exception e) => e switch
    {
        SourceDataException or TargetTableException => e.Message,
        PostgresException pg => $"PostgreSQL {pg.SqlState}: {pg.MessageText}{(pg.Detail is null ? "" : " (" + pg.Detail + ")")}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

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

    /// <summary>
    /// Delivers a message between grains through a silo failure: retries any error for about a
    /// minute (the target grain is reactivated elsewhere once its silo is declared dead).
    /// </summary>
    public static ResiliencePipeline Delivery { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
            MaxRetryAttempts = 15,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(5),
        })
        .Build();

    /// <summary>
    /// Retries transient errors until cancelled, 0.5–5 s apart, logging each retry: for a silo
    /// that may start before its database.
    /// </summary>
    public static ResiliencePipeline UntilReachable(ILogger logger) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(500),
            MaxDelay = TimeSpan.FromSeconds(5),
            OnRetry = args =>
            {
                logger.LogWarning("cannot reach the database yet ({Error}); retrying in {Delay:F1}s", args.Outcome.Exception?.Message, args.RetryDelay.TotalSeconds);
                return default;
            },
        })
        .Build();
}
