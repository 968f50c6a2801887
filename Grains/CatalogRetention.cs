using Ingest.Catalog;
using Ingest.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ingest.Grains;

/// <summary>
/// With <see cref="IngestSiloOptions.RetentionDays"/>, removes ended imports older than that from the
/// catalog when the silo starts and once a day after (<see cref="ImportCleanup"/>). Every silo does:
/// a second run finds nothing left to remove.
/// </summary>
public sealed class CatalogRetention(ImportCleanup cleanup, IOptions<IngestSiloOptions> options, ILogger<CatalogRetention> logger) : SiloLoop
{
    private static readonly TimeSpan Period = TimeSpan.FromDays(1);

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        if (options.Value.RetentionDays is not { } days) return;
        var retention = TimeSpan.FromDays(days);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var removed = await cleanup.RunAsync(ImportCleanup.Ended, retention, dryRun: false, cancellationToken);
                if (removed.Imports.Count > 0)
                    logger.LogInformation("retention: removed {Imports} imports that ended more than {Days} days ago ({Units} units, {Rejects} rejects, {Events} events)",
                        removed.Imports.Count, retention.TotalDays, removed.Units, removed.Rejects, removed.Events);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("retention: cleanup failed, next in a day: {Error}", ErrorClassifier.Describe(e));
            }
            try { await Task.Delay(Period, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
