using System.Text;
using System.Text.Json;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using RabbitMQ.Client;
using Xunit;

namespace Ingest.Tests;

/// <summary>Import events through the catalog's transactional outbox, to a RabbitMQ exchange and a webhook.</summary>
[Collection(RabbitMqCollection.Name)]
public class RabbitMqOutboxTests(RabbitMqFixture fixture)
{
    private RabbitMqBroker Broker => fixture.Broker;

    [Fact]
    public async Task Each_state_change_is_published_once_by_id_and_in_order_across_a_silo_SIGKILL_and_the_webhook_gets_the_same_with_retries()
    {
        var exchange = $"events{Guid.NewGuid():N}"[..14];
        var queue = exchange + ".q";
        var unitQueue = exchange + ".units";
        await using (var connection = await Broker.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(queue, exchange, "import.*");
            await channel.QueueDeclareAsync(unitQueue, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(unitQueue, exchange, "unit.#");
        }
        using var hook = new WebhookReceiver(failuresPerKey: 2);
        using var data = new TempFolder();
        for (var f = 0; f < 12; f++)
            data.Write($"page-{f:D2}.json", $$"""{"results": [{{string.Join(",", Enumerable.Range(f * 10, 10).Select(i => $$"""{"id": {{i}}, "name": "game {{i}}"}"""))}}]}""");
        await using var db = await TestDatabase.CreateAsync();
        // Each unit's insert sleeps, so that the import runs long enough to pause, resume and lose a silo.
        await SlowTarget.CreateAsync(db, 0.5);
        var a = db.StartSilo(slots: 2, batches: false);
        var b = db.StartSilo(slots: 2, batches: false);
        var notify = $$"""
            [ { "kind": "rabbitmq", "uri": "{{Broker.Uri}}", "exchange": "{{exchange}}", "routingKey": "import.{state}" },
              { "kind": "rabbitmq", "uri": "{{Broker.Uri}}", "exchange": "{{exchange}}", "routingKey": "unit.{state}", "units": true },
              { "kind": "webhook", "url": "{{hook.Url}}" } ]
            """;
        var spec = Specs.Files(data.Path, name: "notified", parallelism: 2, create: false).TrimEnd().TrimEnd('}') + $", \"notify\": {notify} }}";
        var id = await db.SubmitAsync(spec);
        await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Units.Done >= 2, TimeSpan.FromSeconds(60), "the first units");
        await db.Control.PauseAsync(id);
        await db.Control.ResumeAsync(id);
        await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Units.Done >= 6, TimeSpan.FromSeconds(60), "more units");
        a.Kill();
        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(2));
        Assert.Equal(ImportState.Completed, status.State);

        string[] expected = ["running", "paused", "running", "completed"];
        var published = await Poll.UntilAsync(async () => Distinct(await DrainSoFarAsync(queue)), e => e.Count >= expected.Length, TimeSpan.FromSeconds(30),
            "the events on the exchange");
        Assert.Equal(expected, published.Select(e => e.GetProperty("state").GetString()));
        Assert.Equal(["pending", "running", "paused", "running"], published.Select(e => e.GetProperty("previousState").GetString()));
        Assert.True(published.Select(e => e.GetProperty("eventId").GetInt64()).SequenceEqual(published.Select(e => e.GetProperty("eventId").GetInt64()).Order()));
        var completed = published[^1];
        Assert.Equal(12, completed.GetProperty("units").GetProperty("done").GetInt32());
        Assert.Equal(120, completed.GetProperty("rows").GetProperty("inserted").GetInt64());
        Assert.Equal(status.TraceId, completed.GetProperty("traceId").GetString());
        Assert.Equal("notified", completed.GetProperty("name").GetString());

        // Each unit's end, with units: true (that target gets the import's state changes too).
        var units = await Poll.UntilAsync(async () => Distinct(await DrainSoFarAsync(unitQueue)).Where(e => e.TryGetProperty("unit", out _)).ToList(),
            e => e.Count >= 12, TimeSpan.FromSeconds(30), "the unit events");
        Assert.Equal(12, units.Select(e => e.GetProperty("unit").GetProperty("unitNo").GetInt32()).Distinct().Count());

        // The webhook: the same events, each after two failed attempts, in order.
        await Poll.UntilAsync(() => Task.FromResult(hook.Accepted.Select(r => r.Key).Distinct().Count() >= expected.Length), TimeSpan.FromSeconds(30), "the webhook's events");
        var hooked = hook.Accepted.Select(r => r.Key).Distinct().ToList();
        Assert.Equal(published.Select(e => e.GetProperty("eventId").GetInt64().ToString()), hooked);
        Assert.All(hooked, key => Assert.True(hook.Attempts[key] >= 3));
        // Marked sent once every target took it: just after the webhook's answer, not with it.
        await Poll.UntilAsync(() => db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND payload IS NOT NULL AND sent_at IS NULL"),
            unsent => unsent == 0, TimeSpan.FromSeconds(30), "every event marked sent");
        // The report's timeline has each state change once, not its outbox copy too.
        var timeline = (await new ImportReports(db.DataSource, db.Catalog).ImportAsync(id))!.Timeline;
        Assert.DoesNotContain(timeline, e => e.Kind.StartsWith("import.", StringComparison.Ordinal) || e.Kind.StartsWith("unit.", StringComparison.Ordinal));
        Assert.Equal(["paused", "completed"], timeline.Select(e => e.Kind).Where(k => k is "paused" or "completed"));
    }

    [Fact]
    public async Task An_import_that_fails_one_cancelled_and_one_that_completes_with_errors_each_publish_their_end()
    {
        using var hook = new WebhookReceiver(failuresPerKey: 0);
        using var data = new TempFolder();
        data.Write("good.json", """{"results": [{"id": 1, "name": "one"}]}""");
        data.Write("bad.json", "{ not json");
        await using var db = await TestDatabase.CreateAsync();
        string Notified(string path, string name) =>
            Specs.Files(path, name: name, attempts: 1).TrimEnd().TrimEnd('}') + $$""", "notify": [ { "kind": "webhook", "url": "{{hook.Url}}" } ] }""";
        // Stored before any silo runs: the cancelled one never starts.
        var cancelled = await db.StoreAsync(Notified(data.Path, "cancelled"));
        Assert.True((await db.Catalog.CancelAsync(cancelled)).Applied);
        db.StartSilo();
        var failed = await db.WaitForAsync(await db.SubmitAsync(Notified(Path.Combine(data.Path, "missing"), "failed")));
        var withErrors = await db.WaitForAsync(await db.SubmitAsync(Notified(data.Path, "with-errors")));
        Assert.Equal((ImportState.Failed, ImportState.CompletedWithErrors), (failed.State, withErrors.State));

        await Poll.UntilAsync(() => db.ScalarAsync<long>("SELECT count(*) FROM ingest.events WHERE payload IS NOT NULL AND sent_at IS NULL"),
            unsent => unsent == 0, TimeSpan.FromSeconds(30), "every event sent");
        var ends = hook.Accepted.Select(a => JsonDocument.Parse(a.Body).RootElement)
            .Select(e => (Id: e.GetProperty("importId").GetInt64(), State: e.GetProperty("state").GetString(), Previous: e.GetProperty("previousState").GetString()))
            .Where(e => e.State is "cancelled" or "failed" or "completed_with_errors").ToHashSet();
        Assert.Equal([(cancelled, "cancelled", "pending"), (failed.Id, "failed", "pending"), (withErrors.Id, "completed_with_errors", "running")],
            ends.OrderBy(e => e.Id));
        var error = hook.Accepted.Select(a => JsonDocument.Parse(a.Body).RootElement).First(e => e.GetProperty("state").GetString() == "failed").GetProperty("error").GetString();
        Assert.Contains("missing", error);
    }

    [Fact]
    public async Task A_webhook_that_never_answers_holds_back_its_imports_events_and_not_the_others()
    {
        // It takes connections and never answers: each try waits for its timeout.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        using var hook = new WebhookReceiver(failuresPerKey: 0);
        using var data = new TempFolder().WithPages(files: 1, perFile: 2);
        await using var db = await TestDatabase.CreateAsync();
        string Notified(string name, string url) =>
            Specs.Files(data.Path, name: name, table: name).TrimEnd().TrimEnd('}') + $$""", "notify": [ { "kind": "webhook", "url": "{{url}}" } ] }""";
        db.StartSilo();
        var stuck = await db.WaitForAsync(await db.SubmitAsync(Notified("stuck", $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}/hook")));
        var fine = await db.WaitForAsync(await db.SubmitAsync(Notified("fine", hook.Url)));

        await Poll.UntilAsync(() => Task.FromResult(hook.Accepted.Select(a => JsonDocument.Parse(a.Body).RootElement)
                .Any(e => e.GetProperty("importId").GetInt64() == fine.Id && e.GetProperty("state").GetString() == "completed")),
            TimeSpan.FromSeconds(20), "the other import's events while one webhook hangs");
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {stuck.Id} AND payload IS NOT NULL AND sent_at IS NULL") > 0);
    }

    [Fact]
    public async Task Events_a_target_refuses_wait_with_their_error_shown_and_past_their_maximum_age_are_given_up_and_no_longer_keep_the_import()
    {
        // Nothing listens on the webhook's port: every try is refused.
        var port = ExternalCommand.FreePort();
        using var data = new TempFolder().WithPages(files: 1, perFile: 2);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: new Dictionary<string, string> { ["INGEST_EVENT_MAX_AGE_SECONDS"] = "5" });
        var spec = Specs.Files(data.Path, name: "refused").TrimEnd().TrimEnd('}') + $$""", "notify": [ { "kind": "webhook", "url": "http://127.0.0.1:{{port}}/hook" } ] }""";
        var id = (await db.WaitForAsync(await db.SubmitAsync(spec))).Id;
        var events = await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND payload IS NOT NULL");
        var cleanup = new ImportCleanup(db.DataSource);

        // Waiting, saying why; the import is kept from cleanup meanwhile.
        var waiting = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Notify is { LastError: not null }, TimeSpan.FromSeconds(30), "the first failure recorded");
        Assert.Equal((0, events, 0), (waiting.Notify!.Sent, waiting.Notify.Waiting, waiting.Notify.GivenUp));
        Assert.Contains("refused", waiting.Notify.LastError, StringComparison.OrdinalIgnoreCase);
        var status = await CliProcess.RunAsync(db.ConnectionString, "status", id.ToString());
        Assert.Contains($"0 sent, {events} waiting (last error:", status.Stdout);
        Assert.Equal([id], (await cleanup.RunAsync(ImportCleanup.Ended, TimeSpan.Zero, dryRun: true)).Unsent);

        // Past their maximum age, given up one after the other, each keeping its error; then cleanup may remove the import.
        var givenUp = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Notify is { Waiting: 0 }, TimeSpan.FromSeconds(60), () => $"events given up; silo output:\n{db.SiloOutput}");
        Assert.Equal((0, 0, events), (givenUp.Notify!.Sent, givenUp.Notify.Waiting, givenUp.Notify.GivenUp));
        Assert.Equal(events, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.events WHERE import_id = {id} AND given_up_at IS NOT NULL AND publish_error LIKE '%refused%'"));
        Assert.Contains("given up", db.SiloOutput);
        var dry = await cleanup.RunAsync(ImportCleanup.Ended, TimeSpan.Zero, dryRun: true);
        Assert.Equal([id], dry.Imports);
        Assert.Empty(dry.Unsent);
    }

    [Fact]
    public async Task Unit_end_events_of_one_import_commit_in_the_order_of_their_ids()
    {
        await using var db = await TestDatabase.CreateAsync();
        // No silo: an import whose notify target takes unit ends, and two of its units running.
        var spec = Specs.Files("/nowhere", name: "ordered").TrimEnd().TrimEnd('}') + """, "notify": [ { "kind": "webhook", "url": "http://127.0.0.1:9/hook", "units": true } ] }""";
        var id = await db.StoreAsync(spec);
        await db.ExecuteAsync($"INSERT INTO ingest.units (import_id, unit_no, key, state) VALUES ({id}, 1, 'a', 'running'), ({id}, 2, 'b', 'running')");
        await using var first = await db.DataSource.OpenConnectionAsync();
        await using var second = await db.DataSource.OpenConnectionAsync();
        await using var firstEnds = await first.BeginTransactionAsync();
        await using (var end = new Npgsql.NpgsqlCommand($"UPDATE ingest.units SET state = 'done' WHERE import_id = {id} AND unit_no = 1", first, firstEnds))
            await end.ExecuteNonQueryAsync();

        // The second unit's end waits for the first's to commit, so its event, with the greater id, cannot commit before it.
        var secondEnds = Task.Run(async () =>
        {
            await using var end = new Npgsql.NpgsqlCommand($"UPDATE ingest.units SET state = 'done' WHERE import_id = {id} AND unit_no = 2", second);
            await end.ExecuteNonQueryAsync();
        });
        await Poll.UntilAsync(() => db.ScalarAsync<bool>($"SELECT coalesce((SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = {second.ProcessID}), false)"),
            TimeSpan.FromSeconds(30), "the second unit's end to wait for the first's");
        await firstEnds.CommitAsync();
        await secondEnds;

        Assert.Equal("unit.done 1,unit.done 2", await db.ScalarAsync<string>(
            $"SELECT string_agg(kind || ' ' || unit_no, ',' ORDER BY id) FROM ingest.events WHERE import_id = {id} AND unit_no IS NOT NULL AND payload IS NOT NULL"));
    }

    private readonly Dictionary<string, List<string>> _received = [];

    // What the queue held so far, added to what was taken from it before (a republish after a crash may repeat an id).
    private async Task<List<string>> DrainSoFarAsync(string queue)
    {
        if (!_received.TryGetValue(queue, out var bodies)) _received[queue] = bodies = [];
        bodies.AddRange(await Broker.DrainAsync(queue));
        return bodies;
    }

    // Events by id, once each, in the order they first came.
    private static List<JsonElement> Distinct(IEnumerable<string> bodies) =>
        bodies.Select(b => JsonDocument.Parse(b).RootElement).DistinctBy(e => e.GetProperty("eventId").GetInt64()).ToList();
}
