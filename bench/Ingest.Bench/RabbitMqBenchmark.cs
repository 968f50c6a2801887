using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Npgsql;
using NpgsqlTypes;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Ingest.Bench;

/// <summary>
/// Small JSON messages published beforehand to a quorum queue, consumed into a keyed table by the
/// silos (a rabbitmq import), against a minimal consumer in this process on the same broker in the
/// same run: prefetch 2,000, batches of 1,000 written by one binary COPY with the same message-id
/// inserts in the same transaction, acked after the commit. Messages per second of each, and the
/// CPU seconds of the broker, PostgreSQL and the silos while each ran.
/// </summary>
public static class RabbitMqBenchmark
{
    private const int Prefetch = 2000;
    private const int BatchMessages = 1000;

    public static async Task<int> RunAsync(string[] args)
    {
        var messages = Benchmark.Option(args, "--messages", 1_000_000);
        var silos = Benchmark.Option(args, "--silos", 2);
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        var uri = Environment.GetEnvironmentVariable("INGEST_AMQP_URI");
        if (string.IsNullOrEmpty(cs) || string.IsNullOrEmpty(uri))
        {
            Console.Error.WriteLine("INGEST_DB or INGEST_AMQP_URI is not set (bin/bench rabbitmq sets them to a local PostgreSQL and broker)");
            return 64;
        }
        var brokerPid = int.TryParse(Environment.GetEnvironmentVariable("INGEST_AMQP_PID"), out var pid) ? pid : (int?)null;
        var processes = new List<Process>();
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            Console.WriteLine($"rabbitmq: {messages:N0} messages, {silos} silos; {Environment.ProcessorCount} cores");

            // The minimal consumer first, then the silos, each on messages published just before.
            await PublishAsync(uri, "bench_baseline", messages);
            await CreateBaselineAsync(db);
            await Benchmark.QuiesceAsync(db, processes);
            var before = Read(processes, brokerPid);
            var clock = Stopwatch.StartNew();
            await ConsumeAsync(uri, "bench_baseline", db, messages);
            var baseline = clock.Elapsed.TotalSeconds;
            var baselineCpu = Read(processes, brokerPid) - before;
            Console.WriteLine($"minimal consumer: {baseline:F2} s = {messages / baseline,10:N0} messages/s | {baselineCpu}");

            await PublishAsync(uri, "bench_ingest", messages);
            processes.AddRange(Enumerable.Range(0, silos).Select(_ => Benchmark.StartSilo(cs)));
            await Benchmark.ConnectAsync(db);
            await Benchmark.QuiesceAsync(db, processes);
            before = Read(processes, brokerPid);
            clock.Restart();
            var id = await SubmitAsync(db, uri, messages, silos);
            var ingest = clock.Elapsed.TotalSeconds;
            var ingestCpu = Read(processes, brokerPid) - before;
            var status = (await new ImportCatalog(db).GetStatusAsync(id))!;
            Console.WriteLine($"ingest, {silos} silos: {ingest:F2} s = {messages / ingest,10:N0} messages/s ({status.Rows.Inserted:N0} rows) | {ingestCpu}");
            Console.WriteLine($"rabbitmq, ingest / minimal consumer: {baseline / ingest:F2}   goal ≥ 0.8");
            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited) process.Kill();
                await process.WaitForExitAsync();
            }
        }
    }

    private static string Body(long i) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"task_id": {{i}}, "sku": "SKU-{{i % 50_000}}", "url": "https://vendor.example/p/{{i}}", "price": {{i % 1000 + 0.99m}}, "ts": "2026-01-01T00:00:00Z"}""");

    // Into a fresh quorum queue, with publisher confirms (at most 2,000 awaiting theirs).
    private static async Task PublishAsync(string uri, string queue, int messages)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeleteAsync(queue);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        var clock = Stopwatch.StartNew();
        var pending = new List<ValueTask>(Prefetch);
        for (var i = 1; i <= messages; i++)
        {
            var properties = new BasicProperties { Persistent = true, MessageId = i.ToString(CultureInfo.InvariantCulture), ContentType = "application/json" };
            pending.Add(channel.BasicPublishAsync("", queue, mandatory: false, properties, Encoding.UTF8.GetBytes(Body(i))));
            if (pending.Count < Prefetch) continue;
            foreach (var p in pending) await p;
            pending.Clear();
        }
        foreach (var p in pending) await p;
        Console.WriteLine($"published {messages:N0} to {queue} in {clock.Elapsed.TotalSeconds:F2} s");
    }

    private static async Task CreateBaselineAsync(NpgsqlDataSource db)
    {
        await using var cmd = db.CreateCommand("""
            DROP TABLE IF EXISTS bench_baseline, bench_baseline_ids, bench_ingest;
            CREATE TABLE bench_baseline (task_id bigint PRIMARY KEY, sku text, url text, price numeric, ts timestamptz);
            CREATE TABLE bench_baseline_ids (message_id text PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now());
            """);
        await cmd.ExecuteNonQueryAsync();
    }

    // One process, one channel: a batch's rows by one binary COPY and its ids by one INSERT, one transaction, then one ack.
    private static async Task ConsumeAsync(string uri, string queue, NpgsqlDataSource db, int messages)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.BasicQosAsync(0, Prefetch, false);
        var inbox = Channel.CreateUnbounded<(ulong Tag, byte[] Body, string Id)>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, e) =>
        {
            inbox.Writer.TryWrite((e.DeliveryTag, e.Body.ToArray(), e.BasicProperties.MessageId ?? ""));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        await using var pg = await db.OpenConnectionAsync();
        var batch = new List<(ulong Tag, byte[] Body, string Id)>(BatchMessages);
        for (var done = 0; done < messages; done += batch.Count)
        {
            batch.Clear();
            batch.Add(await inbox.Reader.ReadAsync());
            using (var fill = new CancellationTokenSource(200))
            {
                try
                {
                    while (batch.Count < BatchMessages)
                    {
                        if (inbox.Reader.TryRead(out var next)) batch.Add(next);
                        else await inbox.Reader.WaitToReadAsync(fill.Token);
                    }
                }
                catch (OperationCanceledException) { }
            }
            await using var tx = await pg.BeginTransactionAsync();
            await using (var ids = new NpgsqlCommand("INSERT INTO bench_baseline_ids (message_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", pg))
            {
                ids.Parameters.AddWithValue(batch.Select(m => m.Id).ToArray());
                await ids.ExecuteNonQueryAsync();
            }
            await using (var copy = await pg.BeginBinaryImportAsync("COPY bench_baseline (task_id, sku, url, price, ts) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (var (_, body, _) in batch)
                {
                    using var record = JsonDocument.Parse(body);
                    var r = record.RootElement;
                    await copy.StartRowAsync();
                    await copy.WriteAsync(r.GetProperty("task_id").GetInt64(), NpgsqlDbType.Bigint);
                    await copy.WriteAsync(r.GetProperty("sku").GetString()!, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.GetProperty("url").GetString()!, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.GetProperty("price").GetDecimal(), NpgsqlDbType.Numeric);
                    await copy.WriteAsync(r.GetProperty("ts").GetDateTime().ToUniversalTime(), NpgsqlDbType.TimestampTz);
                }
                await copy.CompleteAsync();
            }
            await tx.CommitAsync();
            await channel.BasicAckAsync(batch[^1].Tag, multiple: true);
        }
    }

    // Through the cluster, as the console submits; done when every message is acked (consumed, or skipped as a duplicate).
    // The time includes planning and the consumers' start, which a million messages make small.
    private static async Task<long> SubmitAsync(NpgsqlDataSource db, string uri, int messages, int silos)
    {
        var spec = ImportSpecParser.ParseJson($$"""
            {
              "name": "bench-rabbitmq",
              "source": { "kind": "rabbitmq", "uri": "{{uri}}", "queue": "bench_ingest", "prefetch": {{Prefetch}},
                          "batch": { "messages": {{BatchMessages}}, "maxMilliseconds": 200 }, "messageId": "task_id" },
              "target": { "table": "bench_ingest", "key": ["task_id"], "create": true, "columns": {
                "task_id": { "path": "task_id", "type": "bigint" },
                "sku":     { "path": "sku",     "type": "text" },
                "url":     { "path": "url",     "type": "text" },
                "price":   { "path": "price",   "type": "numeric" },
                "ts":      { "path": "ts",      "type": "timestamptz" } } },
              "parallelism": {{silos}}
            }
            """);
        var catalog = new ImportCatalog(db);
        var id = await Benchmark.SubmitOnlyAsync(db, spec);
        while ((await catalog.GetStatusAsync(id))!.Messages is not { } m || m.Consumed + m.Duplicate + m.Redelivered < messages) await Task.Delay(100);
        await Benchmark.CancelAsync(db, id);
        return id;
    }

    private static Reading Read(IEnumerable<Process> silos, int? brokerPid) => new(CpuClock.Read(silos), BrokerSeconds(brokerPid));

    // The broker's Erlang VM: utime + stime of /proc/PID/stat.
    private static double BrokerSeconds(int? pid)
    {
        if (pid is null) return double.NaN;
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[11]) + long.Parse(f[12])) / 100.0;
    }

    private readonly record struct Reading(CpuClock Cpu, double Broker)
    {
        public static Reading operator -(Reading a, Reading b) => new(a.Cpu - b.Cpu, a.Broker - b.Broker);

        public override string ToString() => $"CPU: broker {Broker:F2} s, {Cpu}";
    }
}
