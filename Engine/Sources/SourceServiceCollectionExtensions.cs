using Amazon.S3;
using Ingest.Engine.Formats;
using Ingest.Engine.Formats.Csv;
using Ingest.Engine.Sources.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ingest.Engine.Sources;

public static class SourceServiceCollectionExtensions
{
    /// <summary>
    /// Registers the source connectors (folder, S3, HTTP, RabbitMQ, SQL), the record formats (json, ndjson, csv, tsv) and the
    /// <see cref="SourceRegistry"/> that picks them for a spec. The S3 client comes from the standard
    /// AWS environment unless an <see cref="IAmazonS3"/> is registered first.
    /// </summary>
    public static IServiceCollection AddIngestSources(this IServiceCollection services)
    {
        services.TryAddSingleton<IAmazonS3>(_ => S3Connector.CreateClientFromEnvironment());
        services.AddSingleton<ISourceConnector, FolderConnector>();
        services.AddSingleton<ISourceConnector, S3Connector>();
        // A silo registers its cluster-wide gate first; elsewhere a rate limit holds within the process.
        services.TryAddSingleton<IRequestGate, LocalRequestGate>();
        services.TryAddSingleton(_ => PageFetcher.CreateClient());
        services.TryAddSingleton(sp => new OAuth2Tokens(sp.GetRequiredService<HttpClient>()));
        services.TryAddSingleton<PageFetcher>();
        services.AddSingleton<ISourceConnector, HttpConnector>();
        services.AddSingleton<ISourceConnector, RabbitMq.RabbitMqConnector>();
        services.AddSingleton<ISourceConnector, Sql.SqlConnector>();
        services.AddSingleton<IRecordFormat, JsonFormat>();
        services.AddSingleton<IRecordFormat, NdjsonFormat>();
        services.AddSingleton<IRecordFormat>(CsvFormat.Csv);
        services.AddSingleton<IRecordFormat>(CsvFormat.Tsv);
        services.TryAddSingleton<SourceRegistry>();
        return services;
    }

    /// <summary>A registry of the built-in connectors and formats, for tools that run without a host (the client's dry runs).</summary>
    public static SourceRegistry CreateDefault() =>
        new ServiceCollection().AddIngestSources().BuildServiceProvider().GetRequiredService<SourceRegistry>();
}
