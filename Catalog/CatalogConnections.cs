using Npgsql;

namespace Ingest.Catalog;

/// <summary>How the silos and the console connect to the catalog database.</summary>
public static class CatalogConnections
{
    /// <summary>
    /// A data source for <paramref name="connectionString"/>, named <paramref name="application"/>
    /// unless it names itself, with PostgreSQL's JIT off unless it says otherwise: the catalog's
    /// statements run in milliseconds, but on a catalog of many units the planner's cost estimates
    /// cross the JIT thresholds, and compiling took each one 0.3–1.7 s, every second on every silo.
    /// </summary>
    public static NpgsqlDataSourceBuilder Builder(string connectionString, string application)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var settings = builder.ConnectionStringBuilder;
        settings.ApplicationName ??= application;
        if (settings.Options?.Contains("jit", StringComparison.Ordinal) != true)
            settings.Options = string.IsNullOrEmpty(settings.Options) ? "-c jit=off" : $"{settings.Options} -c jit=off";
        return builder;
    }
}
