using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Xunit;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.Bench;
using Ingest.Client;

namespace Ingest.Tests;

/// <summary>Pause, resume and cancel while silos are working, the retry policy, and one import per name at a time.</summary>
public class ControlTests
{
    [Fact]
    public async Task Submits_of_one_name_at_once_store_one_import_and_refuse_the_others_unless_concurrent()
    {
        await using var db = await TestDatabase.CreateAsync();
        var spec = ImportSpecParser.ParseJson(Specs.Files("/nonexistent", name: "race"));

        async Task<string> SubmitAsync(bool concurrent)
        {
            try
            {
                await db.Catalog.SubmitAsync(spec, IngestTracing.NewTraceParent(), new SubmitOptions(Concurrent: concurrent));
                return "stored";
            }
            catch (ImportNameInUseException e)
            {
                Assert.Equal("race", e.Name);
                Assert.Equal(ImportState.Pending, e.State);
                return "refused";
            }
        }

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => SubmitAsync(concurrent: false))));

        Assert.Equal(1, outcomes.Count(o => o == "stored"));
        Assert.Equal(7, outcomes.Count(o => o == "refused"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'race'"));

        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => SubmitAsync(concurrent: true))));

        Assert.All(together, o => Assert.Equal("stored", o));
        Assert.Equal(5, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports WHERE name = 'race'"));
    }

    [Fact]
    public async Task Pause_lets_in_flight_units_finish_and_starts_nothing_more_until_resume()
    {
        using var data = new TempFolder().WithPages(files: 8, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.5);
        db.StartSilo(batches: false);
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 1));
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Done) >= 1, TimeSpan.FromSeconds(30), "a first unit done");

        Assert.True((await db.Control.PauseAsync(id)).Applied);

        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Running) == 0, TimeSpan.FromSeconds(10), "the in-flight unit to finish");
        var done = await db.UnitsAsync(id, UnitState.Done);
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND state IN ({StateSql.Unit.Failed}, {StateSql.Unit.Cancelled})"));
        // Absence of new units can only be observed over time.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(ImportState.Paused, (await db.StatusAsync(id)).State);
        Assert.Equal(done, await db.UnitsAsync(id, UnitState.Done));
        Assert.Equal(0, await db.UnitsAsync(id, UnitState.Running));
        Assert.True(done < 8);

        Assert.True((await db.Control.ResumeAsync(id)).Applied);
        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(80, status.Rows.Inserted);
    }

    [Fact]
    public async Task An_import_paused_before_it_started_is_not_planned_until_resumed_and_then_completes()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        // Stored and paused while no silo runs.
        var id = await db.StoreAsync(Specs.Files(data.Path));
        Assert.True((await db.Catalog.PauseAsync(id)).Applied);
        // A silo that starts wakes every unfinished import (its grain registers its backstop reminder):
        // this one stays paused, and its listing waits for the resume.
        await db.StartSilo().StartedAsync();
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM orleansreminderstable WHERE remindername = 'backstop'") == 1,
            TimeSpan.FromSeconds(30), "the import's grain woken");
        Assert.Equal("paused|0", await db.ScalarAsync<string>($"SELECT state || '|' || (SELECT count(*) FROM ingest.units WHERE import_id = {id}) FROM ingest.imports WHERE id = {id}"));

        Assert.True((await db.Control.ResumeAsync(id)).Applied);
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id)).State);
        Assert.Equal(30, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task Cancel_abandons_in_flight_units_and_keeps_exactly_what_was_committed()
    {
        using var data = new TempFolder().WithPages(files: 12, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.3);
        db.StartSilo(batches: false);
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 2));
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Done) >= 2, TimeSpan.FromSeconds(30), "two units done");
        await SlowTarget.SetDelayAsync(db, 30);
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Running) == 2, TimeSpan.FromSeconds(30), "two units in flight");

        Assert.True((await db.Control.CancelAsync(id)).Applied);

        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(10), ImportState.Cancelled);
        Assert.Equal(0, status.Units.Running + status.Units.Pending);
        Assert.True(status.Units.Cancelled >= 2);
        // The abandoned units rolled back: the backends sleeping in them are gone within a few seconds.
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%ingest_stage%' AND state = 'active'") == 0,
            TimeSpan.FromSeconds(10), "the abandoned units' statements to end");
        Assert.Equal(status.Rows.Inserted, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(status.Units.Done * 10, status.Rows.Inserted);
        Assert.False((await db.Control.ResumeAsync(id)).Applied);
    }

    [Fact]
    public async Task Parallelism_caps_the_attempts_in_flight_across_the_cluster_and_slots_cap_each_silo()
    {
        // Enough units that the third attempt is seen in flight even when a loaded machine slows the polling.
        using var data = new TempFolder().WithPages(files: 36, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        // 0.3 s per unit of 5 rows, batched or not (a batch shares one COPY): attempts overlap long enough to be seen.
        await SlowTarget.CreateAsync(db, seconds: 0.3 / 5, perRow: true);
        var single = db.StartSilo(slots: 1);
        db.StartSilo(slots: 4);
        db.StartSilo(slots: 4);
        foreach (var silo in db.Silos) await silo.StartedAsync();
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 3));

        int most = 0, mostOnSingle = 0;
        ImportStatus status;
        while (!(status = await db.StatusAsync(id)).State.IsFinal())
        {
            // Small units go out in batches: an attempt is one unit or one batch.
            most = Math.Max(most, (int)await db.AttemptsAsync(id));
            mostOnSingle = Math.Max(mostOnSingle, (int)await db.AttemptsAsync(id, single.Address));
        }

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(3, most);
        Assert.True(mostOnSingle <= 1, $"the one-slot silo ran {mostOnSingle} attempts at once");
        Assert.True(await db.ScalarAsync<long>($"SELECT count(DISTINCT batch) FROM ingest.units WHERE import_id = {id}") > 0, "no batch ran");
    }

    [Fact]
    public async Task Silos_starting_together_plan_an_import_stored_while_none_ran_once()
    {
        using var data = new TempFolder().WithPages(files: 9, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(Specs.Files(data.Path));
        for (var i = 0; i < 3; i++) db.StartSilo();

        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(9, 9, 0, 0, 0, 0), status.Units);
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND kind = 'planned'"));
        Assert.Equal(90, status.Rows.Inserted);
    }

    [Fact]
    public async Task A_failing_unit_is_retried_with_backoff_and_succeeds()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE SEQUENCE test_failures");
        await SlowTarget.CreateWithTriggerAsync(db,
            "IF nextval('test_failures') <= 2 THEN RAISE EXCEPTION 'flaky target, call %', currval('test_failures'); END IF;", forEachRow: false);
        db.StartSilo();

        var id = await db.SubmitAsync(Specs.Files(data.Path, attempts: 3, backoff: 0.5));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(10, status.Rows.Inserted);
        Assert.Equal(3, await db.ScalarAsync<long>($"SELECT attempts FROM ingest.units WHERE import_id = {id}"));
        // Exponential backoff: 0.5 s before the second attempt, 1 s before the third.
        var waits = await db.ScalarAsync<string>($"""
            WITH r AS (SELECT at FROM ingest.events WHERE import_id = {id} AND kind = 'unit_retry' ORDER BY id)
            SELECT (extract(epoch FROM (SELECT max(at) FROM r) - (SELECT min(at) FROM r)) >= 0.45)::text || ','
                || (extract(epoch FROM (SELECT finished_at FROM ingest.units WHERE import_id = {id}) - (SELECT max(at) FROM r)) >= 0.95)::text
                || ',' || (SELECT count(*) FROM r)
            """);
        Assert.Equal("true,true,2", waits);
    }

    [Fact]
    public async Task A_unit_that_fails_every_attempt_ends_failed_with_its_error_and_the_others_complete()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id = 25 THEN RAISE EXCEPTION 'game 25 is cursed'; END IF;", forEachRow: true);
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, attempts: 3, backoff: 0.1)));

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal(3, failed.Attempts);
        Assert.Contains("game 25 is cursed", failed.Error);
        Assert.Contains("page-00003.json", failed.Key);
        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task Retry_runs_the_failed_units_again_once_the_fault_is_gone_and_the_import_completes_with_exact_counts()
    {
        using var data = new TempFolder().WithPages(files: 6, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE TABLE test_cursed (id bigint); INSERT INTO test_cursed VALUES (25), (47);");
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id IN (SELECT id FROM test_cursed) THEN RAISE EXCEPTION 'game % is cursed', NEW.id; END IF;", forEachRow: true);
        db.StartSilo(batches: false);
        var id = (await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, attempts: 2, backoff: 0.1)))).Id;
        Assert.Equal(ImportState.CompletedWithErrors, (await db.StatusAsync(id)).State);
        Assert.Equal(2, (await db.StatusAsync(id)).Units.Failed);
        await db.ExecuteAsync("DELETE FROM test_cursed");

        var retried = await CliProcess.RunAsync(db.ConnectionString, "retry", id.ToString());

        Assert.True(retried.ExitCode == 0, retried.ToString());
        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(6, 6, 0, 0, 0, 0), status.Units);
        Assert.Equal(new RowCounts(60, 60, 0, 0, 0), status.Rows);
        Assert.Equal(60, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("", await db.CountersMismatchAsync(id));
        Assert.Equal("completed_with_errors,retried,completed", await db.ScalarAsync<string>(
            $"SELECT string_agg(kind, ',' ORDER BY id) FROM ingest.events WHERE import_id = {id} AND kind IN ('completed', 'completed_with_errors', 'retried')"));
        // An import that ended well has nothing to retry.
        var again = await CliProcess.RunAsync(db.ConnectionString, "retry", id.ToString());
        Assert.True(again.ExitCode == ExitCodes.Usage, again.ToString());
        Assert.Contains("is completed: cannot retry it", again.Stderr);
    }

    [Fact]
    public async Task Retry_waits_for_another_import_of_the_name_to_end_and_says_which()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 2);
        await using var db = await TestDatabase.CreateAsync();
        // No silo: one import of the name failed, a newer one waits.
        var failed = await db.StoreAsync(Specs.Files(data.Path));
        await db.ExecuteAsync($"UPDATE ingest.imports SET state = 'failed', error = 'test', finished_at = now() WHERE id = {failed}");
        var newer = await db.StoreAsync(Specs.Files(data.Path));

        var refused = await CliProcess.RunAsync(db.ConnectionString, "retry", failed.ToString());
        Assert.Equal(ExitCodes.Usage, refused.ExitCode);
        Assert.Contains($"import {newer} named 'test-import' is pending, and one import per name runs at a time", refused.Stderr);
        Assert.Equal(ImportState.Failed, (await db.StatusAsync(failed)).State);

        Assert.True((await db.Catalog.CancelAsync(newer)).Applied);
        var retried = await db.Catalog.RetryAsync(failed);
        Assert.Equal((true, ImportState.Pending), (retried.Applied, retried.State));
    }

    [Fact]
    public async Task Retry_plans_again_an_import_that_failed_at_planning()
    {
        using var data = new TempFolder();
        var folder = Path.Combine(data.Path, "later");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var failed = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(folder)));
        Assert.Equal(ImportState.Failed, failed.State);
        Directory.CreateDirectory(folder);
        RawgSample.Write(folder, 3, 4);

        Assert.True((await db.Control.RetryAsync(failed.Id)).Applied);

        var status = await db.WaitForAsync(failed.Id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Null(status.Error);
        Assert.Equal(12, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("", await db.CountersMismatchAsync(failed.Id));
    }

    [Fact]
    public async Task A_higher_priority_import_submitted_later_takes_the_next_free_slots_across_the_cluster_ahead_of_a_long_one()
    {
        using var low = new TempFolder().WithPages(files: 24, perFile: 2);
        using var high = new TempFolder().WithPages(files: 4, perFile: 2);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.5);
        // Two silos of one slot each: the cluster's two slots.
        var first = db.StartSilo(slots: 1, batches: false);
        await db.StartSilo(slots: 1, batches: false).StartedAsync();
        await first.StartedAsync();
        var lowId = await db.SubmitAsync(Specs.Files(low.Path, parallelism: 12, name: "low"));
        await Poll.UntilAsync(async () => await db.UnitsAsync(lowId, UnitState.Running) >= 2, TimeSpan.FromSeconds(30), "the long import filling the slots");

        var highId = await db.SubmitAsync(Specs.Files(high.Path, table: "games_high", parallelism: 2, name: "high").Replace("\"parallelism\":", "\"priority\": 10, \"parallelism\":"));
        var status = await db.WaitForAsync(highId, TimeSpan.FromSeconds(60));

        // Its four units ran two at a time in the first slots freed, not behind the ten attempts of the long import already waiting.
        Assert.Equal(ImportState.Completed, status.State);
        var lowDone = await db.UnitsAsync(lowId, UnitState.Done);
        Assert.True(lowDone <= 6, $"{lowDone} units of the long import done before the high-priority one ended");
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(lowId, TimeSpan.FromSeconds(90))).State);
    }
}
