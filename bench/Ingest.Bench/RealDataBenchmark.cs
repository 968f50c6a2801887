using System.Diagnostics;
using Ingest.Catalog;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// The fast path on data as users have it, measured as a user meets it: <c>ingest submit --wait</c>
/// through the console, on real silo processes, against a baseline run in the same round:
/// <list type="bullet">
/// <item>flat: N rows in files of 2,000, clean and with every 33rd record repeated, renamed, at the
/// end of its file (3 %), on warm silos, vs <c>psql \copy</c> of the final rows as TSV, each timed
/// as a whole command;</item>
/// <item>tiny: one-record files, clean and with every 33rd file holding its record twice, units
/// completed per second (the import's start to end), vs <c>pgbench</c> running a tiny unit's transaction;</item>
/// <item>cold: the flat loads again on two silos started just before the command, vs the same <c>psql \copy</c>.</item>
/// </list>
/// Rounds interleave every measurement with its baseline; medians are reported against the goals.
/// <c>--cold-only</c> measures the cold loads alone.
/// </summary>
public static class RealDataBenchmark
{
    private const int RepeatEvery = 33;

    public static async Task<int> RunAsync(string[] args)
    {
        var rows = Benchmark.Option(args, "--rows", 1_000_000);
        var perFile = Benchmark.Option(args, "--per-file", 2000);
        var tinyUnits = Benchmark.Option(args, "--tiny-units", 2000);
        var runs = Benchmark.Option(args, "--runs", 5);
        var parallelism = Benchmark.Option(args, "--parallelism", ImportSpec.DefaultParallelism);
        var coldOnly = args.Contains("--cold-only");
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }

        var work = Directory.CreateTempSubdirectory("ingest-bench-real-").FullName;
        var silos = new List<Process>();
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            var files = Math.Max(1, rows / perFile);
            var data = new Dictionary<bool, (string Pages, string Tsv, long Rows)>();
            foreach (var repeats in new[] { false, true })
            {
                var pages = Path.Combine(work, repeats ? "flat-repeats" : "flat");
                RawgSample.Write(pages, files, perFile, repeats ? RepeatEvery : 0);
                var tsv = Path.Combine(work, repeats ? "flat-repeats.tsv" : "flat.tsv");
                var spec = ImportSpecParser.ParseJson(RawgSample.Spec("tsv", pages, "t", parallelism));
                data[repeats] = (pages, tsv, await PsqlCopyBaseline.WriteTsvAsync(spec, pages, tsv));
            }
            var tinyData = new Dictionary<bool, string>();
            foreach (var repeats in new[] { false, true })
            {
                tinyData[repeats] = Path.Combine(work, repeats ? "tiny-repeats" : "tiny");
                RawgSample.Write(tinyData[repeats], tinyUnits, 1, repeats ? RepeatEvery : 0);
            }
            Console.WriteLine($"data: {files * perFile:N0} rows in {files} files of {perFile}, clean and with every {RepeatEvery}th record repeated (renamed) at the end of its file; " +
                $"{tinyUnits:N0} one-record files, clean and with every {RepeatEvery}th holding its record twice; {runs} rounds; {Environment.ProcessorCount} cores");

            var flat = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
            var tiny = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
            var cold = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };

            if (!coldOnly) silos.AddRange(await StartSilosAsync(db, cs, 2));
            // Silos are long-lived: warm them with the loads measured, as the other benchmarks do.
            for (var i = 0; i < (coldOnly ? 0 : 2); i++)
                foreach (var repeats in new[] { false, true })
                {
                    var warm = await SubmitAsync(db, work, data[repeats].Pages, $"warm_{i}_{Kind(repeats)}", parallelism);
                    Console.WriteLine($"warm-up {i + 1}, flat {(repeats ? "with repeats" : "clean       ")}: submit --wait {warm.Command:F2} s (import {warm.Import:F2} s)");
                    await SubmitAsync(db, work, tinyData[repeats], $"warm_tiny_{i}_{Kind(repeats)}", parallelism);
                }

            for (var run = 1; run <= (coldOnly ? 0 : runs); run++)
            {
                foreach (var repeats in new[] { false, true })
                {
                    await Benchmark.QuiesceAsync(db, silos);
                    var psql = await PsqlCopyAsync(db, cs, data[repeats].Tsv, $"psql_{run}_{Kind(repeats)}", parallelism);
                    await Benchmark.QuiesceAsync(db, silos);
                    var ingest = await SubmitAsync(db, work, data[repeats].Pages, $"flat_{run}_{Kind(repeats)}", parallelism);
                    flat[repeats].Add(psql / ingest.Command);
                    Console.WriteLine($"round {run}, flat {(repeats ? "with repeats" : "clean       ")}: psql \\copy {psql:F2} s | submit --wait {ingest.Command:F2} s (import {ingest.Import:F2} s) | ratio {psql / ingest.Command:F2}");
                }
                var tps = 0.0;
                foreach (var repeats in new[] { false, true })
                {
                    await Benchmark.QuiesceAsync(db, silos);
                    var ingest = await SubmitAsync(db, work, tinyData[repeats], $"tiny_{run}_{Kind(repeats)}", parallelism);
                    if (tps == 0)
                    {
                        await Benchmark.QuiesceAsync(db, silos);
                        tps = await PgbenchBaseline.RunAsync(db, cs, ImportSpecParser.ParseJson(RawgSample.Spec("pgbench", tinyData[repeats], "pgbench", parallelism)), ingest.Id, work);
                    }
                    tiny[repeats].Add(tinyUnits / ingest.Import / tps);
                    Console.WriteLine($"round {run}, tiny {(repeats ? "with repeats" : "clean       ")}: {tinyUnits / ingest.Import,6:N0} units/s | pgbench {tps:N0} tx/s | ratio {tinyUnits / ingest.Import / tps:F2}");
                }
                await DropTablesAsync(db);
            }
            var rss = string.Join(", ", silos.Select(p => $"{Benchmark.PeakRssMiB(p):F0} MiB"));
            await StopAsync(silos);

            for (var run = 1; run <= runs; run++)
                foreach (var repeats in new[] { false, true })
                {
                    await Benchmark.CheckpointAsync(db);
                    var psql = await PsqlCopyAsync(db, cs, data[repeats].Tsv, $"psql_cold_{run}_{Kind(repeats)}", parallelism);
                    await Benchmark.CheckpointAsync(db);
                    silos.AddRange(await StartSilosAsync(db, cs, 2));
                    var ingest = await SubmitAsync(db, work, data[repeats].Pages, $"cold_{run}_{Kind(repeats)}", parallelism);
                    await StopAsync(silos);
                    cold[repeats].Add(psql / ingest.Command);
                    Console.WriteLine($"round {run}, cold {(repeats ? "with repeats" : "clean       ")}: psql \\copy {psql:F2} s | submit --wait on two just-started silos {ingest.Command:F2} s (import {ingest.Import:F2} s) | ratio {psql / ingest.Command:F2}");
                    await DropTablesAsync(db);
                }

            Console.WriteLine();
            if (coldOnly)
            {
                Summary("cold, with repeats: submit --wait / psql \\copy", cold[true], "≥ 0.80");
                Summary("cold, clean:        submit --wait / psql \\copy", cold[false], "≥ 0.80");
                return 0;
            }
            Console.WriteLine($"summary (median of {runs} rounds; baseline in the same round)        figure   goal");
            Summary("flat, warm, with repeats: submit --wait / psql \\copy", flat[true], "≥ 0.80");
            Summary("flat, warm, clean:        submit --wait / psql \\copy", flat[false], "");
            Summary("tiny units with repeats / pgbench", tiny[true], "≥ 0.80");
            Summary("tiny units, clean / pgbench", tiny[false], "");
            Summary("cold, with repeats: submit --wait / psql \\copy", cold[true], "≥ 0.80");
            Summary("cold, clean:        submit --wait / psql \\copy", cold[false], "≥ 0.80");
            Console.WriteLine($"{"peak RSS per warm silo",-62} {rss}   ≤ 200 MiB");
            return 0;
        }
        finally
        {
            await StopAsync(silos);
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Kind(bool repeats) => repeats ? "repeats" : "clean";

    private static void Summary(string what, List<double> ratios, string goal) =>
        Console.WriteLine($"{what,-62} {ratios.Order().ElementAt(ratios.Count / 2),6:F2}   {goal}   (each: {string.Join(", ", ratios.Select(r => r.ToString("F2")))})");

    private static async Task<(long Id, double Command, double Import)> SubmitAsync(NpgsqlDataSource db, string work, string pages, string table, int parallelism)
    {
        var name = "bench-" + table.Replace('_', '-');
        var specFile = Path.Combine(work, table + ".json");
        await File.WriteAllTextAsync(specFile, RawgSample.Spec(name, pages, table, parallelism));
        return await Benchmark.SubmitWaitAsync(db, specFile, name);
    }

    // psql \copy of the rows into a table made like the import's, created beforehand.
    private static async Task<double> PsqlCopyAsync(NpgsqlDataSource db, string cs, string tsv, string table, int parallelism)
    {
        var spec = ImportSpecParser.ParseJson(RawgSample.Spec("psql", "/", table, parallelism));
        var target = new TargetTable(spec.Target);
        await using (var connection = await db.OpenConnectionAsync()) await target.EnsureAsync(connection);
        var (_, seconds) = await PostgresTools.RunAsync(Path.Combine(PostgresTools.Bin(), "psql"), PostgresTools.ConnInfo(cs),
            "-v", "ON_ERROR_STOP=1", "-c", $"\\copy {target.QualifiedName} FROM '{tsv}'");
        return seconds;
    }

    private static async Task<List<Process>> StartSilosAsync(NpgsqlDataSource db, string cs, int count)
    {
        var started = Enumerable.Range(0, count).Select(_ => Benchmark.StartSilo(cs)).ToList();
        var catalog = new ImportCatalog(db);
        var pids = started.Select(s => s.Id).ToHashSet();
        while ((await catalog.ListSilosAsync("ingest")).Count(s => s.Status == "active" && s.Pid is { } pid && pids.Contains(pid)) < count)
            await Task.Delay(100);
        return started;
    }

    private static async Task StopAsync(List<Process> silos)
    {
        foreach (var silo in silos)
        {
            silo.Kill();
            await silo.WaitForExitAsync();
        }
        silos.Clear();
    }

    // Tables left behind would be vacuumed by autovacuum during a later measurement.
    private static async Task DropTablesAsync(NpgsqlDataSource db)
    {
        await using var drop = db.CreateCommand("""
            DO $$ DECLARE t text; BEGIN
              FOR t IN SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^(psql|flat|tiny|cold|warm)_' LOOP
                EXECUTE 'DROP TABLE ' || t;
              END LOOP;
            END $$
            """);
        await drop.ExecuteNonQueryAsync();
    }
}
