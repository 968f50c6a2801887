using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Ingest.Catalog;

namespace Ingest.Tests;

/// <summary>The cluster rides out a PostgreSQL restart, and a whole-cluster restart resumes where it was.</summary>
public class RestartTests
{
    [Fact]
    public async Task An_import_in_flight_when_the_schema_is_upgraded_resumes_and_completes_exactly()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        // The catalog as the release before units had descriptors and checkpoints left it: an import
        // running, one unit claimed by a silo that is gone, the others pending, no counters.
        await SchemaMigrator.MigrateAsync(db.DataSource, throughVersion: 10);
        var spec = System.Text.Json.Nodes.JsonNode.Parse(ImportSpecJson.Serialize(ImportSpecParser.ParseJson(Specs.Files(data.Path))))!;
        foreach (var added in new[] { "format", "compression", "chunkRows" }) spec["source"]!.AsObject().Remove(added);
        spec["retry"]!.AsObject().Remove("attemptTimeoutSeconds");
        var id = await db.ScalarAsync<long>($"""
            INSERT INTO ingest.imports (name, spec, state, parallelism, max_attempts, backoff_seconds, started_at)
            VALUES ('old', '{spec.ToJsonString().Replace("'", "''")}', {StateSql.Import.Running}, 4, 3, 0.2, now()) RETURNING id
            """);
        await db.ExecuteAsync($"""
            CREATE TABLE games (id bigint PRIMARY KEY, name text, released date, rating double precision, esrb text, raw jsonb);
            INSERT INTO ingest.units (import_id, unit_no, key, size_bytes, state, attempts, lease_token, silo, dispatch)
            SELECT {id}, n, 'page-' || lpad((n + 1)::text, 5, '0') || '.json', 100, CASE WHEN n = 0 THEN {StateSql.Unit.Running} ELSE {StateSql.Unit.Pending} END,
                   CASE WHEN n = 0 THEN 1 ELSE 0 END, CASE WHEN n = 0 THEN 7 ELSE 0 END,
                   CASE WHEN n = 0 THEN '127.0.0.1:1@1' END, CASE WHEN n = 0 THEN '{id}/0/gone' END
            FROM generate_series(0, 2) n
            """);

        await db.StartSilo().StartedAsync(); // migrates the rest, and wakes every unfinished import

        var status = await db.WaitForAsync(id);
        Assert.True(status.State == ImportState.Completed, $"{status.State.Name()}: {string.Join("; ", status.FailedUnits.Select(u => u.Error))}\n{db.SiloOutput}");
        Assert.Equal(new UnitCounts(3, 3, 0, 0, 0, 0), status.Units);
        Assert.Equal(new RowCounts(30, 30, 0, 0, 0), status.Rows);
        Assert.Equal("30,30", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        Assert.Equal(2, await db.ScalarAsync<int>($"SELECT attempts FROM ingest.units WHERE import_id = {id} AND unit_no = 0"));
        Assert.Equal("", await db.CountersMismatchAsync(id));
    }

    [Fact]
    public async Task Silos_ride_out_a_postgresql_restart_and_the_import_completes_exactly()
    {
        // Its own server: a restart would cut every other test's sessions.
        await using var server = await PostgresServer.StartAsync();
        using var data = new TempFolder().WithPages(files: 16, perFile: 50);
        await using var db = await TestDatabase.CreateAsync(server);
        await SlowTarget.CreateAsync(db, seconds: 0.4);
        // One unit per attempt, each 0.4 s: in batches all of them could end together, before the restart.
        db.StartSilo(batches: false);
        db.StartSilo(batches: false);
        // Both started: this is about running silos (one still starting when the server went away
        // failed its start and exited, on a loaded machine).
        foreach (var silo in db.Silos) await silo.StartedAsync();
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 4, attempts: 5, backoff: 0.2));
        await Poll.UntilAsync(async () => (await db.StatusAsync(id)).Units is { Done: >= 2, Running: > 0 }, TimeSpan.FromSeconds(30), "units done and in flight");

        await server.RestartAsync();
        db.DataSource.Clear(); // the test's own pooled sessions were cut too

        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(800, 800, 0, 0, 0), status.Rows);
        Assert.Equal(800, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.All(db.Silos, n => Assert.False(n.HasExited, n.Output));
        // Both are still members of the cluster.
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3") >= 2,
            TimeSpan.FromSeconds(30), () => "both silos active; output:\n" + db.SiloOutput);
    }

    [Fact]
    public async Task A_silo_started_before_postgresql_says_it_waits_then_migrates_joins_and_loads()
    {
        var port = ExternalCommand.FreePort();
        await using var node = SiloProcess.Start($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=5");
        await Poll.UntilAsync(() => Task.FromResult(node.Output.Contains("cannot reach the database yet")), TimeSpan.FromSeconds(30), "the silo to say it waits");

        await using var server = await PostgresServer.StartAsync(port);
        await using var db = TestDatabase.Existing(server, "postgres");
        await node.StartedAsync();
        using var data = new TempFolder().WithPages(files: 2, perFile: 10);
        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(20, status.Rows.Inserted);
        Assert.False(node.HasExited);
    }

    [Fact]
    public async Task After_every_silo_is_killed_a_new_silo_continues_the_unfinished_import_with_no_client_action()
    {
        using var data = new TempFolder().WithPages(files: 10, perFile: 20);
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateAsync(db, seconds: 0.4);
        // One unit per attempt, each 0.4 s: in batches the import could end before the kills.
        var a = db.StartSilo(batches: false);
        var b = db.StartSilo(batches: false);
        var id = await db.SubmitAsync(Specs.Files(data.Path, parallelism: 2));
        await Poll.UntilAsync(async () => (await db.StatusAsync(id)).Units.Done >= 2, TimeSpan.FromSeconds(30), "two units done");
        a.Kill();
        b.Kill();
        var before = await db.StatusAsync(id);
        Assert.Equal(ImportState.Running, before.State);
        Assert.True(before.Units.Done < 10);

        db.StartSilo(batches: false);
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(200, 200, 0, 0, 0), status.Rows);
        Assert.Equal(200, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
    }
}
