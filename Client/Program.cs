using Ingest.Client;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Ingest.Engine;

// With an OTLP endpoint (the standard OTEL_* variables), the submit span, root of the import's
// trace, is exported; disposing the provider flushes it before the process ends.
using var tracing = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 }
    ? Sdk.CreateTracerProviderBuilder()
        .ConfigureResource(r =>
        {
            // A service.instance.id the user sets (OTEL_RESOURCE_ATTRIBUTES) wins over a generated one.
            if (Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is not { Length: > 0 }) r.AddService("ingest-client", autoGenerateServiceInstanceId: !IngestTracing.UserSetsInstanceId);
        })
        .AddSource(IngestTracing.SourceName, "Microsoft.Orleans.Application")
        .AddOtlpExporter()
        .Build()
    : null;

return await CliApp.RunAsync(args, Console.Out, Console.Error);
