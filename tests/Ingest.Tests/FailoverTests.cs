using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>Real node processes killed with SIGKILL or stopped with SIGTERM in the middle of an import.</summary>
public class FailoverTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Nodes_killed_at_random_moments_lose_no_row_and_load_none_twice(bool keyed)
    {
        const int files = 40, perFile = 100, kills = 3;
        using var data = new TempFolder().WithPages(files, perFile);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 1);
        for (var i = 0; i < 3; i++) db.StartNode();
        var id = await db.SubmitAsync(Specs.Files(data.Path, keyed: keyed, parallelism: 4));
        var random = new Random(keyed ? 1 : 2);

        for (var k = 0; k < kills; k++)
        {
            // Wait for a live node with units in flight on their first attempt (killing the same unit on
            // every attempt would make it a poison unit), let a random moment pass, then kill that node.
            var holder = await Poll.UntilAsync(() => db.ScalarAsync<int>("""
                SELECT coalesce(min(pid), 0) FROM (
                  SELECT n.pid FROM ingest.units u JOIN ingest.nodes n ON n.id = u.node_id
                  WHERE u.state = 'running' AND n.stopped_at IS NULL GROUP BY n.pid HAVING max(u.attempts) = 1) h
                """), pid => db.Nodes.Any(n => n.Pid == pid && !n.HasExited), TimeSpan.FromSeconds(30), "a unit in flight");
            await Task.Delay(random.Next(0, 900));
            var victim = db.Nodes.Single(n => n.Pid == holder);
            var heldSql = $"""
                SELECT coalesce(string_agg(u.unit_no || ':' || u.lease_token, ','), '') FROM ingest.units u JOIN ingest.nodes n ON n.id = u.node_id
                WHERE u.state = 'running' AND n.pid = {holder}
                """;
            victim.Kill();
            var held = await db.ScalarAsync<string>(heldSql);
            output.WriteLine($"kill {k}: node pid {holder} held units {held}");

            // Its units are claimed again (or finished by others) within 10 s, with no manual step.
            if (held.Length > 0)
            {
                var fence = string.Join(" OR ", held.Split(',').Select(h => h.Split(':')).Select(h => $"(unit_no = {h[0]} AND lease_token = {h[1]} AND state = 'running')"));
                await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND ({fence})") == 0,
                    TimeSpan.FromSeconds(10), $"units {held} of the killed node to be taken over");
            }
            db.StartNode();
        }

        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(files, files, 0, 0, 0, 0), status.Units);
        Assert.Equal(new RowCounts(files * perFile, files * perFile, 0, 0, 0), status.Rows);
        Assert.Equal(files * perFile, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(files * perFile, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND attempts > 1") >= 1,
            "no unit was interrupted: the test did not exercise failover");
    }

    [Fact]
    public async Task A_node_stopped_with_SIGTERM_releases_its_units_at_once()
    {
        using var data = new TempFolder().WithPages(files: 4, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 8);
        // A long lease: a takeover within a few seconds can then only come from the hand-back.
        var longLease = new Dictionary<string, string> { ["INGEST_LEASE_SECONDS"] = "15" };
        var first = db.StartNode(env: longLease);
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 2));
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND state = 'running'") == 2,
            TimeSpan.FromSeconds(30), "two units in flight on the first node");
        var second = db.StartNode(env: longLease);
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.nodes WHERE pid = {second.Pid}") == 1,
            TimeSpan.FromSeconds(30), "the second node to register");

        first.Terminate();
        var stoppedAt = DateTime.UtcNow;

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"""
            SELECT count(*) FROM ingest.units u JOIN ingest.nodes n ON n.id = u.node_id
            WHERE u.import_id = {id} AND u.state = 'running' AND n.pid = {second.Pid}
            """) == 2, TimeSpan.FromSeconds(7), "the second node to hold both units");
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT max(attempts) FROM ingest.units WHERE import_id = {id}"));
        output.WriteLine($"taken over {(DateTime.UtcNow - stoppedAt).TotalMilliseconds:F0} ms after SIGTERM");

        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(40, status.Rows.Inserted);
    }

    [Fact]
    public async Task A_frozen_node_whose_lease_was_taken_over_cannot_commit_when_it_wakes()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 25);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 4);
        var frozen = db.StartNode(slots: 1);
        // Plain insert: a second commit of the same unit would show as duplicate rows.
        var id = await db.SubmitAsync(Specs.Files(data.Path, keyed: false, parallelism: 1));
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"""
            SELECT count(*) FROM ingest.units u JOIN ingest.nodes n ON n.id = u.node_id
            WHERE u.import_id = {id} AND u.unit_no = 0 AND u.state = 'running' AND n.pid = {frozen.Pid}
            """) == 1, TimeSpan.FromSeconds(30), "unit 0 in flight on the first node");

        await frozen.FreezeAsync();
        var other = db.StartNode();
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"""
            SELECT count(*) FROM ingest.units u JOIN ingest.nodes n ON n.id = u.node_id
            WHERE u.import_id = {id} AND u.unit_no = 0 AND n.pid = {other.Pid}
            """) == 1, TimeSpan.FromSeconds(15), "the other node to take unit 0 over");
        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id);
        frozen.Thaw();
        await Poll.UntilAsync(() => Task.FromResult(frozen.Output.Contains("unit 1/0 end")), TimeSpan.FromSeconds(30), "the thawed node to end its stale unit");

        Assert.Equal(ImportState.Completed, status.State);
        output.WriteLine(frozen.Output);
        // Abandoned when its heartbeat finds the lease gone, or fenced off at completion: either way it says so.
        Assert.Contains("lease lost", frozen.Output);
        Assert.DoesNotContain("unit 1/0 end: done", frozen.Output);
        Assert.Equal(50, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(50, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        Assert.Equal(new RowCounts(50, 50, 0, 0, 0), (await db.StatusAsync(id)).Rows);
    }

    [Fact]
    public async Task A_unit_that_kills_its_node_every_time_ends_failed_after_its_attempts()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id = 15 THEN PERFORM pg_sleep(3600); END IF;", forEachRow: true);
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 3, attempts: 2));

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            // One slot: when the poison unit runs, it is the only unit this node can lose.
            var node = db.StartNode(slots: 1);
            await Poll.UntilAsync(async () => await db.ScalarAsync<long>(
                    $"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND unit_no = 1 AND state = 'running' AND attempts = {attempt}") == 1,
                TimeSpan.FromSeconds(30), $"attempt {attempt} of the poison unit");
            node.Kill();
        }
        db.StartNode();

        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        Assert.Equal(new UnitCounts(3, 2, 1, 0, 0, 0), status.Units);
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal(2, failed.Attempts);
        Assert.Contains("attempt", failed.Error);
        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }

    [Fact]
    public async Task Nodes_started_together_on_an_empty_database_migrate_it_once()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        for (var i = 0; i < 4; i++) db.StartNode();

        await Poll.UntilAsync(async () => await db.ScalarAsync<bool>("SELECT to_regclass('ingest.nodes') IS NOT NULL")
                && await db.ScalarAsync<long>("SELECT count(*) FROM ingest.nodes") == 4,
            TimeSpan.FromSeconds(60), "four nodes to register");

        // Each script applied once (a second run of one would have failed on its CREATE).
        var scripts = Directory.GetFiles(Path.Combine(RepoPaths.Root, "sql"), "*.sql").Length;
        Assert.Equal(scripts, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.schema_migrations"));
        Assert.All(db.Nodes, n => Assert.False(n.HasExited, n.Output));
        Assert.All(db.Nodes, n => Assert.DoesNotContain("fail", n.Output, StringComparison.OrdinalIgnoreCase));
    }
}
