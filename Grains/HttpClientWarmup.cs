using Ingest.Engine;
using Ingest.Engine.Sources.Http;
using Microsoft.Extensions.Logging;

namespace Ingest.Grains;

/// <summary>Warms the HTTP sources' client (<see cref="HttpWarmup"/>) before the silo takes work; a failure only costs the first request's speed.</summary>
public sealed class HttpClientWarmup(HttpClient client, ILogger<HttpClientWarmup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(HttpClientWarmup), ServiceLifecycleStage.ApplicationServices, WarmAsync);

    private async Task WarmAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await HttpWarmup.RunAsync(client, bounded.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug("HTTP client not warmed: {Error}", ErrorClassifier.Describe(e));
        }
    }
}
