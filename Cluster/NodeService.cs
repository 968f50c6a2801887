using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ingest.Cluster;

/// <summary>Hosts an <see cref="IngestNode"/> until the host stops (SIGTERM, Ctrl-C).</summary>
public sealed class NodeService(ClusterOptions options, ILoggerFactory loggerFactory, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var node = new IngestNode(options, loggerFactory);
        try
        {
            await node.RunAsync(stoppingToken);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            loggerFactory.CreateLogger("Ingest.Node").LogCritical(e, "node failed");
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }
}
