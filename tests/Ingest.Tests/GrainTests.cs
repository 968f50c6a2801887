using System.Diagnostics.Metrics;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Xunit;
using Ingest.Catalog;

namespace Ingest.Tests;

/// <summary>
/// The grains' logic in an in-process cluster (Orleans TestingHost) on a real PostgreSQL: fan-out,
/// the parallelism cap, each silo's slots, retries, pause/resume/cancel, and an import grain
/// brought back on the surviving silo after its silo is killed, with nobody calling it.
/// </summary>
public class GrainTests
{
    [Fact]
    public async Task An_import_fans_its_units_out_over_both_silos_and_loads_every_row_once()
    {
        using var data = new TempFolder().WithPages(files: 16, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await using var cluster = await InProcessCluster.StartAsync(db);

        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 4)));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(16, 16, 0, 0, 0, 0), status.Units);
        Assert.Equal("160,160", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        var silos = cluster.Cluster.Silos.Select(InProcessCluster.NameOf).ToHashSet();
        var used = await db.ScalarAsync<string>($"SELECT string_agg(DISTINCT silo, ' ') FROM ingest.units WHERE import_id = {id}");
        Assert.True(silos.SetEquals(used.Split(' ')), $"units ran on {used}; silos are {string.Join(' ', silos)}");
    }

    [Theory]
    [InlineData(3, 4, 3)] // the import's parallelism is the cap
    [InlineData(8, 1, 2)] // each silo's one slot is the cap
    public async Task Attempts_in_flight_never_exceed_the_parallelism_nor_any_silos_slots(int parallelism, int slots, int expectedMost)
    {
        using var data = new TempFolder().WithPages(files: 12, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        // 0.3 s per unit of 5 rows, batched or not (a batch shares one COPY): attempts overlap long enough to be seen.
        await SlowTarget.CreateAsync(db, seconds: 0.3 / 5, perRow: true);
        await using var cluster = await InProcessCluster.StartAsync(db, slots: slots);
        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, parallelism: parallelism)));

        int most = 0, mostOnOneSilo = 0;
        ImportStatus status;
        while (!(status = await db.StatusAsync(id)).State.IsFinal())
        {
            // Small units go out in batches: an attempt is one unit or one batch.
            most = Math.Max(most, (int)await db.AttemptsAsync(id));
            mostOnOneSilo = Math.Max(mostOnOneSilo, (int)await db.ScalarAsync<long>(
                $"SELECT coalesce(max(n), 0) FROM (SELECT count(DISTINCT dispatch) AS n FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running} GROUP BY silo) s"));
        }

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(expectedMost, most);
        Assert.True(mostOnOneSilo <= slots, $"one silo ran {mostOnOneSilo} attempts at once with {slots} slots");
    }

    [Fact]
    public async Task An_attempt_goes_to_the_silo_running_the_fewest_of_the_imports_attempts()
    {
        using var data = new TempFolder().WithPages(files: 4, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 60);
        // One slot per silo: two attempts placed on one silo would run one after the other (placed at
        // random, three attempts land on three silos 2 times in 9).
        await using var cluster = await InProcessCluster.StartAsync(db, silos: 3, slots: 1, batches: false);
        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, parallelism: 3)));

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                $"SELECT count(DISTINCT silo) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running}") == 3,
            TimeSpan.FromSeconds(20), "three attempts running at once, one on each silo");

        Assert.True((await cluster.Control.CancelAsync(id)).Applied);
        Assert.Equal(ImportState.Cancelled, (await db.WaitForAsync(id)).State);
    }

    [Fact]
    public async Task Reports_of_units_a_reconciliation_already_saw_end_do_not_make_the_import_reload_its_units()
    {
        // A reconciliation every 20 ms keeps finding units that committed while their reports were
        // on the way. Those reports then come from attempts the grain no longer tracks: they must
        // not each reload the import's open units (every reload finds more such units: a storm).
        using var data = new TempFolder().WithPages(files: 300, perFile: 1);
        await using var db = await TestDatabase.CreateAsync();
        var importId = Random.Shared.NextInt64(1_000_000, 1_000_000_000); // metrics are per process; other tests' imports have small ids
        await db.ExecuteAsync($"ALTER TABLE ingest.imports ALTER COLUMN id RESTART WITH {importId}");
        long reloads = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == IngestMetrics.MeterName && instrument.Name == "ingest.import.reloads") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "import_id" && Equals(tag.Value, importId)) Interlocked.Add(ref reloads, value);
        });
        listener.Start();
        // One unit per attempt, one report per unit: the most stray reports.
        await using var cluster = await InProcessCluster.StartAsync(db, reconcileInterval: TimeSpan.FromMilliseconds(20), batches: false);

        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 8)));
        var status = await db.WaitForAsync(id);

        Assert.Equal(importId, id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(300, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        // Activation, the end of planning, and perhaps a wake-up: a handful, not one per unit.
        Assert.InRange(Interlocked.Read(ref reloads), 1, 10);
    }

    [Fact]
    public async Task Small_units_load_in_batches_every_row_once_and_a_cancel_rolls_back_the_batches_in_flight()
    {
        using var data = new TempFolder().WithPages(files: 40, perFile: 1);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0);
        await using var cluster = await InProcessCluster.StartAsync(db);
        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(40, 40, 0, 0, 0, 0), status.Units);
        Assert.Equal("40,40", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        // The first unit alone, then a parallelism's share of the queue (guided: the batches shrink
        // with the queue), down to single units again at the end: 1, 20, 10, 5, 2, 1, 1.
        Assert.Equal("20,10,5,2", await db.ScalarAsync<string>(
            $"SELECT string_agg(n::text, ',' ORDER BY n DESC) FROM (SELECT count(*) AS n FROM ingest.units WHERE import_id = {id} AND batch IS NOT NULL GROUP BY batch) b"));
        Assert.Equal(3, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND batch IS NULL"));
        // Each unit's one attempt counted when its batch committed.
        Assert.Equal("1,1", await db.ScalarAsync<string>($"SELECT min(attempts) || ',' || max(attempts) FROM ingest.units WHERE import_id = {id}"));

        await db.ExecuteAsync("TRUNCATE games");
        await SlowTarget.SetDelayAsync(db, 30);
        var (cancelled, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));
        await Poll.UntilAsync(async () => await db.AttemptsAsync(cancelled) == 2, TimeSpan.FromSeconds(30), "a unit and a batch in flight");
        Assert.Equal(21, await db.UnitsAsync(cancelled, UnitState.Running));

        await CancelAndAssertRolledBackAsync(cluster, db, cancelled, units: 40);
    }

    [Fact]
    public async Task A_batch_holds_at_most_its_byte_budget_of_units()
    {
        using var data = new TempFolder().WithPages(files: 40, perFile: 1);
        var largest = Directory.GetFiles(data.Path).Max(f => new FileInfo(f).Length);
        await using var db = await TestDatabase.CreateAsync();
        await using var cluster = await InProcessCluster.StartAsync(db, batchBytes: 3 * largest);
        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));

        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id)).State);
        Assert.Equal("40,40", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        // A parallelism's share of the queue would be batches of 20: the budget cuts them to three units.
        Assert.Equal(3, await db.ScalarAsync<long>($"SELECT max(n) FROM (SELECT count(*) AS n FROM ingest.units WHERE import_id = {id} AND batch IS NOT NULL GROUP BY batch) b"));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM (SELECT batch FROM ingest.units WHERE import_id = {id} GROUP BY batch HAVING sum(size_bytes) > {3 * largest}) b"));
    }

    [Fact]
    public async Task A_reload_in_batches_merges_and_counts_each_units_rows_exactly()
    {
        using var data = new TempFolder().WithPages(files: 60, perFile: 1);
        await using var db = await TestDatabase.CreateAsync();
        await using var cluster = await InProcessCluster.StartAsync(db);
        var spec = Specs.Files(data.Path, parallelism: 2);
        var (first, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(spec));
        Assert.Equal(new RowCounts(60, 60, 0, 0, 0), (await db.WaitForAsync(first)).Rows);
        var renamed = Directory.GetFiles(data.Path).Order().Where((_, i) => i % 3 == 0).ToList();
        foreach (var file in renamed) File.WriteAllText(file, File.ReadAllText(file).Replace("\"name\":\"Game ", "\"name\":\"Renamed "));

        // The batches meet existing keys, roll back, and load again staged: their units one after
        // another in one transaction, each merged and counted on its own.
        var (second, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(spec));
        var status = await db.WaitForAsync(second);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(60, 0, 20, 40, 0), status.Rows);
        Assert.Equal("60,20", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(*) FILTER (WHERE name LIKE 'Renamed %') FROM games"));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {second} AND rows_updated + rows_unchanged <> 1"));
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {second} AND dispatch = batch") >= 2, "no batch was merged");
    }

    [Fact]
    public async Task A_failing_unit_is_retried_and_its_attempts_are_counted()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("CREATE SEQUENCE test_failures");
        await SlowTarget.CreateWithTriggerAsync(db,
            "IF nextval('test_failures') <= 2 THEN RAISE EXCEPTION 'flaky target, call %', currval('test_failures'); END IF;", forEachRow: false);
        await using var cluster = await InProcessCluster.StartAsync(db);

        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, attempts: 3, backoff: 0.1)));
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(10, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(3, await db.ScalarAsync<long>($"SELECT attempts FROM ingest.units WHERE import_id = {id}"));
        Assert.Equal(2, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND kind = 'unit_retry'"));
    }

    [Fact]
    public async Task Pause_stops_new_units_resume_finishes_the_import_and_cancel_rolls_back_the_units_in_flight()
    {
        using var data = new TempFolder().WithPages(files: 10, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.3);
        await using var cluster = await InProcessCluster.StartAsync(db, batches: false);
        var (paused, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));
        await Poll.UntilAsync(async () => await db.UnitsAsync(paused, UnitState.Done) >= 1, TimeSpan.FromSeconds(30), "a first unit done");

        Assert.True((await cluster.Control.PauseAsync(paused)).Applied);
        await Poll.UntilAsync(async () => await db.UnitsAsync(paused, UnitState.Running) == 0, TimeSpan.FromSeconds(10), "the units in flight to finish");
        var done = await db.UnitsAsync(paused, UnitState.Done);
        // That nothing starts while paused can only be observed over time.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(done, await db.UnitsAsync(paused, UnitState.Done));
        Assert.Equal(ImportState.Paused, (await db.StatusAsync(paused)).State);

        Assert.True((await cluster.Control.ResumeAsync(paused)).Applied);
        var resumed = await db.WaitForAsync(paused);
        Assert.Equal(ImportState.Completed, resumed.State);
        Assert.Equal(100, await db.ScalarAsync<long>("SELECT count(*) FROM games"));

        await db.ExecuteAsync("TRUNCATE games");
        await SlowTarget.SetDelayAsync(db, 30);
        var (cancelled, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));
        await Poll.UntilAsync(async () => await db.UnitsAsync(cancelled, UnitState.Running) == 2, TimeSpan.FromSeconds(30), "two units in flight");

        await CancelAndAssertRolledBackAsync(cluster, db, cancelled, units: 10);
    }

    // Cancels a running import whose attempts in flight sleep in the target's trigger: they are told
    // to roll back, so their statements end now, not when the sleep does; nothing stays loaded.
    private static async Task CancelAndAssertRolledBackAsync(InProcessCluster cluster, TestDatabase db, long id, int units)
    {
        Assert.True((await cluster.Control.CancelAsync(id)).Applied);
        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(10), ImportState.Cancelled);
        Assert.Equal(units, status.Units.Cancelled);
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep%' AND state = 'active'") == 0,
            TimeSpan.FromSeconds(10), "the abandoned attempts to roll back");
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task An_import_grain_whose_silo_is_killed_comes_back_on_the_survivor_and_completes_with_every_row_once()
    {
        using var data = new TempFolder().WithPages(files: 16, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.2);
        // One unit per attempt, each 0.2 s: in batches the import could end before the kill.
        await using var cluster = await InProcessCluster.StartAsync(db, batches: false);
        var (id, _) = await cluster.Control.SubmitAsync(ImportSpecParser.ParseJson(Specs.Files(data.Path, keyed: false, parallelism: 2)));
        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Done) >= 2, TimeSpan.FromSeconds(30), "two units done");
        var host = cluster.HostOfImport(id) ?? throw new InvalidOperationException("the import grain is not active");

        await cluster.Cluster.KillSiloAsync(host);

        // Nobody calls the grain: the survivor's membership watcher brings it back.
        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal("160,160", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        Assert.Equal(160, status.Rows.Inserted);
        var survivor = Assert.Single(cluster.Cluster.Silos);
        Assert.Equal(survivor, cluster.HostOfImport(id));
    }
}
