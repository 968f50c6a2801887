using System.Net;
using System.Text;
using System.Text.Json;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>The silo process itself, apart from what it loads: configuration, files, telemetry.</summary>
public class SiloTests
{
    [Fact]
    public async Task A_running_silo_watches_no_files()
    {
        // The host's defaults watch the working directory recursively for appsettings changes; under
        // a busy directory that costs real CPU. The silo is configured by variables only.
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo();
        await silo.StartedAsync();

        var handles = new DirectoryInfo($"/proc/{silo.Pid}/fd").GetFiles().Select(f => f.LinkTarget ?? "").ToList();

        Assert.NotEmpty(handles);
        Assert.DoesNotContain(handles, h => h.Contains("inotify", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Catalog_connections_run_without_PostgreSQL_JIT_unless_the_connection_string_sets_it()
    {
        // The planner's estimates on a catalog of many units cross the JIT thresholds: compiling then
        // costs each short catalog statement far more than running it.
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        async Task<string> JitAsync(Npgsql.NpgsqlDataSource source)
        {
            await using (source) return (string)(await source.CreateCommand("SHOW jit").ExecuteScalarAsync())!;
        }

        Assert.Equal("on", await JitAsync(Npgsql.NpgsqlDataSource.Create(db.ConnectionString)));
        Assert.Equal("off", await JitAsync(Ingest.Catalog.CatalogConnections.Builder(db.ConnectionString, "ingest-silo").Build()));
        Assert.Equal("off", await JitAsync(Ingest.Catalog.CatalogConnections.Builder(db.ConnectionString + ";Options=-c work_mem=8MB", "ingest-silo").Build()));
        Assert.Equal("on", await JitAsync(Ingest.Catalog.CatalogConnections.Builder(db.ConnectionString + ";Options=-c jit=on", "ingest-silo").Build()));
    }

    [Theory]
    [InlineData("INGEST_SILO_SLOTS", "many")]
    [InlineData("INGEST_PROBE_TIMEOUT_SECONDS", "1s")]
    [InlineData("INGEST_SILO_PORT", "70000")]
    public async Task A_setting_that_does_not_parse_stops_the_silo_at_start_naming_it(string variable, string value)
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        var silo = db.StartSilo(env: new Dictionary<string, string> { [variable] = value });

        Assert.Equal(64, await silo.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"{variable}='{value}'", silo.Output);
    }

    [Fact]
    public async Task A_silo_serves_the_orleans_dashboard_when_a_port_is_set()
    {
        await using var db = await TestDatabase.CreateAsync();
        var port = ExternalCommand.FreePort();
        var silo = db.StartSilo(env: new Dictionary<string, string> { ["INGEST_DASHBOARD_PORT"] = port.ToString() });
        var address = await silo.StartedAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var page = await http.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        // The dashboard gathers the cluster's silos in the background.
        await Poll.UntilAsync(async () => JsonDocument.Parse(await http.GetStringAsync("/DashboardCounters")).RootElement
                .GetProperty("hosts").EnumerateArray().Any(h => h.GetProperty("siloAddress").GetString() == address),
            TimeSpan.FromSeconds(30), $"silo {address} in the dashboard's counters");
    }

    [Fact]
    public async Task With_the_console_on_the_dashboards_port_serves_the_dashboard_under_orleans_and_never_the_console()
    {
        await using var db = await TestDatabase.CreateAsync();
        var (dashboardPort, consolePort) = (ExternalCommand.FreePort(), ExternalCommand.FreePort());
        var silo = db.StartSilo(env: new Dictionary<string, string> { ["INGEST_DASHBOARD_PORT"] = dashboardPort.ToString(), ["INGEST_WEB_PORT"] = consolePort.ToString() });
        await silo.StartedAsync();
        using var dashboard = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{dashboardPort}") };
        using var console = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{consolePort}") };

        Assert.Equal(HttpStatusCode.OK, (await console.GetAsync("/api/imports")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await console.GetAsync("/orleans/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await dashboard.GetAsync("/orleans/")).StatusCode);
        foreach (var path in new[] { "/", "/api/imports", "/api/silos", "/imports/1" })
            Assert.Equal(HttpStatusCode.NotFound, (await dashboard.GetAsync(path)).StatusCode);
        // Not even for a request that names the console's port as its host.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/api/imports") { Headers = { Host = $"127.0.0.1:{consolePort}" } };
        Assert.Equal(HttpStatusCode.NotFound, (await dashboard.SendAsync(spoofed)).StatusCode);
    }

    [Fact]
    public async Task A_silo_exports_its_metrics_by_otlp_when_an_endpoint_is_set()
    {
        using var receiver = new OtlpReceiver();
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        });

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path)));
        Assert.Equal(ImportState.Completed, status.State);

        // Protobuf keeps strings as UTF-8: the instrument names are readable in the payload.
        static bool Has(byte[] export, string name) => Encoding.UTF8.GetString(export).Contains(name, StringComparison.Ordinal);
        // Exports are periodic and cumulative: one taken as a unit's instruments were being recorded can
        // hold some of them; a later one holds them all.
        string[] names = ["ingest.units.completed", "ingest.rows.read", "ingest.unit.duration"];
        await Poll.UntilAsync(() => Task.FromResult(receiver.MetricExports.Any(e => names.All(n => Has(e, n)))),
            TimeSpan.FromSeconds(30), () => $"an OTLP export with {string.Join(", ", names)} ({receiver.MetricExports.Count} exports so far, " +
                $"{receiver.MetricExports.Count(e => Has(e, names[0]))} with {names[0]})");
    }

    [Fact]
    public async Task One_import_is_one_trace_across_the_client_and_both_silos()
    {
        using var receiver = new OtlpReceiver();
        using var data = new TempFolder().WithPages(files: 12, perFile: 5);
        var spec = data.Write("spec.json", Specs.Files(data.Path, pattern: "page-*.json", parallelism: 4));
        await using var db = await TestDatabase.CreateAsync();
        Dictionary<string, string> Otel(string service) => new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = service,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        };
        // Units one at a time (no batches), and both silos active first: a silo that woke the import the
        // moment it was stored could otherwise hand every unit out before it saw the other join.
        foreach (var silo in new[] { db.StartSilo(env: Otel("test-silo-a"), batches: false), db.StartSilo(env: Otel("test-silo-b"), batches: false) })
            await silo.StartedAsync();
        await Poll.UntilAsync(async () => (await db.Catalog.ListSilosAsync("ingest")).Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(60), "both silos active");

        var submitted = await CliProcess.RunAsync(db.ConnectionString, Otel("test-client"), "submit", spec, "--wait", "--json");

        Assert.True(submitted.ExitCode == 0, submitted.ToString());
        var traceId = JsonDocument.Parse(submitted.Stdout).RootElement.GetProperty("traceId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        // OTLP carries the trace id as 16 raw bytes; each export comes from one process, named in its resource.
        var id = Convert.FromHexString(traceId);
        static bool Contains(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle) >= 0;
        string[] services = ["test-client", "test-silo-a", "test-silo-b"];
        await Poll.UntilAsync(() => Task.FromResult(services.All(s => receiver.TraceExports.Any(e => Contains(e, id) && Contains(e, Encoding.UTF8.GetBytes(s))))),
            TimeSpan.FromSeconds(30), () => $"spans of trace {traceId} from {string.Join(", ", services)} ({receiver.TraceExports.Count} exports so far)");
        // Npgsql's statements of the units are in it too, and the silos' own chatter is not exported.
        Assert.Contains(receiver.TraceExports, e => Contains(e, id) && Contains(e, "ingest.units"u8));
        Assert.DoesNotContain(receiver.TraceExports, e => Contains(e, "OrleansMembershipTable"u8) || Contains(e, "update_i_am_alive_time"u8));
    }

    [Fact]
    public async Task A_service_instance_id_the_user_sets_wins_and_json_logs_carry_the_import_unit_and_trace()
    {
        using var receiver = new OtlpReceiver();
        using var data = new TempFolder().WithPages(files: 2, perFile: 5);
        var spec = data.Write("spec.json", Specs.Files(data.Path, pattern: "page-*.json"));
        await using var db = await TestDatabase.CreateAsync();
        Dictionary<string, string> Otel(string instance) => new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_RESOURCE_ATTRIBUTES"] = $"deployment.environment=test, service.instance.id={instance}",
            ["INGEST_LOG_FORMAT"] = "json",
        };
        var silo = db.StartSilo(env: Otel("chosen-silo-42"));
        await silo.StartedAsync();

        var submitted = await CliProcess.RunAsync(db.ConnectionString, Otel("chosen-client-7"), "submit", spec, "--wait", "--json");

        Assert.True(submitted.ExitCode == 0, submitted.ToString());
        var traceId = JsonDocument.Parse(submitted.Stdout).RootElement.GetProperty("traceId").GetString()!;
        static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;
        await Poll.UntilAsync(() => Task.FromResult(receiver.TraceExports.Any(e => Contains(e, "chosen-silo-42")) && receiver.TraceExports.Any(e => Contains(e, "chosen-client-7"))),
            TimeSpan.FromSeconds(30), () => $"exports from both chosen instances ({receiver.TraceExports.Count} so far)");
        Assert.DoesNotContain(receiver.TraceExports, e => Contains(e, $"silo-{silo.Pid}"));
        // Every line a JSON object; a unit's lines name the import and unit as fields, and the trace in their scope.
        var lines = silo.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var unitLine = lines.First(l => l.GetProperty("State").TryGetProperty("UnitNo", out _));
        Assert.Equal(1, unitLine.GetProperty("State").GetProperty("ImportId").GetInt64());
        Assert.Contains(lines, l => l.TryGetProperty("Scopes", out var scopes) && scopes.ToString().Contains(traceId));
    }

    [Fact]
    public async Task An_s3_imports_trace_holds_the_silos_s3_requests_under_the_imports_trace_id()
    {
        using var receiver = new OtlpReceiver();
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new Amazon.S3.Model.PutBucketRequest { BucketName = "traced-dump" });
        for (var i = 1; i <= 3; i++) await s3.PutAsync(client, "traced-dump", $"rawg/page-{i}.json", $$"""{"results": [{"id": {{i}}, "name": "game {{i}}"}]}""");
        using var data = new TempFolder();
        var spec = data.Write("spec.json", Specs.S3("traced-dump", "rawg/"));
        await using var db = await TestDatabase.CreateAsync();
        var env = new Dictionary<string, string>(s3.Environment)
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "test-s3-silo",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        };
        await db.StartSilo(env: env).StartedAsync();

        var submitted = await CliProcess.RunAsync(db.ConnectionString, "submit", spec, "--wait", "--json");

        Assert.True(submitted.ExitCode == 0, submitted.ToString());
        var id = Convert.FromHexString(JsonDocument.Parse(submitted.Stdout).RootElement.GetProperty("traceId").GetString()!);
        static bool Contains(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle) >= 0;
        // The GETs of the units' objects are HTTP client spans whose url names the object.
        await Poll.UntilAsync(() => Task.FromResult(receiver.TraceExports.Any(e => Contains(e, id) && Contains(e, "traced-dump/rawg/page-2.json"u8))),
            TimeSpan.FromSeconds(30), () => $"an S3 request span in the import's trace ({receiver.TraceExports.Count} exports so far)");
    }

    [Fact]
    public async Task A_dead_silos_row_is_pruned_from_the_membership_table_once_it_expired()
    {
        await using var db = await TestDatabase.CreateAsync();
        var env = new Dictionary<string, string> { ["INGEST_DEFUNCT_SILO_SECONDS"] = "3", ["INGEST_SWEEP_SECONDS"] = "1" };
        var doomed = db.StartSilo(env: env);
        await doomed.StartedAsync();
        await db.StartSilo(env: env).StartedAsync();
        doomed.Kill();
        var rowOfDoomed = $"SELECT count(*) FROM orleansmembershiptable WHERE siloname LIKE '%-{doomed.Pid}'";
        // Its row may go within a second of its death (its last I-am-alive is already seconds old), so
        // a poll can miss the dead row: wait for it dead or gone, never for a live one.
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(rowOfDoomed + " AND status <> 6") == 0, TimeSpan.FromSeconds(30),
            () => $"the killed silo declared dead; silo output:\n{db.SiloOutput}");

        await Poll.UntilAsync(async () => await db.ScalarAsync<long>(rowOfDoomed) == 0, TimeSpan.FromSeconds(30),
            () => $"the dead silo's row pruned; silo output:\n{db.SiloOutput}");
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM orleansmembershiptable WHERE status = 3"));
    }
}
