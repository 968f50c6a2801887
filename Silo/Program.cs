using Ingest.Grains;
using Ingest.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ingest.Catalog;
using Ingest.Engine;

SiloSettings settings;
try
{
    settings = SiloSettings.FromEnvironment();
}
catch (SiloSettingsException e)
{
    Console.Error.WriteLine($"ingest-silo: {e.Message}");
    return 64;
}

using var loggerFactory = LoggerFactory.Create(logging => SiloHost.ConfigureLogging(logging, settings.JsonLogs));
var logger = loggerFactory.CreateLogger("Ingest.Silo");
await using var dataSource = SiloHost.CreateDataSource(settings.ConnectionString);
using var stopping = new CancellationTokenSource();
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });

// Orleans reads its own tables at start: the schema is migrated first. A silo may start before its
// database: it waits, saying so, until stopped.
try
{
    await TransientErrors.UntilReachable(logger).ExecuteAsync(async ct => await SchemaMigrator.MigrateAsync(dataSource, ct), stopping.Token);
}
catch (OperationCanceledException) when (stopping.IsCancellationRequested)
{
    return 0;
}

while (true)
{
    var rejoin = new RejoinRequest();
    using var host = SiloHost.Build(settings, dataSource, rejoin);
    await using var stop = stopping.Token.Register(() => host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication());
    try
    {
        await host.StartAsync(stopping.Token);
    }
    catch (Exception e) when (!stopping.IsCancellationRequested)
    {
        logger.LogCritical(e, "the silo could not start");
        return 1;
    }
    catch (OperationCanceledException)
    {
        return 0;
    }
    var address = SiloNames.Of(host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress);
    logger.LogInformation("silo {Name} {Address} started on {Host} (pid {Pid}): {Slots} slots",
        host.Services.GetRequiredService<ILocalSiloDetails>().Name, address, Environment.MachineName, Environment.ProcessId, settings.Grains.Slots);
    await host.WaitForShutdownAsync();
    if (!rejoin.Requested || stopping.IsCancellationRequested)
    {
        logger.LogInformation("silo {Address} stopped", address);
        return 0;
    }
    logger.LogWarning("silo {Address} was declared dead by the cluster; a new silo rejoins it", address);
}
