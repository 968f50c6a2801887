using System.Net;
using System.Net.Sockets;
using Ingest.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ingest.Silo.Web;
using Ingest.Catalog;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Configuration;
using Orleans.Dashboard;
using Ingest.Engine;

namespace Ingest.Silo;

/// <summary>Builds the host of one silo from its settings.</summary>
public static class SiloHost
{
    private const string AdoNetInvariant = "Npgsql";

    /// <summary>The cluster database as the grains use it.</summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = CatalogConnections.Builder(connectionString, "ingest-silo");
        // Keep session state across pooled uses: the staging tables are created once per session.
        // Nothing else is left in a session (locks are transaction-scoped, no SET is issued).
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        // Every unit runs the same few statements: prepare them once per session.
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0) builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        return builder.Build();
    }

    /// <summary>
    /// Console logs: one plain line per entry, or with <paramref name="json"/> one JSON object (the
    /// message's fields, such as the import id and unit, as properties; the trace id in its scope).
    /// </summary>
    public static void ConfigureLogging(ILoggingBuilder logging, bool json)
    {
        logging.ClearProviders();
        if (json)
        {
            logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
            logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            });
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Orleans", LogLevel.Warning);
        logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error); // start-up notes about server GC
        logging.AddFilter("Orleans.Hosting.ReminderOptionsValidator", LogLevel.Error);
        logging.AddFilter("Polly", LogLevel.Warning); // Orleans' placement logs every attempt
    }

    public static IHost Build(SiloSettings settings, NpgsqlDataSource dataSource, RejoinRequest rejoin)
    {
        // The silo reads INGEST_* and OTEL_* variables, no configuration file, so it takes none of the
        // host's defaults: they watch the working directory recursively for appsettings changes, and
        // with a busy directory below it (a local PostgreSQL's data, say) that inotify traffic was a
        // tenth of the process's CPU.
        // With a dashboard or the web console the host is a minimal web application; otherwise no web server at all.
        IHostApplicationBuilder builder = settings.DashboardPort is null && settings.Web is null
            ? Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true })
            : WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Configuration.AddEnvironmentVariables();
        ConfigureLogging(builder.Logging, settings.JsonLogs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(rejoin);

        var name = $"{settings.Name}-{Environment.ProcessId}";
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (settings.ClusterId, settings.ClusterId));
            silo.Configure<SiloOptions>(o => o.SiloName = name);
            silo.ConfigureEndpoints(settings.AdvertisedAddress, PortOrFree(settings.SiloPort), PortOrFree(settings.GatewayPort), listenOnAnyHostAddress: true);
            silo.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (AdoNetInvariant, settings.ConnectionString));
            silo.AddAdoNetGrainStorage("imports", o => (o.Invariant, o.ConnectionString) = (AdoNetInvariant, settings.ConnectionString));
            silo.UseAdoNetReminderService(o => (o.Invariant, o.ConnectionString) = (AdoNetInvariant, settings.ConnectionString));
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            // Every attempt is a grain of its own, used once: with Orleans' default of a million
            // cached locations a long-lived silo's cache grew with every batch it ever ran.
            silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = 10_000);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Fast, safe failure detection: a killed silo refuses connections at once and is
                // declared dead in about a second; a frozen one after its probes time out.
                o.ProbeTimeout = settings.ProbeTimeout;
                o.MaxProbeTimeout = settings.MaxProbeTimeout;
                o.NumMissedProbesLimit = settings.MissedProbesLimit;
                o.NumVotesForDeathDeclaration = settings.DeathVotes;
                o.EnableConnectionLivenessCheck = settings.ConnectionLivenessCheck;
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedTableIAmAliveLimit = 2;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                // Dead silos' rows are pruned instead of piling up across restarts.
                o.DefunctSiloExpiration = settings.DefunctSiloExpiration;
                o.DefunctSiloCleanupPeriod = settings.DefunctSiloExpiration < TimeSpan.FromMinutes(10) ? settings.DefunctSiloExpiration : TimeSpan.FromMinutes(10);
            });
            silo.AddActivityPropagation();
            silo.AddIngestGrains(dataSource, o =>
            {
                o.Slots = settings.Grains.Slots;
                o.BatchUnits = settings.Grains.BatchUnits;
                o.BatchUnitBytes = settings.Grains.BatchUnitBytes;
                o.BatchBytes = settings.Grains.BatchBytes;
                o.ReconcileInterval = settings.Grains.ReconcileInterval;
                o.ReminderPeriod = settings.Grains.ReminderPeriod;
                o.SweepInterval = settings.Grains.SweepInterval;
                o.PlanAttempts = settings.Grains.PlanAttempts;
                o.PlanBackoff = settings.Grains.PlanBackoff;
                o.KillAfterBatches = settings.Grains.KillAfterBatches;
                o.RetentionDays = settings.Grains.RetentionDays;
                o.ScheduleTick = settings.Grains.ScheduleTick;
                o.QueueOutage = settings.Grains.QueueOutage;
                o.EventMaxAge = settings.Grains.EventMaxAge;
                o.ArchiveInterval = settings.Grains.ArchiveInterval;
                o.ArchiveLease = settings.Grains.ArchiveLease;
                o.DefunctSiloExpiration = settings.DefunctSiloExpiration;
            });
            silo.Services.Replace(ServiceDescriptor.Singleton<IFatalErrorHandler, RejoiningFatalErrorHandler>());
            if (settings.DashboardPort is not null) silo.AddDashboard();
            if (settings.Web is not null) silo.Services.AddSingleton<ImportReports>();
        });
        AddTelemetry(builder, name);
        if (builder is not WebApplicationBuilder web) return ((HostApplicationBuilder)builder).Build();

        // One web server: the console on its address and port, the dashboard beside it (under /orleans when both are on).
        web.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            if (settings.DashboardPort is { } dashboard) k.ListenAnyIP(dashboard);
            if (settings.Web is { } console) k.Listen(console.Address, console.Port);
        });
        web.Services.AddRouting();
        var app = web.Build();
        if (settings is { Web: not null, DashboardPort: { } dashboardPort })
        {
            // The dashboard's port listens on every address: it serves the dashboard, never the console.
            app.Use((http, next) => http.Connection.LocalPort == dashboardPort && !http.Request.Path.StartsWithSegments("/orleans")
                ? Results.NotFound().ExecuteAsync(http)
                : next(http));
        }
        app.UseRouting();
        if (settings.Web is { } options)
        {
            WebConsole.Map(app, options, settings.ClusterId);
            if (settings.DashboardPort is not null) app.MapOrleansDashboard(routePrefix: "/orleans");
        }
        else app.MapOrleansDashboard();
        return app;
    }

    // Traces and metrics by OTLP when an endpoint is configured, through the standard OTEL_* variables.
    private static void AddTelemetry(IHostApplicationBuilder builder, string siloName)
    {
        if (Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is not { Length: > 0 }) return;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                // A service.instance.id the user sets (OTEL_RESOURCE_ATTRIBUTES) wins over the silo's name.
                if (Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is not { Length: > 0 })
                    r.AddService("ingest-silo", serviceInstanceId: IngestTracing.UserSetsInstanceId ? null : siloName, autoGenerateServiceInstanceId: false);
            })
            .WithTracing(t => t
                .SetSampler(new IngestSampler())
                .AddSource(IngestTracing.SourceName, "Microsoft.Orleans.Application", "System.Net.Http")
                .AddNpgsql())
            .WithMetrics(m => m.AddMeter(IngestMetrics.MeterName))
            .UseOtlpExporter();
    }

    private static int PortOrFree(int port)
    {
        if (port != 0) return port;
        // Orleans advertises its ports in the membership table, so they are chosen before it binds them.
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
