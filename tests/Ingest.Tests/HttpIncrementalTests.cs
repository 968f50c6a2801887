using System.Text.Json;
using Ingest.Catalog;
using Ingest.Engine;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// Incremental HTTP imports on real silos against <see cref="FakeApi"/>'s <c>/changes/items</c>,
/// which returns the records updated at or after <c>updated_since</c>: each import of a name sends
/// the greatest <c>updated_at</c> committed by the last import of the name that completed, less
/// the lag, with every request, and reads only what changed; an import that ends with errors leaves
/// the cursor; <c>--full</c> reads from the initial value.
/// </summary>
public class HttpIncrementalTests(ITestOutputHelper output)
{
    private const string Route = "changes/items";
    private static readonly DateTimeOffset T0 = new(2024, 5, 1, 0, 0, 0, TimeSpan.Zero);

    private static string Spec(FakeApi api, string paginate) => $$"""
        {
          "name": "changes",
          "source": { "kind": "http", "url": "{{api.BaseUrl}}/changes/items", "records": "results",
                      "paginate": {{paginate}}, "timeoutSeconds": 5, "retry": { "attempts": 2, "backoffSeconds": 0.1 },
                      "incremental": { "cursorPath": "updated_at", "param": "updated_since", "initial": "2020-01-01T00:00:00Z", "lagSeconds": 60 } },
          "target": {
            "table": "changes", "key": ["id"], "create": true,
            "columns": { "id": { "path": "id", "type": "bigint" }, "title": { "path": "title", "type": "text" }, "updated_at": { "path": "updated_at", "type": "text" } }
          },
          "parallelism": 4,
          "retry": { "attempts": 2, "backoffSeconds": 0.2 }
        }
        """;

    // Pages fan out from the first page's total; or one unit follows them while has_more says so.
    private const string FanOut = """{ "type": "page", "param": "page", "totalPagesPath": "total_pages" }""";
    private const string InOrder = """{ "type": "page", "param": "page", "hasMorePath": "has_more" }""";

    private static void Put(FakeApi api, long id, string title, int minutes) => api.Changes[id] = (title, T0.AddMinutes(minutes));

    private static async Task StartSilosAsync(TestDatabase db, int count)
    {
        var silos = Enumerable.Range(0, count).Select(_ => db.StartSilo(slots: 2)).ToArray();
        foreach (var silo in silos) await silo.StartedAsync();
        await Poll.UntilAsync(async () => (await db.Catalog.ListSilosAsync("ingest")).Count(s => s.Status == "active") == count, TimeSpan.FromSeconds(60), "silos active");
    }

    // The requests an import made (they arrive while it runs: the requests since the last count) and the bound each carried.
    private static List<string?> SinceSent(FakeApi api, ref int seen)
    {
        var all = api.RequestsOf(Route);
        var mine = all.Skip(seen).Select(r => FakeApi.QueryValue(r, "updated_since")).ToList();
        seen = all.Count;
        return mine;
    }

    // The target as the API holds it: id, title and updated_at of every record.
    private static string Expected(FakeApi api) =>
        string.Join(";", api.Changes.OrderBy(c => c.Key).Select(c => $"{c.Key}|{c.Value.Title}|{FakeApi.Iso(c.Value.UpdatedAt)}"));

    private static Task<string> TargetAsync(TestDatabase db) =>
        db.ScalarAsync<string>("SELECT coalesce(string_agg(id || '|' || title || '|' || updated_at, ';' ORDER BY id), '') FROM changes");

    private static async Task<string?> CommittedCursorAsync(TestDatabase db) =>
        (await Watermarks.ReadCursorAsync(db.DataSource, "changes")) is { } cursor ? cursor.GetString() : null;

    [Fact]
    public async Task Each_import_reads_only_what_changed_since_the_last_completed_one_less_the_lag()
    {
        await using var api = await FakeApi.StartAsync();
        api.PerPage = 20;
        for (var id = 1; id <= 50; id++) Put(api, id, $"first {id}", id); // updated_at 00:01 … 00:50
        await using var db = await TestDatabase.CreateAsync();
        await StartSilosAsync(db, 2);
        var spec = Spec(api, FanOut);
        var seen = 0;

        // No import completed before: the initial value, with every request (planning's first page too).
        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, first.State);
        Assert.Equal((3, 50L), (first.Units.Done, first.Rows.Read));
        var sent = SinceSent(api, ref seen);
        Assert.True(sent.Count >= 3, $"{sent.Count} requests");
        Assert.All(sent, s => Assert.Equal("2020-01-01T00:00:00Z", s));
        Assert.Equal(Expected(api), await TargetAsync(db));
        Assert.Equal("2024-05-01T00:50:00Z", await CommittedCursorAsync(db));
        Assert.Equal("2020-01-01T00:00:00Z", first.Since!.Value.GetString());

        // Two records updated, two added: the next import reads from 00:50 less 60 s, closed, so 49 and 50 again.
        Put(api, 10, "second 10", 100);
        Put(api, 20, "second 20", 101);
        Put(api, 51, "second 51", 102);
        Put(api, 52, "second 52", 103);
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, second.State);
        sent = SinceSent(api, ref seen);
        Assert.NotEmpty(sent);
        Assert.All(sent, s => Assert.Equal("2024-05-01T00:49:00Z", s));
        Assert.Equal(6L, second.Rows.Read); // 49, 50, 10, 20, 51, 52
        Assert.Equal((2L, 2L), (second.Rows.Inserted, second.Rows.Updated));
        Assert.Equal(Expected(api), await TargetAsync(db));
        Assert.Equal("2024-05-01T01:43:00Z", await CommittedCursorAsync(db));
        Assert.Equal("2024-05-01T00:49:00Z", await db.ScalarAsync<string>($"SELECT since #>> '{{}}' FROM ingest.imports WHERE id = {second.Id}"));

        // Nothing changed: only the records at the boundary, read again and unchanged.
        var third = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, third.State);
        Assert.All(SinceSent(api, ref seen), s => Assert.Equal("2024-05-01T01:42:00Z", s));
        Assert.Equal((2L, 0L, 0L), (third.Rows.Read, third.Rows.Inserted, third.Rows.Updated));
        Assert.Equal(Expected(api), await TargetAsync(db));
        Assert.Equal(52L, await db.ScalarAsync<long>("SELECT count(*) FROM changes"));

        // The console shows the cursor committed and the bound an import read from.
        Assert.Contains("\"2024-05-01T01:43:00Z\"", (await CliProcess.RunAsync(db.ConnectionString, "state", "changes")).Stdout);
        var status = JsonDocument.Parse((await CliProcess.RunAsync(db.ConnectionString, "status", third.Id.ToString(), "--json")).Stdout).RootElement;
        Assert.Equal("2024-05-01T01:42:00Z", status.GetProperty("since").GetString());
    }

    [Fact]
    public async Task A_silo_killed_in_the_middle_of_followed_pages_resumes_at_its_page_and_the_next_import_reads_only_what_changed()
    {
        await using var api = await FakeApi.StartAsync();
        api.PerPage = 20;
        api.PageDelay = TimeSpan.FromMilliseconds(120);
        for (var id = 1; id <= 600; id++) Put(api, id, $"first {id}", id); // 30 pages; record n updated at 00:00 + n minutes
        await using var db = await TestDatabase.CreateAsync();
        await StartSilosAsync(db, 2);
        var spec = Spec(api, InOrder);
        var seen = 0;

        // Ten pages committed by the one unit following them, then its silo SIGKILLed.
        var id1 = await db.SubmitAsync(spec);
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT coalesce((SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id1}), 0)") >= 200,
            TimeSpan.FromSeconds(60), () => $"ten pages committed; silo output:\n{db.SiloOutput}");
        var holder = await db.ScalarAsync<string>($"SELECT silo FROM ingest.units WHERE import_id = {id1}");
        var (killed, survivor) = db.Silos[0].Address == holder ? (db.Silos[0], db.Silos[1]) : (db.Silos[1], db.Silos[0]);
        killed.Kill();
        var killedAt = api.Requests.Count;
        var committed = await db.ScalarAsync<long>($"SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id1}");
        output.WriteLine($"killed at {committed} records");
        // The unit's cursor was committed with its pages (record n is the n-th oldest); the store moves only when the import completes.
        Assert.Equal(committed, await db.ScalarAsync<long>("SELECT count(*) FROM changes"));
        Assert.Equal(FakeApi.Iso(T0.AddMinutes(committed)), await db.ScalarAsync<string>($"SELECT cursor #>> '{{}}' FROM ingest.units WHERE import_id = {id1}"));
        Assert.Null(await CommittedCursorAsync(db));

        var first = await db.WaitForAsync(id1, TimeSpan.FromSeconds(90));
        Assert.True(first.State == ImportState.Completed, await db.DescribeAsync(id1));
        // Every record once: no row lost, no page loaded twice (a page read again would count as unchanged).
        Assert.Equal(new RowCounts(600, 600, 0, 0, 0), first.Rows);
        Assert.Equal("", await db.CountersMismatchAsync(id1));
        Assert.Equal("600,600", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM changes"));
        Assert.Equal(Expected(api), await TargetAsync(db));
        // The new attempt, on the other silo, began at the page after the last one committed, with the bound fixed at planning.
        Assert.Null(api.ResumptionFault(Route, killedAt, committed / 20 + 1));
        Assert.Matches($@"unit {id1}/0 start: .* \(attempt 2/2\) from record {committed}", survivor.Output);
        Assert.All(SinceSent(api, ref seen), s => Assert.Equal("2020-01-01T00:00:00Z", s));
        // The store holds the greatest updated_at read, as it is (the lag is taken off when it is sent).
        Assert.Equal(FakeApi.Iso(api.Changes.Values.Max(c => c.UpdatedAt)), await CommittedCursorAsync(db));
        Assert.Equal("2024-05-01T10:00:00Z", await CommittedCursorAsync(db));

        // Two records updated, one added: the next import reads from 10:00 less 60 s, so 599 and 600 again, and the three.
        Put(api, 7, "second 7", 700);
        Put(api, 300, "second 300", 701);
        Put(api, 601, "second 601", 702);
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.True(second.State == ImportState.Completed, await db.DescribeAsync(second.Id));
        var sent = SinceSent(api, ref seen);
        Assert.NotEmpty(sent);
        Assert.All(sent, s => Assert.Equal("2024-05-01T09:59:00Z", s));
        Assert.Equal(new RowCounts(5, 1, 2, 2, 0), second.Rows); // 599 and 600 unchanged; 7 and 300 updated; 601 inserted
        Assert.Equal(Expected(api), await TargetAsync(db));
        Assert.Equal(601L, await db.ScalarAsync<long>("SELECT count(*) FROM changes"));
        Assert.Equal("2024-05-01T11:42:00Z", await CommittedCursorAsync(db));
    }

    [Fact]
    public async Task An_import_ending_with_errors_leaves_the_cursor_and_full_reads_from_the_initial_value()
    {
        await using var api = await FakeApi.StartAsync();
        api.PerPage = 10;
        for (var id = 1; id <= 15; id++) Put(api, id, $"first {id}", id); // 00:01 … 00:15
        await using var db = await TestDatabase.CreateAsync();
        await StartSilosAsync(db, 1);
        var spec = Spec(api, InOrder);
        var seen = 0;

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal((ImportState.Completed, 15L), (first.State, first.Rows.Read));
        Assert.Equal("2024-05-01T00:15:00Z", await CommittedCursorAsync(db));
        SinceSent(api, ref seen);

        // Ten more records; the second page of the next import is refused (a 400 fails its unit at once).
        for (var id = 16; id <= 25; id++) Put(api, id, $"second {id}", id + 30); // 00:46 … 00:55
        var refuse = true;
        api.Faults = (route, page, _) => refuse && route == Route && page == 2 ? new FakeApi.Fault(Status: 400, Body: """{"error": "bad page"}""") : null;
        var failed = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.CompletedWithErrors, failed.State);
        Assert.All(SinceSent(api, ref seen), s => Assert.Equal("2024-05-01T00:14:00Z", s));
        // Its first page committed, and with it the unit's cursor: still, the import did not complete.
        Assert.Equal(10L, failed.Rows.Read);
        Assert.Equal("2024-05-01T00:53:00Z", await db.ScalarAsync<string>($"SELECT cursor #>> '{{}}' FROM ingest.units WHERE import_id = {failed.Id}")); // id 23
        Assert.Equal("2024-05-01T00:15:00Z", await CommittedCursorAsync(db));

        // The next import reads from where the last completed one did, and completes.
        refuse = false;
        var again = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, again.State);
        Assert.All(SinceSent(api, ref seen), s => Assert.Equal("2024-05-01T00:14:00Z", s));
        Assert.Equal(12L, again.Rows.Read); // 14, 15 and the ten new ones
        Assert.Equal(Expected(api), await TargetAsync(db));
        Assert.Equal("2024-05-01T00:55:00Z", await CommittedCursorAsync(db));

        // --full ignores the store: the initial value, every record read; the store keeps the greater cursor.
        var full = await db.WaitForAsync(await db.Catalog.SubmitAsync(ImportSpecParser.ParseJson(spec), IngestTracing.NewTraceParent(), new SubmitOptions(Full: true)));
        Assert.Equal(ImportState.Completed, full.State);
        var sent = SinceSent(api, ref seen);
        Assert.Equal(3, sent.Count);
        Assert.All(sent, s => Assert.Equal("2020-01-01T00:00:00Z", s));
        Assert.Equal((25L, 25L), (full.Rows.Read, full.Rows.Unchanged));
        Assert.Equal("2024-05-01T00:55:00Z", await CommittedCursorAsync(db));
        output.WriteLine($"imports {first.Id}, {failed.Id}, {again.Id}, {full.Id}");
    }
}
