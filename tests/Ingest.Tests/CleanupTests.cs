using System.Text.Json;
using Ingest.Client;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// <c>ingest cleanup</c> and the silos' retention: old ended imports leave the catalog with their
/// units, rejects and events; recent and unfinished ones, the target's rows, and the watermark
/// store of incremental imports' names stay.
/// </summary>
public class CleanupTests
{
    [Fact]
    public async Task Cleanup_removes_old_ended_imports_by_state_and_age_and_never_target_rows()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 4);
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo();
        var ids = new List<long>();
        // The first is incremental: what it committed is kept by name, and outlives it.
        for (var i = 0; i < 3; i++) ids.Add((await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, name: $"cleanup-{i}", incremental: i == 0)))).Id);
        Assert.Equal(3, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.watermark_files WHERE name = 'cleanup-0'"));
        var missing = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(Path.Combine(data.Path, "missing"), name: "cleanup-failed")))).Id;
        var paused = await db.StoreAsync(Specs.Files(data.Path, name: "cleanup-paused"));
        await db.Catalog.PauseAsync(paused);
        // Two completed imports and the failed one ended 40 days ago; the third completed import is recent.
        await db.ExecuteAsync($"UPDATE ingest.imports SET finished_at = now() - interval '40 days' WHERE id IN ({ids[0]}, {ids[1]}, {missing})");
        var before = await db.ScalarAsync<long>("SELECT count(*) FROM games");
        // An event of the second the outbox has yet to send (no silo runs to send it): it stays until it is.
        silo.Terminate();
        await silo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        await db.ExecuteAsync($"INSERT INTO ingest.events (import_id, kind, payload) VALUES ({ids[1]}, 'import.completed', '{{}}')");

        var dry = await CliProcess.RunAsync(db.ConnectionString, "cleanup", "--dry-run", "--json");
        var failedOnly = await CliProcess.RunAsync(db.ConnectionString, "cleanup", "--state", "failed,cancelled");
        var held = await CliProcess.RunAsync(db.ConnectionString, "cleanup", "--older-than", "30d");
        await db.ExecuteAsync($"UPDATE ingest.events SET sent_at = now() WHERE import_id = {ids[1]} AND payload IS NOT NULL");
        var rest = await CliProcess.RunAsync(db.ConnectionString, "cleanup", "--older-than", "30d");
        var unfinished = await CliProcess.RunAsync(db.ConnectionString, "cleanup", "--state", "paused");

        Assert.True(dry.ExitCode == 0, dry.ToString());
        var report = JsonDocument.Parse(dry.Stdout).RootElement;
        Assert.Equal([ids[0], missing], report.GetProperty("imports").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([ids[1]], report.GetProperty("keptUnsent").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(3, report.GetProperty("units").GetInt64());
        Assert.True(failedOnly.ExitCode == 0, failedOnly.ToString());
        Assert.Contains($"removed 1 imports ({missing})", failedOnly.Stdout);
        Assert.True(held.ExitCode == 0, held.ToString());
        Assert.Contains($"removed 1 imports ({ids[0]}): 3 units", held.Stdout);
        Assert.Contains($"kept 1 imports ({ids[1]}) until their events are sent", held.Stdout);
        Assert.True(rest.ExitCode == 0, rest.ToString());
        Assert.Contains($"removed 1 imports ({ids[1]}): 3 units", rest.Stdout);
        Assert.Equal(ExitCodes.Usage, unfinished.ExitCode);
        Assert.Contains("paused is not a final state", unfinished.Stderr);
        Assert.Equal($"{ids[2]},{paused}", await db.ScalarAsync<string>("SELECT string_agg(id::text, ',' ORDER BY id) FROM ingest.imports"));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id IN ({ids[0]}, {ids[1]}, {missing})"));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id IN ({ids[0]}, {ids[1]}, {missing})"));
        Assert.Equal(before, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        // The watermark store of the incremental import's name survives its removal: the next import of the name skips every file.
        var state = await db.Catalog.GetWatermarksAsync("cleanup-0");
        Assert.NotNull(state);
        Assert.Equal([ids[0], ids[0], ids[0]], state.Files.Select(f => f.ImportId));
        db.StartSilo();
        var next = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, name: "cleanup-0", incremental: true)));
        Assert.Equal((ImportState.Completed, 0, 3L), (next.State, next.Units.Total, next.Files.Skipped));
    }

    [Fact]
    public async Task A_silo_with_a_retention_removes_imports_that_ended_longer_ago_when_it_starts()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 3);
        await using var db = await TestDatabase.CreateAsync();
        var first = db.StartSilo();
        await first.StartedAsync();
        var old = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, name: "old")))).Id;
        var recent = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, name: "recent")))).Id;
        await db.ExecuteAsync($"UPDATE ingest.imports SET finished_at = now() - interval '8 days' WHERE id = {old}");

        var second = db.StartSilo(env: new Dictionary<string, string> { ["INGEST_RETENTION_DAYS"] = "7" });

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.imports WHERE id = {old}") == 0,
            TimeSpan.FromSeconds(60), () => $"the old import removed; silo output:\n{second.Output}");
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.imports WHERE id = {recent}"));
        await Poll.UntilAsync(() => Task.FromResult(second.Output.Contains("retention: removed 1 imports")), TimeSpan.FromSeconds(10), () => second.Output);
        Assert.Equal(6, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }
}
