using System.Text.Json;
using Ingest.Catalog;
using Ingest.Client;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// Scheduled imports: registered with <c>ingest schedule add</c>, submitted by the cluster at their
/// times, a time that comes while the last run goes on skipped and recorded, a time missed while no
/// silo ran run once, pause and remove.
/// </summary>
public class ScheduleTests
{
    private static readonly Dictionary<string, string> Fast = new() { ["INGEST_SCHEDULE_SECONDS"] = "1" };

    private static string Scheduled(string folder, string name, string cron) =>
        Specs.Files(folder, name: name).Replace("\"parallelism\":", $"\"schedule\": \"{cron}\", \"timeZone\": \"Europe/Madrid\", \"parallelism\":");

    [Fact]
    public async Task A_schedule_submits_its_import_at_its_times_skips_a_time_while_a_run_goes_on_and_stops_when_paused()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 2);
        using var specs = new TempFolder();
        var spec = specs.Write("nightly.json", Scheduled(data.Path, "nightly", "*/3 * * * * *"));
        await using var db = await TestDatabase.CreateAsync();
        // Each unit takes 2 s at first: a run outlasts the next time.
        await SlowTarget.CreateAsync(db, seconds: 2);
        await db.StartSilo(env: Fast, batches: false).StartedAsync();

        var added = await CliProcess.RunAsync(db.ConnectionString, "schedule", "add", spec);

        Assert.True(added.ExitCode == 0, added.ToString());
        Assert.Contains("schedule 'nightly' registered: '*/3 * * * * *' (Europe/Madrid), next at", added.Stdout);
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT skipped FROM ingest.schedules") >= 1, TimeSpan.FromSeconds(60),
            () => $"a time skipped while the first run goes on; silo output:\n{db.SiloOutput}");
        // The first time skipped names the first run; a later one may name a later run that outlasted a time too (a slow machine).
        Assert.Contains("skipped: import 1 of this name is still running", await db.ScalarAsync<string>("SELECT last_skip FROM ingest.schedules"));
        await SlowTarget.SetDelayAsync(db, 0);
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'nightly' AND state = 'completed'") >= 2,
            TimeSpan.FromSeconds(60), () => $"a second run completed; silo output:\n{db.SiloOutput}");
        var list = JsonDocument.Parse((await CliProcess.RunAsync(db.ConnectionString, "schedule", "list", "--json")).Stdout).RootElement.EnumerateArray().Single();
        Assert.Matches(@"^run due \S+ skipped: import \d+ of this name is still (pending|running)$", list.GetProperty("lastSkip").GetString());
        Assert.True(list.GetProperty("runs").GetInt32() >= 2);

        var paused = await CliProcess.RunAsync(db.ConnectionString, "schedule", "pause", "nightly");
        Assert.True(paused.ExitCode == 0, paused.ToString());
        var runs = await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'nightly'");
        // Nothing more while paused: wait past two of its times, as the scheduler sees them.
        var until = DateTimeOffset.UtcNow.AddSeconds(7);
        await Poll.UntilAsync(() => Task.FromResult(DateTimeOffset.UtcNow > until), TimeSpan.FromSeconds(20), "two times passed");
        Assert.Equal(runs, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'nightly'"));
        Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "schedule", "remove", "nightly")).ExitCode);
        Assert.Equal(ExitCodes.NotFound, (await CliProcess.RunAsync(db.ConnectionString, "schedule", "remove", "nightly")).ExitCode);
    }

    [Fact]
    public async Task Times_missed_while_no_silo_ran_are_run_once_when_one_starts_and_a_run_that_cannot_be_submitted_is_recorded_with_its_cause()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 2);
        using var other = new TempFolder().WithPages(files: 1, perFile: 2);
        await using var db = await TestDatabase.CreateAsync();
        // 'moved' loaded the other folder incrementally; its schedule's spec reads this one: a changed spec, refused.
        var first = db.StartSilo();
        var loaded = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(other.Path, table: "moved", name: "moved", incremental: true)));
        Assert.Equal(ImportState.Completed, loaded.State);
        first.Terminate();
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var moved = ImportSpecParser.ParseJson(Scheduled(data.Path, "moved", "0 * * * *").Replace("\"table\": \"games\"", "\"table\": \"moved\"").Replace("\"kind\": \"files\",", "\"kind\": \"files\", \"incremental\": true,"));
        var spec = ImportSpecParser.ParseJson(Scheduled(data.Path, "hourly", "0 * * * *"));
        // Due hours ago: three times were missed; the refused one comes first.
        await new Schedules(db.DataSource).AddAsync(moved, DateTimeOffset.UtcNow.AddHours(-4));
        await new Schedules(db.DataSource).AddAsync(spec, DateTimeOffset.UtcNow.AddHours(-3));

        await db.StartSilo(env: Fast).StartedAsync();

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'hourly' AND state = 'completed'") == 1,
            TimeSpan.FromSeconds(60), () => $"the missed run done; silo output:\n{db.SiloOutput}");
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'hourly'"));
        Assert.True(await db.ScalarAsync<bool>("SELECT next_at > now() AND next_at <= now() + interval '1 hour' AND runs = 1 FROM ingest.schedules WHERE name = 'hourly'"));
        var list = JsonDocument.Parse((await CliProcess.RunAsync(db.ConnectionString, "schedule", "list", "--json")).Stdout).RootElement
            .EnumerateArray().Single(s => s.GetProperty("name").GetString() == "moved");
        Assert.Equal(0, list.GetProperty("runs").GetInt32());
        Assert.Contains("not submitted: the source or target of 'moved' changed since its incremental state was written: source.path:", list.GetProperty("lastSkip").GetString());
        Assert.Contains("`ingest reset moved` clears its state", list.GetProperty("lastSkip").GetString());
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'moved'"));
    }

    [Fact]
    public async Task A_one_minute_cron_submits_its_import_at_the_next_minute()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 2);
        using var specs = new TempFolder();
        var spec = specs.Write("minutely.json", Scheduled(data.Path, "minutely", "* * * * *"));
        await using var db = await TestDatabase.CreateAsync();
        await db.StartSilo(env: Fast).StartedAsync();
        // Not in a minute's last seconds: the run must not come before the test reads its time.
        await Poll.UntilAsync(() => Task.FromResult(DateTime.UtcNow.Second < 45), TimeSpan.FromSeconds(20), "a minute's first 45 seconds");

        var added = await CliProcess.RunAsync(db.ConnectionString, "schedule", "add", spec);
        Assert.True(added.ExitCode == 0, added.ToString());
        var next = await db.ScalarAsync<DateTime>("SELECT next_at FROM ingest.schedules WHERE name = 'minutely'");
        Assert.Equal(0, next.Second);
        Assert.InRange(next - DateTime.UtcNow, TimeSpan.Zero, TimeSpan.FromMinutes(1));

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'minutely' AND state = 'completed'") == 1,
            TimeSpan.FromSeconds(90), () => $"the run at {next:HH:mm:ss}; silo output:\n{db.SiloOutput}");
        Assert.True(await db.ScalarAsync<DateTime>("SELECT submitted_at FROM ingest.imports WHERE name = 'minutely'") >= next);
        Assert.Equal(next.AddMinutes(1), await db.ScalarAsync<DateTime>("SELECT next_at FROM ingest.schedules WHERE name = 'minutely'"));
    }

    [Fact]
    public void A_bad_cron_or_time_zone_is_named_in_the_spec()
    {
        var cron = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Scheduled("/d", "x", "61 * * * *")));
        var zone = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Scheduled("/d", "x", "0 2 * * *").Replace("Europe/Madrid", "Mars/Olympus")));
        Assert.Contains(cron.Problems, p => p.StartsWith("schedule: '61 * * * *' is not a cron expression"));
        Assert.Contains("timeZone: 'Mars/Olympus' is not a known time zone (an IANA name such as Europe/Madrid)", zone.Problems);
    }
}
