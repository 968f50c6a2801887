using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Ingest.Client;

/// <summary>
/// An Orleans client connected to the cluster whose membership table is in the database, through
/// the gateways of its live silos.
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    /// <summary>Connects, or returns null with the reason when no silo's gateway answers.</summary>
    public static async Task<(ClusterConnection? Connection, string? Problem)> TryConnectAsync(string connectionString, string clusterId, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        // The console's own output is for people; Orleans' warnings go to stderr, as JSON when asked.
        if (Environment.GetEnvironmentVariable("INGEST_LOG_FORMAT") is { } format && format.Trim().Equals("json", StringComparison.OrdinalIgnoreCase))
            builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId)
                .AddJsonConsole(o => (o.UseUtcTimestamp, o.TimestampFormat, o.IncludeScopes) = (true, "yyyy-MM-ddTHH:mm:ss.fffZ", true))
                .AddFilter(level => level >= LogLevel.Warning)
                .Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = ("Npgsql", connectionString));
            client.AddActivityPropagation();
            // Orleans' default retries a refused gateway for about three minutes; the gateways of killed
            // silos stay listed until a live silo declares them dead. Try briefly, then say so.
            var retries = 0;
            client.UseConnectionRetryFilter(async (_, ct) =>
            {
                if (++retries > 3) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
                return true;
            });
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
            return (new ClusterConnection(host), null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            return (null, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _host.StopAsync(timeout.Token); }
        catch (OperationCanceledException) { }
        _host.Dispose();
    }
}
