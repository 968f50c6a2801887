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
        string? declare = null, string name = "results", string? versionColumn = null, string? notify = null) => $$"""
        {
          "name": "{{name}}",
          "source": {
            "kind": "rabbitmq", "uri": "{{Broker.Uri}}", "queue": "{{queue}}", "prefetch": 2000,
            "batch": { "messages": {{batch}}, "maxMilliseconds": 200 }, "messageId": "task_id"
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
        const int unique = 20_000;
        var queue = Queue();
        await Broker.DeclareAsync(queue);
        // 2 % of the messages repeat an earlier id, 1 % are not JSON; every publish has a message_id property of its own.
        var messages = new List<(byte[], string?)>();
        var repeats = 0;
        var notJson = 0;
        for (var i = 1; i <= unique; i++)
        {
            messages.Add((Encoding.UTF8.GetBytes(Result(i)), $"p{messages.Count}"));
            if (i % 50 == 0) { messages.Add((Encoding.UTF8.GetBytes(Result(i - 25)), $"p{messages.Count}")); repeats++; }
            if (i % 100 == 0) { messages.Add((Encoding.UTF8.GetBytes($"task {i} failed: <html>503</html>"), $"p{messages.Count}")); notJson++; }
        }
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
        Assert.Equal(repeats, status.Messages.Duplicate);
        Assert.Equal(notJson, status.Messages.Rejected);
        Assert.Equal(notJson, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.rejects WHERE import_id = {id} AND raw LIKE 'task % failed: <html>503</html>'"));
        Assert.Equal(new RowCounts(unique + notJson, unique, 0, 0, notJson), status.Rows);
        Assert.Equal(0u, await Broker.DepthAsync(queue));
        Assert.Equal("", await db.CountersMismatchAsync(id));
    }

    private static async Task<long> ConsumedAsync(TestDatabase db, long id) => (await db.StatusAsync(id)).Messages?.Consumed ?? 0;
}
