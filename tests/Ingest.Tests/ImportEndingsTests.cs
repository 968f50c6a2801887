using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>An import's end is heard at once by whoever waits for it (submit --wait), however it ended.</summary>
public class ImportEndingsTests
{
    [Fact]
    public async Task Ending_an_import_notifies_its_id_and_a_waiter_wakes_before_its_poll()
    {
        using var data = new TempFolder().WithPages(1, 1);
        await using var db = await TestDatabase.CreateAsync();
        var running = await db.StoreAsync(Specs.Files(data.Path, name: "a"));
        var other = await db.StoreAsync(Specs.Files(data.Path, name: "b"));
        await using var listener = await db.DataSource.OpenConnectionAsync();
        var heard = new List<string>();
        listener.Notification += (_, e) => heard.Add($"{e.Channel}:{e.Payload}");
        await using (var listen = new Npgsql.NpgsqlCommand($"LISTEN {ImportEndings.Channel}", listener)) await listen.ExecuteNonQueryAsync();
        await using var endings = await ImportEndings.ListenAsync(db.DataSource);

        Assert.Equal(ImportState.Paused, (await db.Catalog.PauseAsync(other)).State);
        Assert.True(await db.Catalog.CancelAsync(running) is { Applied: true, State: ImportState.Cancelled });

        // Paused is not an end; cancelled is. The waiter, told to poll in an hour, wakes now.
        var woke = endings.WaitAsync(TimeSpan.FromHours(1));
        Assert.True(await listener.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal([$"{ImportEndings.Channel}:{running}"], heard);
        await woke.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
