using Microsoft.Extensions.DependencyInjection;

namespace Ingest.Cluster;

public static class ClusterServiceCollectionExtensions
{
    /// <summary>Registers a cluster node (options from the environment, then <paramref name="configure"/>) as a hosted service.</summary>
    public static IServiceCollection AddIngestNode(this IServiceCollection services, Action<ClusterOptions>? configure = null)
    {
        var options = ClusterOptions.FromEnvironment();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddHostedService<NodeService>();
        return services;
    }
}
