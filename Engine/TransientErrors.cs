using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Ingest.Engine;

/// <summary>
/// How the grains retry what <see cref="ErrorClassifier"/> calls transient: at once within an
/// attempt, a message between grains, a silo waiting for its database.
/// </summary>
public static class TransientErrors
{
    /// <summary>Retries transient errors with jittered exponential backoff for up to about a minute.</summary>
    public static ResiliencePipeline Pipeline { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(ErrorClassifier.IsTransient),
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
            ShouldHandle = new PredicateBuilder().Handle<Exception>(ErrorClassifier.IsTransient),
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
