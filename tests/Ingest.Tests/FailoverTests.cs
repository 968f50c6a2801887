using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;
using Ingest.Catalog;

namespace Ingest.Tests;

/// <summary>Real silo processes killed with SIGKILL, stopped with SIGTERM or frozen with SIGSTOP in the middle of an import.</summary>
public class FailoverTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)] // small units in batches: a batch commits all its units or none
    public async Task Silos_killed_at_random_moments_lose_no_row_and_load_none_twice(bool keyed, bool batches)
    {
        const int files = 60, perFile = 100, kills = 3;
        using var data = new TempFolder().WithPages(files, perFile);
        await using var db = await TestDatabase.CreateAsync();
        // Slow enough that the import outlasts three kills, each followed by a replacement silo joining,
        // on a slow machine too (3 s per unit of 100 rows, batched or not: a batch shares one COPY); fast after them.
        await SlowTarget.CreateAsync(db, seconds: 3.0 / perFile, perRow: true);
        var env = new Dictionary<string, string> { ["INGEST_BATCH_UNITS"] = batches ? "4" : "1" };
        // All three up before the import starts: its four attempts then spread over them, so a killed
        // silo's units find free slots on the others.
        var silos = Enumerable.Range(0, 3).Select(_ => db.StartSilo(env: env)).ToList();
        foreach (var silo in silos) await silo.StartedAsync();
        var id = await db.SubmitAsync(Specs.Files(data.Path, keyed: keyed, parallelism: 4));
        var random = new Random(keyed ? 1 : 2);

        for (var k = 0; k < kills; k++)
        {
            // Wait for a live silo with units in flight on their first attempt (killing the same unit on
            // every attempt would make it a poison unit; a batch's attempt counts when it commits), let a
            // random moment pass, then kill that silo.
            string holder;
            try
            {
                holder = await Poll.UntilAsync(() => db.ScalarAsync<string>($"""
                    SELECT coalesce(min(silo), '') FROM (
                      SELECT silo FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running} GROUP BY silo HAVING max(attempts) <= 1) h
                    """), silo => db.Silos.Any(n => n.Address == silo && !n.HasExited), TimeSpan.FromSeconds(30), "a unit in flight");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}\nimport {await db.DescribeAsync(id)}\nsilo output:\n{db.SiloOutput}", e);
            }
            await Task.Delay(random.Next(0, 900));
            var victim = db.Silos.Single(n => n.Address == holder);
            var heldSql = $"""
                SELECT coalesce(string_agg(unit_no || ':' || fence_token, ','), '') FROM ingest.units
                WHERE import_id = {id} AND state = {StateSql.Unit.Running} AND silo = '{holder}'
                """;
            victim.Kill();
            var killedAt = DateTime.UtcNow;
            var held = await db.ScalarAsync<string>(heldSql);
            output.WriteLine($"kill {k}: silo {holder} held units {held}");

            // Its units are claimed again (or finished by others) within seconds, with no manual step. A
            // killed batch's units run alone from then on, one parallelism slot at a time: the first of
            // them starts at once, the others as slots free up.
            if (held.Length > 0)
            {
                var units = held.Split(',').Select(h => h.Split(':')).ToList();
                var fence = string.Join(" OR ", units.Select(h => $"(unit_no = {h[0]} AND fence_token = {h[1]} AND state = {StateSql.Unit.Running})"));
                var stillHeld = batches ? units.Count - 1 : 0;
                await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND ({fence})") <= stillHeld,
                    TimeSpan.FromSeconds(10), () => $"units {held} of the killed silo to be taken over; silo output:\n{db.SiloOutput}");
                output.WriteLine($"  taken over {(DateTime.UtcNow - killedAt).TotalSeconds:F1} s after SIGKILL");
            }
            // The replacement joins before the next kill: a silo killed while others are still joining
            // waits for them to become active before it can be voted dead (a known, slower case).
            await db.StartSilo(env: env).StartedAsync();
        }
        await SlowTarget.SetDelayAsync(db, 0);

        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(files, files, 0, 0, 0, 0), status.Units);
        Assert.Equal(new RowCounts(files * perFile, files * perFile, 0, 0, 0), status.Rows);
        Assert.Equal(files * perFile, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(files * perFile, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        Assert.Equal("", await db.CountersMismatchAsync(id));
        // An interrupted unit took a second attempt; an interrupted batch's units each ran alone after it.
        var interrupted = batches ? "batch IS NOT NULL AND dispatch <> batch" : "attempts > 1";
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND {interrupted}") >= 1,
            "no unit was interrupted: the test did not exercise failover");
        if (batches) Assert.Equal(1, await db.ScalarAsync<int>($"SELECT max(attempts) FROM ingest.units WHERE import_id = {id} AND batch = dispatch"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_silo_stopped_with_SIGTERM_hands_its_units_back_at_once(bool batches)
    {
        using var data = new TempFolder().WithPages(files: 4, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 20);
        // Membership that takes a minute to declare a silo dead: a takeover within seconds can then only come from the hand-back.
        var slowDetection = new Dictionary<string, string> { ["INGEST_PROBE_TIMEOUT_SECONDS"] = "20", ["INGEST_MAX_PROBE_TIMEOUT_SECONDS"] = "60" };
        var first = db.StartSilo(env: slowDetection, batches: batches);
        await first.StartedAsync();
        // Four small units: two attempts of one unit each, or one batch of all four.
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: batches ? 1 : 2));
        var units = batches ? 4 : 2;
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Running, first) == units, TimeSpan.FromSeconds(30), $"{units} units in flight on the first silo");
        var second = db.StartSilo(env: slowDetection, batches: batches);
        await second.StartedAsync();

        first.Terminate();
        var stoppedAt = DateTime.UtcNow;

        // The attempts are in a 20 s sleep on the server: a hand-back that waited for it would take over 15 s
        // (and failure detection a minute); 10 s leaves room for a machine busy with other tests.
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Running, second) == units, TimeSpan.FromSeconds(10), $"the second silo to hold all {units} units");
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        // No attempt used up by the hand-back (a batch's attempt counts when it commits); batches stay batches.
        Assert.Equal(batches ? 0 : 1, await db.ScalarAsync<int>($"SELECT max(attempts) FROM ingest.units WHERE import_id = {id}"));
        if (batches) Assert.Equal(1, await db.AttemptsAsync(id, second.Address));
        output.WriteLine($"taken over {(DateTime.UtcNow - stoppedAt).TotalMilliseconds:F0} ms after SIGTERM");

        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(40, status.Rows.Inserted);
    }

    [Fact]
    public async Task A_frozen_silo_is_taken_over_and_commits_nothing_when_it_wakes()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 25);
        await using var db = await TestDatabase.CreateAsync();
        // The sleep comes after the rows: frozen in it, the silo's open transaction holds their keys,
        // which the takeover's rows need (a frozen process keeps its connections open).
        await SlowTarget.CreateAsync(db, seconds: 4, afterRows: true);
        var frozen = db.StartSilo(slots: 1, batches: false);
        await frozen.StartedAsync();
        var other = db.StartSilo(slots: 1, batches: false);
        await other.StartedAsync();
        // Plain insert: a second commit of the same unit would show as duplicate rows.
        var id = await db.SubmitAsync(Specs.Files(data.Path, keyed: false, parallelism: 1));
        var unit = await Poll.UntilAsync(() => db.ScalarAsync<string>(
                $"""
                SELECT coalesce(min(u.unit_no || '|' || u.silo), '') FROM ingest.units u JOIN pg_stat_activity a ON a.application_name = 'ingest ' || u.dispatch
                WHERE u.import_id = {id} AND u.state = {StateSql.Unit.Running} AND a.wait_event = 'PgSleep'
                """),
            u => u.Length > 0, TimeSpan.FromSeconds(30), "a unit's rows inserted, its transaction open");
        var (unitNo, holder) = (unit.Split('|')[0], unit.Split('|')[1]);
        if (holder != frozen.Address) (frozen, other) = (other, frozen);

        await frozen.FreezeAsync();
        var frozenAt = DateTime.UtcNow;
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                $"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND unit_no = {unitNo} AND silo = '{other.Address}'") == 1,
            TimeSpan.FromSeconds(20), $"the other silo to take unit {unitNo} over");
        output.WriteLine($"taken over {(DateTime.UtcNow - frozenAt).TotalSeconds:F1} s after SIGSTOP");
        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id);
        Assert.Contains($"unit {id}/{unitNo}: ended the open transaction of its lost attempt", other.Output);
        frozen.Thaw();
        // The thawed silo learns it was declared dead, stops, and a new silo rejoins in its process.
        await Poll.UntilAsync(() => Task.FromResult(frozen.Output.Contains("a new silo rejoins it") && frozen.Address != holder),
            TimeSpan.FromSeconds(60), () => $"the thawed silo to rejoin; output:\n{frozen.Output}");
        await frozen.StartedAsync();

        Assert.Equal(ImportState.Completed, status.State);
        output.WriteLine(frozen.Output);
        Assert.DoesNotContain($"unit {id}/{unitNo} end: done", frozen.Output);
        Assert.Equal(50, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(50, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        Assert.Equal(new RowCounts(50, 50, 0, 0, 0), (await db.StatusAsync(id)).Rows);
        Assert.False(frozen.HasExited);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // first in a batch with the other two, whose attempts it must not use up
    public async Task A_unit_that_kills_its_silo_every_time_ends_failed_after_its_attempts(bool batched)
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id = 15 THEN PERFORM pg_sleep(3600); END IF;", forEachRow: true);
        var id = await db.StoreAsync(Specs.Files(data.Path, parallelism: batched ? 1 : 3, attempts: 2));

        if (batched)
        {
            // The batch of all three units dies with its silo: no attempt counted, and from now on each runs alone.
            var first = db.StartSilo(slots: 1);
            await first.StartedAsync();
            await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                    $"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running} AND attempts = 0 AND batch IS NOT NULL") == 3,
                TimeSpan.FromSeconds(30), "the batch in flight");
            first.Kill();
        }
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            // One slot, one silo: when the poison unit runs, it is the only unit this silo can lose.
            var node = db.StartSilo(slots: 1, batches: batched);
            if (attempt == 1 && !batched) await node.StartedAsync();
            await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                    $"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND unit_no = 1 AND state = {StateSql.Unit.Running} AND attempts = {attempt}") == 1,
                TimeSpan.FromSeconds(30), $"attempt {attempt} of the poison unit");
            node.Kill();
        }
        db.StartSilo();

        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        Assert.Equal(new UnitCounts(3, 2, 1, 0, 0, 0), status.Units);
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal(2, failed.Attempts);
        Assert.Contains("attempt", failed.Error);
        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(1, await db.ScalarAsync<int>($"SELECT max(attempts) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Done}"));
    }

    [Fact]
    public async Task Silos_started_together_on_an_empty_database_migrate_it_once_and_form_one_cluster()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        for (var i = 0; i < 4; i++) db.StartSilo();

        foreach (var silo in db.Silos) await silo.StartedAsync();
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3") == 4,
            TimeSpan.FromSeconds(60), "four active silos");

        // Each script applied once (a second run of one would have failed on its CREATE).
        var scripts = Directory.GetFiles(Path.Combine(RepoPaths.Root, "sql"), "*.sql").Length;
        Assert.Equal(scripts, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.schema_migrations"));
        Assert.All(db.Silos, n => Assert.False(n.HasExited, n.Output));
        // None of them failed (Orleans itself may log errors while it probes silos that are still starting).
        Assert.All(db.Silos, n => Assert.DoesNotContain(" crit: ", n.Output));
        Assert.All(db.Silos, n => Assert.DoesNotContain("Ingest.", n.Output.Split('\n').Where(l => l.Contains(" fail: ")).FirstOrDefault() ?? ""));
    }
}
