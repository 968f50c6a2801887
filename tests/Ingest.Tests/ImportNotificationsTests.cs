using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// Imports are heard as they come and go: a silo takes an import the moment it is stored, without
/// the console reaching the cluster, and whoever waits for an import hears it end, however it ended.
/// </summary>
public class ImportNotificationsTests
{
    [Fact]
    public async Task Storing_and_ending_an_import_notify_its_id_and_a_waiter_wakes_before_its_poll()
    {
        using var data = new TempFolder().WithPages(1, 1);
        await using var db = await TestDatabase.CreateAsync();
        await using var listener = await db.DataSource.OpenConnectionAsync();
        var heard = new List<string>();
        listener.Notification += (_, e) => heard.Add($"{e.Channel}:{e.Payload}");
        await using (var listen = new NpgsqlCommand($"LISTEN {ImportNotifications.Submitted}; LISTEN {ImportNotifications.Ended}", listener))
            await listen.ExecuteNonQueryAsync();
        await using var endings = await ImportNotifications.ListenAsync(db.DataSource, ImportNotifications.Ended);

        var running = await db.StoreAsync(Specs.Files(data.Path, name: "a"));
        var other = await db.StoreAsync(Specs.Files(data.Path, name: "b"));
        Assert.Equal(ImportState.Paused, (await db.Catalog.PauseAsync(other)).State);
        Assert.True(await db.Catalog.CancelAsync(running) is { Applied: true, State: ImportState.Cancelled });

        // Paused is not an end; cancelled is. The waiter, told to poll in an hour, wakes now with the id.
        Assert.Equal([running], await endings.WaitAsync(TimeSpan.FromHours(1)).WaitAsync(TimeSpan.FromSeconds(30)));
        await Poll.UntilAsync(async () => { await listener.WaitAsync(TimeSpan.FromMilliseconds(100)); return heard.Count; }, n => n >= 3, TimeSpan.FromSeconds(30), "three notifications");
        Assert.Equal([$"{ImportNotifications.Submitted}:{running}", $"{ImportNotifications.Submitted}:{other}", $"{ImportNotifications.Ended}:{running}"], heard);
    }

    [Fact]
    public async Task A_running_silo_takes_an_import_the_moment_it_is_stored_with_no_call_to_the_cluster()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        // Its sweep, which wakes unfinished imports as a backstop, comes at start and then not for an hour.
        var silo = db.StartSilo(env: new Dictionary<string, string> { ["INGEST_SWEEP_SECONDS"] = "3600" });
        await Poll.UntilAsync(() => Task.FromResult(silo.Output.Contains("listening for submitted imports")), TimeSpan.FromSeconds(60), () => $"the silo listening:\n{silo.Output}");

        var id = await db.StoreAsync(Specs.Files(data.Path));

        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(10, status.Rows.Inserted);
    }
}
