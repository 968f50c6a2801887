using Ingest.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

// The node reads INGEST_* variables, no configuration file, so it takes none of the host's defaults:
// they watch the working directory recursively for appsettings changes, and with a busy directory
// below it (a local PostgreSQL's data, say) that inotify traffic was a tenth of the node's CPU.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, DisableDefaults = true });
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
    o.UseUtcTimestamp = true;
});
builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));

try
{
    builder.Services.AddIngestNode();
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"ingest-node: {e.Message}");
    return 64;
}

// OpenTelemetry.Extensions.Hosting is not available here: build the meter provider by hand,
// and only when an OTLP endpoint is configured.
using var metrics = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 }
    ? Sdk.CreateMeterProviderBuilder().AddMeter(IngestMetrics.MeterName).AddOtlpExporter().Build()
    : null;

await builder.Build().RunAsync();
return Environment.ExitCode;
