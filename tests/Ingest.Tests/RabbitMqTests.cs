using System.Text;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>RabbitMQ queues as continuous imports, on real silos against a real broker (one per test run).</summary>
[Collection(RabbitMqCollection.Name)]
public class RabbitMqTests(RabbitMqFixture fixture)
{
    private RabbitMqBroker Broker => fixture.Broker;

    private static string Queue() => $"q{Guid.NewGuid():N}"[..12];

    // A scraped item's result, as the collectors publish it.
    private static string Result(long taskId, decimal price = 9.99m, long version = 1) =>
        $$"""{"task_id": {{taskId}}, "sku": "SKU-{{taskId}}", "url": "https://vendor.example/p/{{taskId}}", "price": {{price.ToString(System.Globalization.CultureInfo.InvariantCulture)}}, "version": {{version}}}""";

    private string Spec(string queue, string table = "results", bool keyed = false, int parallelism = 2, double? idle = null, int batch = 500,
        string? declare = null, string name = "results", string? versionColumn = null, string? notify = null, string? messageId = "task_id") => $$"""
        {
          "name": "{{name}}",
          "source": {
            "kind": "rabbitmq", "uri": "{{Broker.Uri}}", "queue": "{{queue}}", "prefetch": 2000,
            "batch": { "messages": {{batch}}, "maxMilliseconds": 200 }{{(messageId is null ? "" : $", \"messageId\": \"{messageId}\"")}}
            {{(idle is null ? "" : $", \"stopWhenIdleSeconds\": {idle}")}}{{(declare is null ? "" : $", \"declare\": {declare}")}}
          },
          "target": {
            "table": "{{table}}", "create": true, {{(keyed ? "\"key\": [\"task_id\"]," : "")}}
            {{(versionColumn is null ? "" : $"\"versionColumn\": \"{versionColumn}\",")}}
            "columns": {
              "task_id": { "path": "task_id", "type": "bigint" },
              "sku": { "path": "sku", "type": "text" },
              "price": { "path": "price", "type": "numeric" },
              "version": { "path": "version", "type": "bigint" },
              "message_id": { "meta": "message_id" },
              "redelivered": { "meta": "redelivered" }
            }
          },
          "parallelism": {{parallelism}}{{(notify is null ? "" : $", \"notify\": {notify}")}}
        }
        """;

    [Fact]
    public async Task Messages_with_repeated_ids_and_bodies_that_are_not_JSON_load_exactly_once_across_two_silos_one_SIGKILLed_twice_mid_stream()
    {
        // 200,000 messages: 194,000 ids, 4,000 (2 %) repeating an earlier id, 2,000 (1 %) not JSON; each publish has a message_id property of its own.
        const int unique = 194_000;
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        var messages = new List<(byte[], string?)>();
        var repeats = 0;
        var notJson = 0;
        for (var i = 1; i <= unique; i++)
        {
            messages.Add((Encoding.UTF8.GetBytes(Result(i)), $"p{messages.Count}"));
            if (i % 97 is 48 or 96) { messages.Add((Encoding.UTF8.GetBytes(Result(i - 20)), $"p{messages.Count}")); repeats++; }
            if (i % 97 == 0) { messages.Add((Encoding.UTF8.GetBytes($"task {i} failed: <html>503</html>"), $"p{messages.Count}")); notJson++; }
        }
        Assert.Equal((200_000, 4_000, 2_000), (messages.Count, repeats, notJson));
        await Broker.PublishAsync(queue, messages);
        await using var db = await TestDatabase.CreateAsync();
        var a = db.StartSilo(slots: 2);
        db.StartSilo(slots: 2);
        var id = await db.SubmitAsync(Spec(queue, idle: 5));

        for (var kill = 1; kill <= 2; kill++)
        {
            var before = await ConsumedAsync(db, id);
            await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n > before + unique / 5, TimeSpan.FromSeconds(120), () => $"consumption to go on; {db.SiloOutput}");
            await a.StartedAsync();
            a.Kill();
            a = db.StartSilo(slots: 2);
        }
        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(4));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(unique, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        Assert.Equal(unique, await db.ScalarAsync<long>("SELECT count(DISTINCT task_id) FROM results"));
        Assert.Equal(unique + notJson, status.Messages!.Consumed);
        // Every repeat once: one skipped in a batch that committed but was not acked before a kill is
        // redelivered, and counted so.
        Assert.Equal(repeats, status.Messages.Duplicate);
        Assert.Equal(notJson, status.Messages.Rejected);
        Assert.Equal(notJson, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.rejects WHERE import_id = {id} AND raw LIKE 'task % failed: <html>503</html>'"));
        Assert.Equal(new RowCounts(unique + notJson, unique, 0, 0, notJson), status.Rows);
        Assert.Equal(0u, await Broker.DepthAsync(queue));
        Assert.Equal("", await db.CountersMismatchAsync(id));
    }

    [Fact]
    public async Task A_crash_between_a_batchs_commit_and_its_ack_loads_no_row_twice_and_counts_each_message_once()
    {
        // 3,000 ids and 300 repeats of an earlier id, each publish with a message_id property of its own.
        const int count = 3000, repeats = 300;
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        var messages = new List<(byte[], string?)>();
        for (var i = 1; i <= count; i++)
        {
            messages.Add((Encoding.UTF8.GetBytes(Result(i)), $"p{messages.Count}"));
            if (i % 10 == 0) messages.Add((Encoding.UTF8.GetBytes(Result(i - 5)), $"p{messages.Count}"));
        }
        await Broker.PublishAsync(queue, messages);
        await using var db = await TestDatabase.CreateAsync();
        // The first silo kills itself after its third batch commits, before it is acked.
        var faulty = db.StartSilo(env: new Dictionary<string, string> { ["INGEST_FAULT_KILL_AFTER_BATCHES"] = "3" });
        var id = await db.SubmitAsync(Spec(queue, idle: 4, batch: 100, parallelism: 1));
        Assert.Equal(137, await faulty.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        db.StartSilo();

        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(2));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(count, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        Assert.Equal(count, await db.ScalarAsync<long>("SELECT count(DISTINCT task_id) FROM results"));
        Assert.Equal(count, status.Messages!.Consumed);
        // The killed batch's messages came back flagged redelivered and were skipped, the repeats it had
        // skipped among them: each counted once, as redelivered.
        Assert.Equal(repeats, status.Messages.Duplicate);
        Assert.Equal(100, status.Messages.Redelivered);
        Assert.Equal(0u, await Broker.DepthAsync(queue));
    }

    [Fact]
    public async Task A_joining_silo_takes_a_share_of_the_consumers_at_once()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(slots: 4);
        var id = await db.SubmitAsync(Spec(queue, parallelism: 4));
        var first = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages?.Consumers.Values.Sum() == 4, TimeSpan.FromSeconds(60), "4 consumers on the first silo");
        Assert.Single(first.Messages!.Consumers);

        var joining = db.StartSilo(slots: 4);
        var address = await joining.StartedAsync();
        var spread = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages!.Consumers.GetValueOrDefault(address) == 2 && s.Messages.Consumers.Values.Sum() == 4,
            TimeSpan.FromSeconds(30), () => $"the joining silo {address} to run 2 of the 4 consumers; {db.SiloOutput}");

        Assert.Equal([2, 2], spread.Messages!.Consumers.Values.Order());
        await Broker.PublishAsync(queue, Enumerable.Range(1, 500).Select(i => Result(i)));
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 500, TimeSpan.FromSeconds(60), "the messages to be consumed");
        Assert.Equal(500, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        await db.Control.CancelAsync(id);
    }

    [Fact]
    public async Task Pause_stops_consuming_resume_takes_up_again_and_cancel_ends_it_leaving_the_rest_in_the_queue()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        db.StartSilo();
        var id = await db.SubmitAsync(Spec(queue));
        await Broker.PublishAsync(queue, Enumerable.Range(1, 300).Select(i => Result(i)));
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 300, TimeSpan.FromSeconds(60), "the first messages");

        Assert.True((await db.Control.PauseAsync(id)).Applied);
        await Poll.UntilAsync(() => db.StatusAsync(id), s => s.State == ImportState.Paused && s.Messages!.Consumers.Count == 0, TimeSpan.FromSeconds(30), "the consumers to stop");
        await Broker.PublishAsync(queue, Enumerable.Range(301, 200).Select(i => Result(i)));
        Assert.Equal(200u, await Broker.DepthAsync(queue));
        Assert.Equal(300, await ConsumedAsync(db, id));

        Assert.True((await db.Control.ResumeAsync(id)).Applied);
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 500, TimeSpan.FromSeconds(60), "the messages published while paused");
        Assert.Equal(ImportState.Running, (await db.StatusAsync(id)).State);
        // The queue's depth as the consumers read it, and the rate so far.
        var drained = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages!.Backlog == 0, TimeSpan.FromSeconds(30), "the backlog read as 0");
        Assert.True(drained.Messages!.MessagesPerSecond > 0, drained.Messages.ToString());

        Assert.True((await db.Control.CancelAsync(id)).Applied);
        await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages!.Consumers.Count == 0, TimeSpan.FromSeconds(30), "the consumers to stop");
        await Broker.PublishAsync(queue, Enumerable.Range(501, 50).Select(i => Result(i)));
        Assert.Equal(ImportState.Cancelled, (await db.StatusAsync(id)).State);
        Assert.Equal(50u, await Broker.DepthAsync(queue));
        Assert.Equal(500, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
    }

    [Fact]
    public async Task An_idle_queue_completes_the_import_after_stopWhenIdleSeconds()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 100).Select(i => Result(i)));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var id = await db.SubmitAsync(Spec(queue, idle: 2));

        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(100, status.Messages!.Consumed);
        Assert.Equal(new UnitCounts(2, 2, 0, 0, 0, 0), status.Units);
    }

    [Fact]
    public async Task A_continuous_import_does_not_starve_a_files_import_submitted_after_it()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        using var data = new TempFolder();
        for (var f = 0; f < 20; f++)
            data.Write($"page-{f:D2}.json", $$"""{"results": [{{string.Join(",", Enumerable.Range(f * 10, 10).Select(i => $$"""{"id": {{i}}, "name": "game {{i}}"}"""))}}]}""");
        await using var db = await TestDatabase.CreateAsync();
        await db.StartSilo(slots: 2, batches: false).StartedAsync();
        await db.StartSilo(slots: 2, batches: false).StartedAsync();
        var consuming = await db.SubmitAsync(Spec(queue, parallelism: 2));
        await Poll.UntilAsync(() => db.StatusAsync(consuming), s => s.Messages?.Consumers.Values.Sum() == 2, TimeSpan.FromSeconds(60), "the consumers to run");

        var files = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, name: "files", parallelism: 4)), TimeSpan.FromSeconds(90));

        Assert.Equal(ImportState.Completed, files.State);
        Assert.Equal(200, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(ImportState.Running, (await db.StatusAsync(consuming)).State);
        Assert.Equal(2, (await db.StatusAsync(consuming)).Messages!.Consumers.Values.Sum());
        await db.Control.CancelAsync(consuming);
    }

    [Fact]
    public async Task A_poison_message_is_dead_lettered_after_the_delivery_limit_and_its_batch_mates_load()
    {
        var queue = Queue();
        await using var db = await TestDatabase.CreateAsync();
        // The target refuses one SKU: its batch fails whole, then the message alone, each time it comes.
        await db.ExecuteAsync("""
            CREATE TABLE results (task_id bigint, sku text, price numeric, version bigint, message_id text, redelivered boolean);
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.sku = 'SKU-50' THEN RAISE EXCEPTION 'poison'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON results FOR EACH ROW EXECUTE FUNCTION refuse();
            """);
        db.StartSilo();
        var declare = $$"""{ "type": "quorum", "deadLetterExchange": "{{queue}}.dlx", "deliveryLimit": 2 }""";
        var id = await db.SubmitAsync(Spec(queue, parallelism: 1, declare: declare));
        await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages?.Consumers.Count == 1, TimeSpan.FromSeconds(60), "the consumer to run");
        await using (var connection = await Broker.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync($"{queue}.dead", durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync($"{queue}.dead", $"{queue}.dlx", "");
        }

        await Broker.PublishAsync(queue, Enumerable.Range(1, 100).Select(i => Result(i)));

        var status = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Messages!.DeadLettered == 1 && s.Messages.Consumed == 99, TimeSpan.FromSeconds(60),
            () => $"the poison message to be dead-lettered; {db.SiloOutput}");
        Assert.Equal(99, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        await Poll.UntilAsync(async () => await Broker.DepthAsync($"{queue}.dead") == 1, TimeSpan.FromSeconds(30), "the dead-letter queue to hold it");
        Assert.Equal([Result(50)], await Broker.DrainAsync($"{queue}.dead"));
        Assert.Equal(0u, await Broker.DepthAsync(queue));
        Assert.Equal(ImportState.Running, status.State);
        await db.Control.CancelAsync(id);
    }

    [Fact]
    public async Task A_target_that_refuses_every_message_holds_them_saying_why_dead_letters_none_and_loads_them_once_it_takes_them()
    {
        var queue = Queue();
        await using var db = await TestDatabase.CreateAsync();
        // The target refuses everything, as a table gone or a permission revoked would.
        await db.ExecuteAsync("""
            CREATE TABLE results (task_id bigint, sku text, price numeric, version bigint, message_id text, redelivered boolean);
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the target is down'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON results FOR EACH STATEMENT EXECUTE FUNCTION refuse();
            """);
        await Broker.DeclareAsync(queue, deliveryLimit: 2, deadLetterQueue: $"{queue}.dead");
        await Broker.PublishAsync(queue, Enumerable.Range(1, 100).Select(i => Result(i)));
        db.StartSilo();
        var id = await db.SubmitAsync(Spec(queue, parallelism: 1, batch: 50, idle: 3).Replace("\"parallelism\":", "\"retry\": { \"attempts\": 1 }, \"parallelism\":"));

        var held = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Error is not null, TimeSpan.FromSeconds(60), "the consumer to say why it holds its batch");
        Assert.Equal(ImportState.Running, held.State);
        Assert.Contains("each of the 50 messages of a batch failed alone as the batch did", held.Error);
        Assert.Contains("the target is down", held.Error);
        await db.ExecuteAsync("DROP TRIGGER refuse ON results");
        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(90));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id));
        Assert.Null(status.Error);
        Assert.Equal((100, 0), (status.Messages!.Consumed, status.Messages.DeadLettered));
        Assert.Equal(100, await db.ScalarAsync<long>("SELECT count(DISTINCT task_id) FROM results"));
        Assert.Equal(0u, await Broker.DepthAsync($"{queue}.dead"));
        Assert.Equal(0u, await Broker.DepthAsync(queue));
    }

    [Fact]
    public async Task With_a_versionColumn_an_older_message_after_a_newer_one_leaves_the_newer_row()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var id = await db.SubmitAsync(Spec(queue, keyed: true, parallelism: 1, versionColumn: "version", messageId: null));
        // The ids are per publish here: the same task's versions are different messages.
        await Broker.PublishAsync(queue, [(Encoding.UTF8.GetBytes(Result(1, 20m, version: 2)), "a"), (Encoding.UTF8.GetBytes(Result(1, 10m, version: 1)), "b"),
            (Encoding.UTF8.GetBytes(Result(2, 10m, version: 1)), "c")]);
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 3, TimeSpan.FromSeconds(60), "the first messages");
        // Late and in a batch of its own: an older version of a row that exists.
        await Broker.PublishAsync(queue, [(Encoding.UTF8.GetBytes(Result(2, 5m, version: 0)), "d"), (Encoding.UTF8.GetBytes(Result(3, 1m, version: 1)), "e")]);
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 5, TimeSpan.FromSeconds(60), "the late messages");
        await Broker.PublishAsync(queue, [(Encoding.UTF8.GetBytes(Result(3, 2m, version: 2)), "f")]);
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 6, TimeSpan.FromSeconds(60), "the newer message");

        Assert.Equal("1:2:20|2:1:10|3:2:2", await db.ScalarAsync<string>("SELECT string_agg(task_id || ':' || version || ':' || price::float8, '|' ORDER BY task_id) FROM results"));
        await db.Control.CancelAsync(id);
    }

    [Fact]
    public async Task Validate_reads_messages_with_basic_get_and_returns_them_to_the_queue()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 5).Select(i => Result(i)).Append("not json"));
        using var specs = new TempFolder();
        var spec = specs.Write("spec.json", Spec(queue));

        var result = await CliProcess.RunAsync(null, "validate", spec, "--json", "--sample", "10");

        Assert.Equal(1, result.ExitCode);
        using var report = System.Text.Json.JsonDocument.Parse(result.Stdout);
        Assert.Equal(6, report.RootElement.GetProperty("records").GetInt64());
        Assert.Equal(1, report.RootElement.GetProperty("rejected").GetInt64());
        Assert.Equal(6u, await Broker.DepthAsync(queue));
    }

    [Fact]
    public async Task A_queue_that_does_not_exist_fails_the_import_at_planning_unless_declared()
    {
        var queue = Queue();
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var missing = await db.WaitForAsync(await db.SubmitAsync(Spec(queue, name: "missing")), TimeSpan.FromSeconds(60));
        // A queue that exists with other arguments than the spec declares.
        var classic = Queue();
        await using (var connection = await Broker.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueueDeclareAsync(classic, durable: true, exclusive: false, autoDelete: false);
        var otherwise = await db.WaitForAsync(await db.SubmitAsync(Spec(classic, name: "otherwise", declare: """{ "type": "quorum" }""")), TimeSpan.FromSeconds(60));
        var declared = await db.SubmitAsync(Spec(queue, name: "declared", idle: 1, declare: """{ "type": "quorum", "deliveryLimit": 3 }"""));
        var status = await db.WaitForAsync(declared, TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Failed, missing.State);
        Assert.Contains($"queue '{queue}' does not exist (declare it, or give source.declare)", missing.Error);
        Assert.Equal(ImportState.Failed, otherwise.State);
        Assert.Contains($"queue '{classic}' exists with other arguments than source.declare", otherwise.Error);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(0u, await Broker.DepthAsync(queue));
    }

    [Fact]
    public async Task A_broker_that_stops_and_comes_back_keeps_its_consumers_status_saying_why_meanwhile_and_every_message_loads_once()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 1000).Select(i => (Encoding.UTF8.GetBytes(Result(i)), (string?)$"p{i}")));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        // One attempt per consumer: the outage must not use it up.
        var id = await db.SubmitAsync(Spec(queue, idle: 15).Replace("\"parallelism\":", "\"retry\": { \"attempts\": 1 }, \"parallelism\":"));
        await Poll.UntilAsync(() => ConsumedAsync(db, id), n => n == 1000, TimeSpan.FromSeconds(60), "the first messages");

        ImportStatus troubled;
        try
        {
            var stopped = await Broker.CtlAsync("stop_app");
            Assert.True(stopped.ExitCode == 0, stopped.Output);
            troubled = await Poll.UntilAsync(() => db.StatusAsync(id), st => st.Error is not null, TimeSpan.FromSeconds(60), "the outage shown in status");
        }
        finally
        {
            var started = await Broker.CtlAsync("start_app");
            Assert.True(started.ExitCode == 0, started.Output);
        }
        Assert.Equal(ImportState.Running, troubled.State);
        Assert.Matches("^consumer [01]: ", troubled.Error);
        Assert.Contains("connecting again", troubled.Error);
        await Poll.UntilAsync(async () =>
        {
            try { await Broker.DepthAsync(queue); return true; }
            catch (Exception) { return false; }
        }, TimeSpan.FromSeconds(60), "the queue back");
        await Broker.PublishAsync(queue, Enumerable.Range(1001, 1000).Select(i => (Encoding.UTF8.GetBytes(Result(i)), (string?)$"p{i}")));
        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(3));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id));
        Assert.Null(status.Error);
        Assert.Equal(2000, status.Messages!.Consumed);
        Assert.Equal(2000, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        Assert.Equal(2000, await db.ScalarAsync<long>("SELECT count(DISTINCT task_id) FROM results"));
        Assert.Equal(0u, await Broker.DepthAsync(queue));
    }

    [Fact]
    public async Task Message_ids_committed_longer_ago_than_dedupHours_are_forgotten_and_load_again()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 10).Select(i => Result(i)));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var first = await db.WaitForAsync(await db.SubmitAsync(Spec(queue, parallelism: 1, idle: 2)), TimeSpan.FromSeconds(60));
        Assert.Equal((ImportState.Completed, 10L), (first.State, first.Messages!.Consumed));
        // Ids 1 to 5 committed 200 hours ago, past the default 168.
        await db.ExecuteAsync("UPDATE ingest.message_ledger SET committed_at = now() - interval '200 hours' WHERE message_id ~ '^[1-5]$'");

        await Broker.PublishAsync(queue, Enumerable.Range(1, 10).Select(i => Result(i)));
        var second = await db.WaitForAsync(await db.SubmitAsync(Spec(queue, parallelism: 1, idle: 2)), TimeSpan.FromSeconds(60));

        Assert.Equal((ImportState.Completed, 5L, 5L), (second.State, second.Messages!.Consumed, second.Messages.Duplicate));
        Assert.Equal(15, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.message_ledger WHERE committed_at < now() - interval '168 hours'"));
    }

    [Fact]
    public async Task A_batch_whose_channel_is_lost_while_it_commits_rolls_back_and_loads_when_the_broker_brings_it_back()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await using var db = await TestDatabase.CreateAsync();
        // The first batch's insert waits until the test lets it go on, once its connection is closed.
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (1);
            CREATE TABLE results (task_id bigint, sku text, price numeric, version bigint, message_id text, redelivered boolean);
            CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN WHILE (SELECT seconds FROM test_delay) > 0 LOOP PERFORM pg_sleep(0.05); END LOOP; RETURN NULL; END $$;
            CREATE TRIGGER slow BEFORE INSERT ON results FOR EACH STATEMENT EXECUTE FUNCTION slow();
            """);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 100).Select(i => (Encoding.UTF8.GetBytes(Result(i)), (string?)$"p{i}")));
        db.StartSilo();
        var id = await db.SubmitAsync(Spec(queue, parallelism: 1, batch: 100, idle: 3));
        await Poll.UntilAsync(() => db.ScalarAsync<bool>("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event = 'PgSleep')"), TimeSpan.FromSeconds(60),
            "the batch's insert sleeping");

        var closed = await Broker.CtlAsync("close_all_connections", "test: a lost connection");
        Assert.True(closed.ExitCode == 0, closed.Output);
        await db.ExecuteAsync("UPDATE test_delay SET seconds = 0");
        var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(90));

        // Rolled back rather than committed unacked: the broker's redelivery loads it, counted consumed, not redelivered.
        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id));
        Assert.Equal((100, 0, 0), (status.Messages!.Consumed, status.Messages.Redelivered, status.Messages.Duplicate));
        Assert.Equal(100, await db.ScalarAsync<long>("SELECT count(DISTINCT task_id) FROM results"));
        Assert.Equal(100, await db.ScalarAsync<long>("SELECT count(*) FROM results WHERE redelivered"));
    }

    [Fact]
    public async Task A_record_that_does_not_map_is_rejected_with_its_message_raw_and_the_rest_loads()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        await Broker.PublishAsync(queue, Enumerable.Range(1, 10).Select(i => i == 7 ? Result(i).Replace("9.99", "\"nine\"") : Result(i)));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Spec(queue, parallelism: 1, idle: 2)), TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal((10, 1), (status.Messages!.Consumed, status.Messages.Rejected));
        Assert.Equal((10, 9, 1), (status.Rows.Read, status.Rows.Inserted, status.Rows.Rejected));
        Assert.Equal(9, await db.ScalarAsync<long>("SELECT count(*) FROM results"));
        Assert.Equal(Result(7).Replace("9.99", "\"nine\""), await db.ScalarAsync<string>($"SELECT raw FROM ingest.rejects WHERE import_id = {status.Id}"));
        Assert.Equal("price", await db.ScalarAsync<string>($"SELECT column_name FROM ingest.rejects WHERE import_id = {status.Id}"));
    }

    [Fact]
    public async Task Validation_and_dedup_work_on_messages_as_on_files()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        // In order, a batch each: a new row, one without its SKU, the first again unchanged, then changed.
        await Broker.PublishAsync(queue, new[] { Result(1), Result(2).Replace("\"SKU-2\"", "null"), Result(1), Result(1, price: 5.00m) }
            .Select((body, i) => (Encoding.UTF8.GetBytes(body), (string?)$"p{i}")));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var spec = Spec(queue, keyed: true, parallelism: 1, batch: 1, idle: 2, messageId: null)
            .Replace("\"create\": true,", "\"create\": true, \"dedup\": { \"hash\": [\"sku\", \"price\"], \"column\": \"content_hash\" }, \"validate\": { \"required\": [\"sku\"] },");

        var status = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal((4L, 1L, 1L, 1L, 1L), (status.Rows.Read, status.Rows.Inserted, status.Rows.Updated, status.Rows.Unchanged, status.Rows.Rejected));
        Assert.Equal(1, status.Rows.Duplicates);
        Assert.Equal("1|5.00", await db.ScalarAsync<string>("SELECT string_agg(task_id || '|' || price, ';') FROM results"));
        Assert.Equal("sku", await db.ScalarAsync<string>($"SELECT column_name FROM ingest.rejects WHERE import_id = {status.Id}"));
    }

    [Fact]
    public async Task Messages_load_into_a_relational_target_as_files_do()
    {
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        // In order, a batch each: two orders with their lines, then the second with a line changed.
        await Broker.PublishAsync(queue, new[]
        {
            """{"id": 1, "customer": "al", "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}""",
            """{"id": 2, "customer": "bo", "lines": [{"sku": "c", "qty": 3}]}""",
            """{"id": 2, "customer": "bo", "lines": [{"sku": "c", "qty": 4}]}""",
        }.Select((body, i) => (Encoding.UTF8.GetBytes(body), (string?)$"p{i}")));
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();
        var spec = $$"""
            { "name": "orders",
              "source": { "kind": "rabbitmq", "uri": "{{Broker.Uri}}", "queue": "{{queue}}", "batch": { "messages": 1, "maxMilliseconds": 200 }, "stopWhenIdleSeconds": 2 },
              "target": { "table": "orders", "key": ["id"], "create": true,
                          "columns": { "id": { "path": "id", "type": "bigint" }, "customer": { "path": "customer", "type": "text" } },
                          "children": [ { "table": "order_lines", "path": "lines", "key": ["sku"],
                                          "columns": { "sku": { "path": "sku", "type": "text" }, "qty": { "path": "qty", "type": "int" } } } ] },
              "parallelism": 1 }
            """;

        var status = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Completed, status.State);
        // The order row itself is unchanged; its line is updated.
        Assert.Equal(new RowCounts(3, 2, 0, 1, 0), status.Rows);
        Assert.Equal(1, status.Tables!["order_lines"].Updated);
        Assert.Equal(["1|a|1", "1|b|2", "2|c|4"], await RelationalTests.RowsAsync(db, "order_lines", "orders_id", "sku", "qty"));
    }

    private static async Task<long> ConsumedAsync(TestDatabase db, long id) => (await db.StatusAsync(id)).Messages?.Consumed ?? 0;
}
