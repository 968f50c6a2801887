using System.Text.Json;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Ingest.Catalog;

namespace Ingest.Tests;

/// <summary>The console client's contract: exit codes, JSON shapes, stdout kept parseable.</summary>
public class CliTests
{
    private static JsonElement Parse(CliResult result)
    {
        try { return JsonDocument.Parse(result.Stdout).RootElement; }
        catch (JsonException e) { throw new Xunit.Sdk.XunitException($"stdout is not one JSON value ({e.Message}):\n{result}"); }
    }

    private static void AssertStatusShape(JsonElement status)
    {
        foreach (var field in new[] { "id", "name", "state", "units", "rows", "startedAt", "finishedAt" })
            Assert.True(status.TryGetProperty(field, out _), $"status has no '{field}': {status}");
        foreach (var field in new[] { "total", "done", "failed", "running", "pending" })
            Assert.Equal(JsonValueKind.Number, status.GetProperty("units").GetProperty(field).ValueKind);
        foreach (var field in new[] { "read", "inserted", "updated", "unchanged", "rejected" })
            Assert.Equal(JsonValueKind.Number, status.GetProperty("rows").GetProperty(field).ValueKind);
    }

    [Fact]
    public async Task An_invalid_spec_exits_64_naming_every_problem_and_stores_nothing()
    {
        using var data = new TempFolder();
        var spec = data.Write("bad.json", """
            { "name": "bad", "source": { "kind": "ftp" },
              "target": { "table": "bad table", "columns": { "id": { "path": "id", "type": "uuid128" } } } }
            """);
        await using var db = await TestDatabase.CreateAsync(migrate: false);

        var result = await CliProcess.RunAsync(db.ConnectionString, "submit", spec);

        Assert.Equal(64, result.ExitCode);
        Assert.Contains("ftp", result.Stderr);
        Assert.Contains("bad table", result.Stderr);
        Assert.Contains("uuid128", result.Stderr);
        Assert.Equal("", result.Stdout);
        Assert.False(await db.ScalarAsync<bool>("SELECT to_regclass('ingest.imports') IS NOT NULL"));
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("submit")]
    [InlineData("status", "not-a-number")]
    public async Task Usage_errors_exit_64(params string[] args)
    {
        var result = await CliProcess.RunAsync("Host=127.0.0.1", args);

        Assert.Equal(64, result.ExitCode);
        Assert.NotEqual("", result.Stderr.Trim());
    }

    [Fact]
    public async Task Without_INGEST_DB_the_client_says_what_to_set()
    {
        var result = await CliProcess.RunAsync(null, "list");

        Assert.Equal(64, result.ExitCode);
        Assert.Contains("INGEST_DB", result.Stderr);
    }

    // What a user must never see: a stack frame, or an exception's type name.
    private static void AssertNoStackTrace(CliResult result)
    {
        foreach (var output in new[] { result.Stdout, result.Stderr })
        {
            Assert.False(output.Contains("   at ", StringComparison.Ordinal), $"a stack trace:\n{result}");
            Assert.False(output.Contains("Exception", StringComparison.Ordinal), $"an exception's name:\n{result}");
        }
    }

    [Theory]
    [InlineData(0, "list")]
    [InlineData(0, "list", "--json")]
    [InlineData(0, "status")]
    [InlineData(0, "status", "--json")]
    [InlineData(66, "status", "1")]
    [InlineData(66, "status", "1", "--json")]
    [InlineData(0, "nodes")]
    [InlineData(0, "nodes", "--json")]
    [InlineData(66, "cancel", "1")]
    [InlineData(66, "pause", "1")]
    [InlineData(66, "resume", "1")]
    public async Task On_a_database_no_silo_has_prepared_each_command_answers_as_for_an_empty_catalog_and_creates_nothing(int exitCode, params string[] args)
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);

        var result = await CliProcess.RunAsync(db.ConnectionString, args);

        Assert.True(result.ExitCode == exitCode, result.ToString());
        AssertNoStackTrace(result);
        if (exitCode == 66) Assert.Contains("no import with id 1", result.Stderr);
        else Assert.Equal("", result.Stderr);
        if (args.Contains("--json") && exitCode == 0)
            Assert.Equal(args[0] == "status" ? """{"liveSilos":[],"importsByState":{}}""" : "[]", Parse(result).ToString());
        if (args is ["status"]) Assert.Contains("0 live silos", result.Stdout);
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = 'ingest'"));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname LIKE 'orleans%'"));
    }

    [Theory]
    [InlineData("list")]
    [InlineData("list", "--json")]
    [InlineData("status")]
    [InlineData("status", "--json")]
    [InlineData("status", "1")]
    [InlineData("nodes")]
    [InlineData("cancel", "1")]
    [InlineData("pause", "1")]
    [InlineData("resume", "1")]
    public async Task An_unreachable_database_exits_69_with_one_line_naming_it(params string[] args)
    {
        var result = await CliProcess.RunAsync($"Host=127.0.0.1;Port={ExternalCommand.FreePort()};Timeout=3", args);

        Assert.True(result.ExitCode == 69, result.ToString());
        AssertNoStackTrace(result);
        Assert.Equal("", result.Stdout);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("cannot reach the database", line);
        Assert.Contains("127.0.0.1", line);
    }

    [Fact]
    public async Task A_database_that_refuses_the_session_exits_69_and_a_malformed_INGEST_DB_exits_64()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        var missing = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { Database = "no_such_database" }.ConnectionString;

        var refused = await CliProcess.RunAsync(missing, "list");
        var malformed = await CliProcess.RunAsync("Hots=127.0.0.1", "list");

        Assert.True(refused.ExitCode == 69, refused.ToString());
        AssertNoStackTrace(refused);
        Assert.Contains("no_such_database", refused.Stderr);
        Assert.True(malformed.ExitCode == 64, malformed.ToString());
        AssertNoStackTrace(malformed);
        Assert.Contains("INGEST_DB", malformed.Stderr);
    }

    [Fact]
    public async Task An_unexpected_error_exits_70_with_its_cause_on_one_line_and_the_details_only_with_verbose()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        // A catalog that is not ours: the query finds the table but not its columns.
        await db.ExecuteAsync("CREATE SCHEMA ingest; CREATE TABLE ingest.imports (id bigint)");

        var plain = await CliProcess.RunAsync(db.ConnectionString, "list");
        var verbose = await CliProcess.RunAsync(db.ConnectionString, "list", "--verbose");

        Assert.True(plain.ExitCode == 70, plain.ToString());
        Assert.False(plain.Stderr.Contains("   at ", StringComparison.Ordinal), plain.ToString());
        var line = Assert.Single(plain.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("42703", line);
        Assert.Contains("--verbose", line);
        Assert.Equal(70, verbose.ExitCode);
        Assert.Contains("PostgresException", verbose.Stderr);
        Assert.Contains("   at ", verbose.Stderr);
    }

    [Fact]
    public async Task Submit_wait_json_prints_the_final_status_and_the_other_commands_report_it()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 20);
        var spec = data.Write("games.spec.json", Specs.Files(data.Path, pattern: "page-*.json", name: "cli-games"));
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        var node = db.StartSilo();
        await node.StartedAsync();

        var submitted = await CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--wait", "--json");

        Assert.True(submitted.ExitCode == 0, submitted.ToString());
        var final = Parse(submitted);
        AssertStatusShape(final);
        Assert.Equal("completed", final.GetProperty("state").GetString());
        Assert.Equal("cli-games", final.GetProperty("name").GetString());
        Assert.Equal(3, final.GetProperty("units").GetProperty("done").GetInt32());
        Assert.Equal(60, final.GetProperty("rows").GetProperty("inserted").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, final.GetProperty("finishedAt").ValueKind);
        Assert.Contains("import 1", submitted.Stderr);
        var id = final.GetProperty("id").GetInt64();

        var status = await CliProcess.RunAsync(db.ConnectionString, "status", id.ToString(), "--json");
        Assert.Equal(0, status.ExitCode);
        AssertStatusShape(Parse(status));
        Assert.Equal(final.GetProperty("rows").ToString(), Parse(status).GetProperty("rows").ToString());

        var text = await CliProcess.RunAsync(db.ConnectionString, "status", id.ToString());
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("completed", text.Stdout);
        Assert.Contains("60", text.Stdout);

        var list = Parse(await CliProcess.RunAsync(db.ConnectionString, "list", "--state", "completed", "--json"));
        Assert.Equal(id, Assert.Single(list.EnumerateArray()).GetProperty("id").GetInt64());
        Assert.Empty(Parse(await CliProcess.RunAsync(db.ConnectionString, "list", "--state", "running", "--json")).EnumerateArray());

        var nodes = Parse(await CliProcess.RunAsync(db.ConnectionString, "nodes", "--json"));
        var info = Assert.Single(nodes.EnumerateArray());
        Assert.Equal(node.Pid, info.GetProperty("pid").GetInt32());
        Assert.Equal(node.Address, info.GetProperty("address").GetString());
        Assert.Equal("active", info.GetProperty("status").GetString());
        foreach (var field in new[] { "name", "host", "startedAt", "iAmAliveAt", "unitsInFlight" })
            Assert.True(info.TryGetProperty(field, out _), $"silo has no '{field}': {info}");
        Assert.Equal(32, final.GetProperty("traceId").GetString()!.Length);

        var cluster = await CliProcess.RunAsync(db.ConnectionString, "status");
        Assert.Equal(0, cluster.ExitCode);
        Assert.Contains("1 live silo", cluster.Stdout);
        Assert.Contains("completed", cluster.Stdout);

        var missing = await CliProcess.RunAsync(db.ConnectionString, "status", "999", "--json");
        Assert.Equal(66, missing.ExitCode);
    }

    [Fact]
    public async Task Submit_wait_with_no_silo_says_so_every_30_s_and_keeps_waiting_until_one_starts_and_ends_the_import()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 5);
        var spec = data.Write("spec.json", Specs.Files(data.Path, pattern: "page-*.json"));
        await using var db = await TestDatabase.CreateAsync(migrate: false);

        var waiting = CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--wait");
        // The first notice comes 30 s after the watch starts.
        await Task.Delay(TimeSpan.FromSeconds(40));
        if (waiting.IsCompleted) Assert.Fail($"submit --wait stopped waiting:\n{await waiting}");
        await db.StartSilo().StartedAsync();
        var result = await waiting;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("completed", result.Stdout);
        AssertNoStackTrace(result);
        Assert.Contains("no silo is running in cluster 'ingest': import 1 is stored", result.Stderr);
        Assert.Contains("no silo is running in cluster 'ingest': import 1 is pending", result.Stderr);
    }

    [Fact]
    public async Task A_submit_while_an_import_of_the_same_name_has_not_ended_exits_64_naming_it_and_concurrent_allows_it()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 5);
        var spec = data.Write("spec.json", Specs.Files(data.Path, pattern: "page-*.json", name: "nightly"));
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        // No silo runs: the import stays pending.
        Assert.Equal("1", (await CliProcess.RunAsync(db.ConnectionString, "submit", spec)).Stdout.Trim());

        foreach (var state in new[] { ImportState.Pending, ImportState.Paused, ImportState.Running })
        {
            if (state == ImportState.Paused) Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "pause", "1")).ExitCode);
            // The check reads the state a silo running the import writes.
            if (state == ImportState.Running) await db.ExecuteAsync($"UPDATE ingest.imports SET state = {StateSql.Import.Running}, started_at = now() WHERE id = 1");

            var refused = await CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--json");

            Assert.True(refused.ExitCode == 64, refused.ToString());
            Assert.Equal("", refused.Stdout);
            Assert.Contains($"import 1 named 'nightly' is {state.Name()}", refused.Stderr);
            Assert.Contains("--concurrent", refused.Stderr);
            AssertNoStackTrace(refused);
        }
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports"));
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.events WHERE kind = 'submitted'"));

        var concurrent = await CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--concurrent");
        Assert.True(concurrent.ExitCode == 0, concurrent.ToString());
        Assert.Equal("2", concurrent.Stdout.Trim());

        // Once its imports have ended, the name is free again.
        Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "cancel", "1")).ExitCode);
        Assert.Equal(64, (await CliProcess.RunAsync(db.ConnectionString, "submit", spec)).ExitCode);
        Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "cancel", "2")).ExitCode);
        var again = await CliProcess.RunAsync(db.ConnectionString, "submit", spec);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("3", again.Stdout.Trim());
    }

    [Fact]
    public async Task Submit_wait_exits_1_when_the_import_ends_with_errors_and_plain_submit_prints_the_id()
    {
        using var data = new TempFolder().WithPages(files: 2, perFile: 5);
        data.Write("page-00003.json", "{\"results\": [ oops ]}");
        var spec = data.Write("spec.json", Specs.Files(data.Path, pattern: "page-*.json"));
        await using var db = await TestDatabase.CreateAsync(migrate: false);

        // No silo is running: the import is stored as pending, and the first silo to start takes it.
        var plain = await CliProcess.RunAsync(db.ConnectionString, "submit", spec);
        Assert.Equal(0, plain.ExitCode);
        Assert.Equal("1", plain.Stdout.Trim());
        Assert.Contains("no silo is running in cluster 'ingest': import 1 is stored", plain.Stderr);
        AssertNoStackTrace(plain);
        Assert.DoesNotContain("Orleans", plain.Stderr);
        var pending = Parse(await CliProcess.RunAsync(db.ConnectionString, "status", "1", "--json"));
        Assert.Equal("pending", pending.GetProperty("state").GetString());

        Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "pause", "1")).ExitCode);
        Assert.Equal(0, (await CliProcess.RunAsync(db.ConnectionString, "cancel", "1")).ExitCode);
        Assert.Equal(64, (await CliProcess.RunAsync(db.ConnectionString, "resume", "1")).ExitCode);
        Assert.Equal(66, (await CliProcess.RunAsync(db.ConnectionString, "pause", "42")).ExitCode);

        await db.StartSilo().StartedAsync();
        var waited = await CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--wait");

        Assert.Equal(1, waited.ExitCode);
        Assert.Contains("completed_with_errors", waited.Stdout);
        Assert.Contains("page-00003.json", waited.Stdout);
    }
}
