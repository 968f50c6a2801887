using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Ingest.Catalog;
using Ingest.Engine.Json;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.GrainInterfaces;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// A paginated API served on 127.0.0.1 (TMDB-shaped: 20 movies a page, <c>total_pages</c>):
/// 1. no rate limit, two silos: the cluster's pages/s against a plain loop in this process (one
///    <c>HttpClient</c>, 8 requests in flight, each page's rows written with one COPY), same run;
/// 2. a limit of 200 requests per second across three silos: the rate achieved, and the most
///    requests the server saw in any one-second window.
/// </summary>
public static class HttpBenchmark
{
    private const int PerPage = 20;

    public static async Task<int> RunAsync(string[] args)
    {
        var pages = Benchmark.Option(args, "--pages", 5000);
        var limit = Benchmark.Option(args, "--limit", 200);
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }
        var arrivals = new ConcurrentQueue<long>();
        await using var api = await StartApiAsync(pages, arrivals);
        var url = api.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/movie/popular";
        var processes = new List<Process>();
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            Console.WriteLine($"http data: {pages:N0} pages of {PerPage} movies; {Environment.ProcessorCount} cores");
            processes.AddRange(Enumerable.Range(0, 2).Select(_ => Benchmark.StartSilo(cs)));
            for (var i = 0; i < 2; i++) await Benchmark.IngestAsync(db, Spec(url, $"http_warm_{i}", maxPages: 200));

            await Benchmark.QuiesceAsync(db, processes);
            var loop = await PlainLoopAsync(db, url, pages);
            await Benchmark.QuiesceAsync(db, processes);
            var (_, _, seconds) = await Benchmark.IngestAsync(db, Spec(url, "http_ingest", maxPages: pages));
            Console.WriteLine($"http, {pages:N0} pages, no rate limit, 2 silos: plain loop (8 in flight, COPY a page) {loop:F2} s = {pages / loop,8:N0} pages/s | " +
                              $"ingest {seconds:F2} s = {pages / seconds,8:N0} pages/s | ratio {loop / seconds:F2}");

            processes.Add(Benchmark.StartSilo(cs));
            await Benchmark.QuiesceAsync(db, processes);
            var limited = Math.Min(pages, limit * 10);
            arrivals.Clear();
            await Benchmark.IngestAsync(db, Spec(url, "http_limited", maxPages: limited, rateLimit: limit));
            var at = arrivals.Order().Select(t => t / (double)Stopwatch.Frequency).ToArray();
            var most = 0;
            for (int i = 0, j = 0; j < at.Length; j++)
            {
                while (at[j] - at[i] >= 1.0) i++;
                most = Math.Max(most, j - i + 1);
            }
            // The steady rate: past the first window, before the last.
            var (from, to) = (limit, at.Length - limit);
            var rate = to > from ? (to - from) / (at[to] - at[from]) : at.Length / (at[^1] - at[0]);
            Console.WriteLine($"http, {limited:N0} pages at {limit} requests/s across 3 silos: achieved {rate:F1}/s = {rate / limit:F3} of the limit; " +
                              $"most in any 1 s window at the server {most} ({(most <= limit ? "within" : "ABOVE")} the limit)");
            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }
    }

    private static ImportSpec Spec(string url, string table, int maxPages, int? rateLimit = null) => ImportSpecParser.ParseJson($$"""
        {
          "name": "bench-{{table}}",
          "source": { "kind": "http", "url": "{{url}}", "query": { "language": "es-ES" }, "records": "results",
                      "paginate": { "type": "page", "totalPagesPath": "total_pages", "maxPages": {{maxPages}} }
                      {{(rateLimit is { } r ? $", \"rateLimit\": {{ \"key\": \"bench\", \"requests\": {r}, \"perSeconds\": 1 }}" : "")}} },
          "target": { "table": "{{table}}", "key": ["id"], "create": true, "columns": {
            "id":         { "path": "id",           "type": "bigint" },
            "title":      { "path": "title",        "type": "text" },
            "overview":   { "path": "overview",     "type": "text" },
            "popularity": { "path": "popularity",   "type": "double" },
            "released":   { "path": "release_date", "type": "date" },
            "votes":      { "path": "vote_count",   "type": "int" } } },
          "parallelism": 8
        }
        """);

    // One HttpClient, 8 pages in flight; each page's rows mapped as the silos map them and written with one COPY.
    private static async Task<double> PlainLoopAsync(NpgsqlDataSource db, string url, int pages)
    {
        var spec = Spec(url, "http_loop", pages);
        var table = new TargetTable(spec.Target);
        await using (var connection = await db.OpenConnectionAsync()) await table.EnsureAsync(connection);
        using var client = new HttpClient();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(1, pages), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (page, ct) =>
        {
            var body = await client.GetByteArrayAsync($"{url}?language=es-ES&page={page}", ct);
            var mapper = new RecordMapper(spec.Target.Columns, spec.Target.Key);
            var row = mapper.CreateRow();
            await using var connection = await db.OpenConnectionAsync(ct);
            await using var copy = await CopyLoader.BeginAsync(connection, table, staged: false, cancellationToken: ct);
            await foreach (var record in new JsonRecordReader("page", "results", ndjson: false).ReadAsync(new MemoryStream(body), ct))
                if (mapper.TryMap(record.Span, row, out _)) await copy.WriteAsync(row, ct);
            await copy.CompleteAsync(ct);
        });
        return clock.Elapsed.TotalSeconds;
    }

    private static async Task<WebApplication> StartApiAsync(int pages, ConcurrentQueue<long> arrivals)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(async http =>
        {
            arrivals.Enqueue(Stopwatch.GetTimestamp());
            var page = int.TryParse(http.Request.Query["page"], out var n) ? n : 1;
            var movies = Enumerable.Range(0, page <= pages ? PerPage : 0).Select(i => (page - 1) * PerPage + i + 1).Select(id => new
            {
                id, title = $"Película {id}", overview = $"Una película de prueba número {id}, con un resumen de unas cuantas palabras.",
                popularity = 1000.0 / id, release_date = $"20{id % 25:D2}-0{id % 9 + 1}-1{id % 9}", vote_count = id % 5000,
            });
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonSerializer.Serialize(new { page, results = movies, total_pages = pages, total_results = pages * PerPage }));
        });
        await app.StartAsync();
        return app;
    }
}
