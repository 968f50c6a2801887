using Ingest.Engine.Sources;
using Npgsql;
using Spectre.Console;
using Ingest.Catalog;

namespace Ingest.Client;

/// <summary>
/// What every command needs: the database (from <c>INGEST_DB</c>), the cluster (its id from
/// <c>INGEST_CLUSTER_ID</c>, default <c>ingest</c>), stdout for results and stderr for progress and
/// messages, so that <c>--json</c> output stays parseable.
/// </summary>
public sealed class ClientContext(TextWriter stdout, TextWriter stderr) : IAsyncDisposable
{
    private NpgsqlDataSource? _dataSource;
    private SourceRegistry? _sources;
    private Task<(ClusterConnection? Connection, string? Problem)>? _cluster;

    public TextWriter Out { get; } = stdout;

    public TextWriter Error { get; } = stderr;

    /// <summary>Spectre console writing to stderr (tables for humans, progress).</summary>
    public IAnsiConsole ErrorConsole { get; } = Create(stderr, ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected);

    /// <summary>Spectre console writing to stdout.</summary>
    public IAnsiConsole OutConsole { get; } = Create(stdout, ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected);

    /// <summary>Whether progress can be drawn live (stderr is a terminal).</summary>
    public bool Interactive => ReferenceEquals(Error, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Whether to print an error's full details (the global <c>--verbose</c>).</summary>
    public bool Verbose { get; set; }

    public string ClusterId { get; } = Environment.GetEnvironmentVariable("INGEST_CLUSTER_ID") is { Length: > 0 } id ? id : "ingest";

    public NpgsqlDataSource DataSource => _dataSource ??= Open();

    /// <summary>The source connectors and record formats, for dry runs (<c>validate</c>, <c>diff</c>).</summary>
    public SourceRegistry Sources => _sources ??= SourceServiceCollectionExtensions.CreateDefault();

    /// <summary>Where INGEST_DB points, for messages: host, port and database, no credentials.</summary>
    public string DatabaseAddress
    {
        get
        {
            var builder = ConnectionStringBuilder();
            return $"{builder.Host}:{builder.Port}{(builder.Database is { } database ? "/" + database : "")}";
        }
    }

    public ImportCatalog Catalog => new(DataSource);

    public ImportControl Control => new(Catalog, ConnectAsync);

    /// <summary>
    /// The cluster, connected once on first use; null when no silo answers, which is said on stderr
    /// (Orleans' reason only with <c>--verbose</c>).
    /// </summary>
    public async Task<IClusterClient?> ConnectAsync(CancellationToken cancellationToken)
    {
        _cluster ??= ClusterConnection.TryConnectAsync(ConnectionString, ClusterId, cancellationToken);
        var (connection, problem) = await _cluster;
        if (connection is null)
        {
            await Error.WriteLineAsync($"no silo is reachable (none runs in cluster '{ClusterId}', or its gateway does not answer): " +
                                       "the change is stored, and a silo takes it when one starts (bin/ingest-silo)");
            if (Verbose) await Error.WriteLineAsync(problem);
        }
        return connection?.Client;
    }

    private static string ConnectionString => Environment.GetEnvironmentVariable("INGEST_DB") is { Length: > 0 } cs && !string.IsNullOrWhiteSpace(cs)
        ? cs
        : throw new UsageException("INGEST_DB is not set: give it an Npgsql connection string, e.g. 'Host=127.0.0.1;Port=5432;Username=postgres;Database=ingest'");

    // Colours only on a terminal: redirected output stays plain text.
    private static IAnsiConsole Create(TextWriter writer, bool terminal) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
        ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
    });

    private static NpgsqlConnectionStringBuilder ConnectionStringBuilder()
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"INGEST_DB is not an Npgsql connection string ({e.Message}): give one like 'Host=127.0.0.1;Port=5432;Username=postgres;Database=ingest'");
        }
    }

    private static NpgsqlDataSource Open()
    {
        ConnectionStringBuilder(); // a malformed INGEST_DB is a usage error
        return CatalogConnections.Builder(ConnectionString, "ingest-client").Build();
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is { IsCompletedSuccessfully: true, Result.Connection: { } connection }) await connection.DisposeAsync();
        if (_dataSource is not null) await _dataSource.DisposeAsync();
    }
}

/// <summary>A usage problem: printed as is, exit 64.</summary>
public sealed class UsageException(string message) : Exception(message);
