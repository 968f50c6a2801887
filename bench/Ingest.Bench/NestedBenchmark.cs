using System.Diagnostics;
using Ingest.Engine.Relational;
using Ingest.GrainInterfaces;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Bench;

/// <summary>
/// Nested RAWG-like games into eleven related tables, with real silos, against a plain binary COPY
/// of the very rows the import produced into tables with the same constraints, in one run: with
/// foreign keys, and without.
/// </summary>
public static class NestedBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var games = Benchmark.Option(args, "--games", 200_000);
        var perFile = Benchmark.Option(args, "--per-file", 1000);
        var silos = Benchmark.Option(args, "--silos", 2);
        var parallelism = Benchmark.Option(args, "--parallelism", ImportSpec.DefaultParallelism);
        // This machine's speed wanders by a fifth from minute to minute: --repeat measures each pair again.
        var repeat = Benchmark.Option(args, "--repeat", 1);
        // --foreign-keys with|without: measure one of the two loads only.
        var only = args.SkipWhile(a => a != "--foreign-keys").Skip(1).FirstOrDefault();
        if (only is not (null or "with" or "without"))
        {
            Console.Error.WriteLine($"--foreign-keys takes 'with' or 'without', not '{only}'");
            return 64;
        }
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }

        var work = Directory.CreateTempSubdirectory("ingest-bench-nested-").FullName;
        var processes = new List<Process>();
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            var pages = Path.Combine(work, "rawg");
            RawgSample.WriteNested(pages, Math.Max(1, games / perFile), perFile);
            // Warm-up loads of about 16,000 games, in pages of the measured size: small pages make many
            // batches, and code that runs once per batch must reach its optimised tier before the measure.
            var warmUp = Path.Combine(work, "warm");
            RawgSample.WriteNested(warmUp, Math.Max(40, 16_000 / perFile), perFile);
            var bytes = Directory.GetFiles(pages).Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"nested data: {games:N0} games in {games / perFile} files, {bytes / 1048576.0:F1} MiB of JSON; {silos} silos, parallelism {parallelism}; {Environment.ProcessorCount} cores");

            processes.AddRange(Enumerable.Range(0, silos).Select(_ => Benchmark.StartSilo(cs)));
            // Silos are long-lived: measure them warm. The JIT optimises hot code once it has run 30
            // times, and on 2 cores that compiling competes with the load measured.
            for (var i = 0; i < 8; i++)
            {
                await Benchmark.IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.NestedSpec("bench-nested-warm-up", warmUp, $"w{i}_", only is null ? i % 2 == 0 : only == "with", parallelism)));
            }

            var ratios = new Dictionary<bool, List<double>>();
            foreach (var (foreignKeys, round) in Enumerable.Range(0, repeat).SelectMany(r => new[] { true, false }.Where(fk => only is null || only == (fk ? "with" : "without")).Select(fk => (fk, r))))
            {
                var prefix = (foreignKeys ? "n_" : "nf_") + (round == 0 ? "" : $"r{round}_");
                var spec = ImportSpecParser.ParseJson(RawgSample.NestedSpec("bench-nested", pages, prefix, foreignKeys, parallelism));
                await Benchmark.QuiesceAsync(db, processes);
                var before = CpuClock.Read(processes);
                var walBefore = await WalAsync(db);
                var ingest = await Benchmark.IngestAsync(db, spec);
                var ingestCpu = CpuClock.Read(processes) - before;
                var ingestWal = await WalAsync(db) - walBefore;
                var plan = new LoadPlan(spec.Target);
                var rows = 0L;
                foreach (var table in plan.Tables) rows += await CountAsync(db, table.Target.QualifiedName);

                // The baseline: the same rows, exported from the tables the import filled, copied into
                // tables created from the same plan (the same keys and foreign keys), in dependency order.
                var baseline = new LoadPlan(ImportSpecParser.ParseJson(RawgSample.NestedSpec("baseline", pages, "c" + prefix, foreignKeys)).Target);
                var exported = new List<byte[]>();
                await using (var connection = await db.OpenConnectionAsync())
                {
                    foreach (var table in plan.Tables) exported.Add(await ExportAsync(connection, table.Target.QualifiedName));
                    await using var tx = await connection.BeginTransactionAsync();
                    foreach (var table in baseline.Tables) await table.Target.EnsureAsync(connection);
                    await tx.CommitAsync();
                }
                await Benchmark.QuiesceAsync(db, processes);
                before = CpuClock.Read(processes);
                walBefore = await WalAsync(db);
                var clock = Stopwatch.StartNew();
                await using (var connection = await db.OpenConnectionAsync())
                    for (var i = 0; i < baseline.Tables.Count; i++) await ImportAsync(connection, baseline.Tables[i].Target.QualifiedName, exported[i]);
                var copySeconds = clock.Elapsed.TotalSeconds;
                var copyCpu = CpuClock.Read(processes) - before;
                var copyWal = await WalAsync(db) - walBefore;

                Console.WriteLine($"{(foreignKeys ? "with foreign keys   " : "without foreign keys")}: ingest {ingest.Seconds:F1} s = {ingest.Rows / ingest.Seconds,8:N0} games/s, {rows / ingest.Seconds,9:N0} rows/s ({rows:N0} rows in {plan.Tables.Count} tables) | " +
                    $"plain COPY {copySeconds:F1} s = {rows / copySeconds,9:N0} rows/s | ratio {copySeconds / ingest.Seconds:F2}");
                Console.WriteLine($"    CPU: ingest {ingestCpu}; plain COPY {copyCpu}");
                Console.WriteLine($"    WAL: ingest {ingestWal / 1048576.0:F0} MiB; plain COPY {copyWal / 1048576.0:F0} MiB");
                (ratios.TryGetValue(foreignKeys, out var list) ? list : ratios[foreignKeys] = []).Add(copySeconds / ingest.Seconds);
            }
            Console.WriteLine($"peak RSS per silo: {string.Join(", ", processes.Select(p => $"{Benchmark.PeakRssMiB(p):F0} MiB"))}");
            if (repeat > 1)
                foreach (var (foreignKeys, list) in ratios)
                    Console.WriteLine($"{(foreignKeys ? "with foreign keys   " : "without foreign keys")}: median ratio of {list.Count} runs {list.Order().ElementAt(list.Count / 2):F2} (each: {string.Join(", ", list.Select(r => r.ToString("F2")))})");
            return 0;
        }
        finally
        {
            foreach (var p in processes)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }
            Directory.Delete(work, recursive: true);
        }
    }

    // The server's WAL position in bytes: what a load wrote to the WAL (and will write to the tables).
    private static async Task<long> WalAsync(NpgsqlDataSource db)
    {
        await using var cmd = db.CreateCommand("SELECT pg_current_wal_lsn() - '0/0'");
        return (long)(decimal)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<long> CountAsync(NpgsqlDataSource db, string table)
    {
        await using var cmd = db.CreateCommand($"SELECT count(*) FROM {table}");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<byte[]> ExportAsync(NpgsqlConnection connection, string table)
    {
        var buffer = new MemoryStream();
        await using (var copy = await connection.BeginRawBinaryCopyAsync($"COPY {table} TO STDOUT (FORMAT BINARY)"))
            await copy.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static async Task ImportAsync(NpgsqlConnection connection, string table, byte[] data)
    {
        await using var copy = await connection.BeginRawBinaryCopyAsync($"COPY {table} FROM STDIN (FORMAT BINARY)");
        await copy.WriteAsync(data);
    }
}
