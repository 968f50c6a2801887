using System.Diagnostics;
using Ingest.Client;
using Ingest.GrainInterfaces;
using Ingest.Engine.Json;
using Ingest.Engine.Loading;
using Ingest.Engine.Mapping;
using Ingest.Engine.Relational;
using Ingest.Engine.Sources;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Bench;

/// <summary>
/// Loads N generated RAWG-like files with real node processes and compares the rate with one plain
/// binary COPY of the same rows into the same (emptied) table, in one run. Then loads many one-record
/// files to measure how fast units complete, which is what a hot counter row would limit.
/// </summary>
public static class Benchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var files = Option(args, "--files", 200);
        var perFile = Option(args, "--per-file", 500);
        var nodes = Option(args, "--silos", 2);
        var tinyUnits = Option(args, "--tiny-units", 2000);
        var manyFiles = Option(args, "--many-files", 10_000);
        // What a spec without one gets. More (every slot: 8 here) adds concurrent COPYs into one
        // table, which cost PostgreSQL more CPU on this 2-core machine (docs/BENCHMARKS.md).
        var parallelism = Option(args, "--parallelism", ImportSpec.DefaultParallelism);
        var runs = Option(args, "--runs", 5);
        var keyed = !args.Contains("--plain-insert");
        var bigRecords = Option(args, "--big-records", 400_000);
        var coldRows = Option(args, "--cold-rows", 1_000_000);
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }

        var work = Directory.CreateTempSubdirectory("ingest-bench-").FullName;
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            var pages = Path.Combine(work, "rawg");
            RawgSample.Write(pages, files, perFile);
            var spec = ImportSpecParser.ParseJson(RawgSample.Spec("bench-games", pages, "games", parallelism));
            var bytes = Directory.GetFiles(pages).Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"data: {files} files × {perFile} records = {files * perFile:N0} rows, {bytes / 1048576.0:F1} MiB of JSON; {nodes} silos × {2 * Environment.ProcessorCount} slots, parallelism {parallelism}; {Environment.ProcessorCount} cores; {(keyed ? "upsert on id" : "plain insert")}");

            var parse = Stopwatch.StartNew();
            var rows = await ReadRowsAsync(spec, pages);
            Console.WriteLine($"read + map only   : {rows.Count:N0} rows in {parse.Elapsed.TotalSeconds:F2} s = {rows.Count / parse.Elapsed.TotalSeconds,10:N0} rows/s (one thread, no database, cold)");

            var processes = Enumerable.Range(0, nodes).Select(_ => StartSilo(cs)).ToList();
            try
            {
                // Nodes are long-lived: measure them warm, as they run in production. The JIT optimises
                // hot code in stages, so the warm-up is the measured load itself, a few times over.
                for (var i = 0; i < 3; i++)
                {
                    await IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.Spec("bench-warm-up", pages, $"games_warm_{i}", parallelism)));
                    await DropAsync(db, $"games_warm_{i}");
                }

                // COPY and ingest alternate, each into the same empty table, so machine noise hits both alike.
                var ratios = new List<double>();
                for (var run = 1; run <= runs; run++)
                {
                    var runSpec = ImportSpecParser.ParseJson(RawgSample.Spec("bench-games", pages, $"games_{run}", parallelism, keyed));
                    await QuiesceAsync(db, processes);
                    var before = CpuClock.Read(processes);
                    var copy = await PlainCopyAsync(db, runSpec, rows);
                    var copyCpu = CpuClock.Read(processes) - before;
                    await QuiesceAsync(db, processes);
                    before = CpuClock.Read(processes);
                    var ingest = await IngestAsync(db, runSpec);
                    var ingestCpu = CpuClock.Read(processes) - before;
                    var ratio = ingest.Rows / ingest.Seconds / (copy.Rows / copy.Seconds);
                    ratios.Add(ratio);
                    Console.WriteLine($"run {run}: plain binary COPY {copy.Rows / copy.Seconds,9:N0} rows/s ({copy.Seconds:F2} s; CPU {copyCpu}) | " +
                        $"ingest {ingest.Rows / ingest.Seconds,9:N0} rows/s ({ingest.Seconds:F2} s; CPU {ingestCpu}) | ratio {ratio:F2}");
                    if (run < runs) await DropAsync(db, $"games_{run}"); // the last one is re-loaded below
                }
                Console.WriteLine($"ratio ingest/COPY : {ratios.Order().ElementAt(ratios.Count / 2):F2} (median of {runs})");

                // The same rows again: every key exists, so each unit goes through staging and merge.
                var reload = await IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.Spec("bench-reload", pages, $"games_{runs}", parallelism, keyed)));
                Console.WriteLine($"re-load, unchanged: {reload.Rows:N0} rows in {reload.Seconds:F2} s = {reload.Rows / reload.Seconds,10:N0} rows/s");

                var tinyPages = Path.Combine(work, "tiny");
                RawgSample.Write(tinyPages, tinyUnits, 1);
                // Tiny units run paths the loads above barely warmed (a unit's claim, fence and grain
                // calls, once per unit): the JIT was still optimising them through a cold tiny run.
                await IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.Spec("bench-tiny-warm-up", tinyPages, "games_tiny_warm", parallelism)));
                await DropAsync(db, "games_tiny_warm");
                await QuiesceAsync(db, processes);
                var tinyBefore = CpuClock.Read(processes);
                var tinySpec = ImportSpecParser.ParseJson(RawgSample.Spec("bench-tiny", tinyPages, "games_tiny", parallelism));
                var tiny = await IngestAsync(db, tinySpec);
                var tinyCpu = CpuClock.Read(processes) - tinyBefore;
                Console.WriteLine($"tiny units        : {tinyUnits:N0} one-record units in {tiny.Seconds:F2} s = {tinyUnits / tiny.Seconds,10:N0} units/s completed; CPU {tinyCpu}");
                await QuiesceAsync(db, processes);
                var tps = await PgbenchBaseline.RunAsync(db, cs, tinySpec, tiny.Id, work);
                Console.WriteLine($"tiny units / pgbench: {tinyUnits / tiny.Seconds / tps:F2} (pgbench, 8 clients, one upsert + one fenced unit update per transaction: {tps:N0} tx/s)");
                Console.WriteLine($"peak RSS per silo : {string.Join(", ", processes.Select(p => $"{PeakRssMiB(p):F0} MiB"))}");

                // Units start while the listing is still being stored: from submit to the first unit started.
                var manyPages = Path.Combine(work, "many");
                RawgSample.Write(manyPages, manyFiles, 1);
                await QuiesceAsync(db, processes);
                var many = await IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.Spec("bench-many", manyPages, "games_many", parallelism)));
                await using (var first = db.CreateCommand(
                    "SELECT extract(epoch FROM min(u.started_at) - i.submitted_at)::float8, extract(epoch FROM i.planned_at - i.submitted_at)::float8 FROM ingest.units u JOIN ingest.imports i ON i.id = u.import_id WHERE i.id = $1 GROUP BY i.id"))
                {
                    first.Parameters.AddWithValue(many.Id);
                    await using var r = await first.ExecuteReaderAsync();
                    await r.ReadAsync();
                    Console.WriteLine($"{manyFiles:N0} files      : first unit started {r.GetDouble(0):F2} s after submit, listing stored after {r.GetDouble(1):F2} s; all loaded in {many.Seconds:F2} s");
                }
                // What `ingest status` costs: it reads the import's counters, not its units.
                Console.WriteLine($"status            : {await StatusMillisecondsAsync(db, reload.Id):F2} ms a call for {files:N0} units, {await StatusMillisecondsAsync(db, many.Id):F2} ms for {manyFiles:N0} (median of 50)");

                // One big file is one unit: memory must not grow with it (the reader streams).
                var bigPages = Path.Combine(work, "big");
                RawgSample.Write(bigPages, 1, bigRecords);
                var bigMiB = new FileInfo(Directory.GetFiles(bigPages)[0]).Length / 1048576.0;
                var big = await IngestAsync(db, ImportSpecParser.ParseJson(RawgSample.Spec("bench-big", bigPages, "games_big", parallelism, keyed)));
                Console.WriteLine($"one {bigMiB:F0} MiB file : {big.Rows:N0} rows in {big.Seconds:F2} s; peak RSS per silo now {string.Join(", ", processes.Select(p => $"{PeakRssMiB(p):F0} MiB"))}");
            }
            finally
            {
                foreach (var p in processes)
                {
                    p.Kill();
                    await p.WaitForExitAsync();
                }
            }
            if (coldRows > 0) await ColdStart.RunAsync(db, cs, work, coldRows, parallelism);
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Reads and maps a folder of generated pages three times, without a database: the engine's CPU cost alone.</summary>
    public static async Task<int> ParseOnlyAsync(string folder)
    {
        var spec = ImportSpecParser.ParseJson(RawgSample.Spec("parse", folder, "games"));
        for (var run = 1; run <= 3; run++)
        {
            var clock = Stopwatch.StartNew();
            var rows = await ReadRowsAsync(spec, folder);
            Console.WriteLine($"run {run}: {rows.Count:N0} rows in {clock.Elapsed.TotalSeconds:F2} s = {rows.Count / clock.Elapsed.TotalSeconds:N0} rows/s");
        }
        return 0;
    }

    /// <summary>Reads and maps a folder of generated nested pages into every table's rows (encoded for COPY, as a first load does) three times, without a database.</summary>
    public static async Task<int> NestedParseOnlyAsync(string folder)
    {
        var spec = ImportSpecParser.ParseJson(RawgSample.NestedSpec("parse", folder));
        var plan = new LoadPlan(spec.Target);
        var sinks = RelationalMapper.CreateSinks(plan); // reused unit after unit, as a load reuses them
        foreach (var sink in sinks) sink.EncodeRecords(RelationalLoad.Encoding(sink.Table, direct: true));
        for (var run = 1; run <= 3; run++)
        {
            var clock = Stopwatch.StartNew();
            long rows = 0, records = 0;
            foreach (var file in Directory.GetFiles(folder).Order())
            {
                var mapper = new RelationalMapper(plan, sinks: sinks);
                var facts = new UnitFacts(1, new SourceObject(file, new FileInfo(file).Length));
                await using var stream = File.OpenRead(file);
                await foreach (var record in new JsonRecordReader(file, spec.Source.Records, ndjson: false).ReadAsync(stream))
                {
                    mapper.TryMap(record.Span, facts, records++, out _);
                    if (!RelationalLoad.IsFull(mapper)) continue;
                    rows += mapper.Buffered;
                    foreach (var sink in mapper.Sinks) sink.Clear();
                }
                rows += mapper.Buffered;
                foreach (var sink in mapper.Sinks) sink.Clear();
            }
            Console.WriteLine($"run {run}: {records:N0} records, {rows:N0} rows in {clock.Elapsed.TotalSeconds:F2} s = {rows / clock.Elapsed.TotalSeconds:N0} rows/s");
        }
        return 0;
    }

    private static async Task<List<MappedRow>> ReadRowsAsync(ImportSpec spec, string pages)
    {
        var mapper = new RecordMapper(spec.Target.Columns, spec.Target.Key);
        var rows = new List<MappedRow>();
        var row = mapper.CreateRow();
        foreach (var file in Directory.GetFiles(pages).Order())
        {
            await using var stream = File.OpenRead(file);
            await foreach (var record in new JsonRecordReader(file, spec.Source.Records, ndjson: false).ReadAsync(stream))
                if (mapper.TryMap(record.Span, row, out _)) rows.Add(row.Clone());
        }
        return rows;
    }

    private static async Task<(long Rows, double Seconds)> PlainCopyAsync(NpgsqlDataSource db, ImportSpec spec, List<MappedRow> rows)
    {
        var table = new TargetTable(spec.Target);
        await using var connection = await db.OpenConnectionAsync();
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await table.EnsureAsync(connection);
            await tx.CommitAsync();
        }
        await using (var truncate = new NpgsqlCommand($"TRUNCATE {table.QualifiedName}", connection)) await truncate.ExecuteNonQueryAsync();

        var clock = Stopwatch.StartNew();
        // The engine's own COPY writer, straight into the table: the same binary COPY, nothing else.
        await using (var copy = await CopyLoader.BeginAsync(connection, table, staged: false))
        {
            foreach (var row in rows) await copy.WriteAsync(row);
            await copy.CompleteAsync();
        }
        var seconds = clock.Elapsed.TotalSeconds;
        await using (var truncate = new NpgsqlCommand($"TRUNCATE {table.QualifiedName}", connection)) await truncate.ExecuteNonQueryAsync();
        return (rows.Count, seconds);
    }

    // After a load the nodes' JIT may still compile hot methods again, optimised, in the background:
    // wait for that to end (no node uses CPU for half a second), or it lands in the next measurement.
    private static async Task NodesIdleAsync(IReadOnlyList<Process> nodes)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var before = CpuClock.Read(nodes).Nodes;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            var now = CpuClock.Read(nodes).Nodes;
            if (now - before < 0.02) return;
            before = now;
        }
    }

    // Tables left behind would be vacuumed and analysed by autovacuum during a later measurement.
    private static async Task DropAsync(NpgsqlDataSource db, string table)
    {
        await using var drop = db.CreateCommand($"DROP TABLE {SqlIdentifier.Quote(table)}");
        await drop.ExecuteNonQueryAsync();
    }

    // Each measurement starts with idle nodes and from a fresh checkpoint, so neither pays for the
    // other's background work or WAL.
    internal static async Task QuiesceAsync(NpgsqlDataSource db, IReadOnlyList<Process> nodes)
    {
        await NodesIdleAsync(nodes);
        await CheckpointAsync(db);
    }

    public static async Task CheckpointAsync(NpgsqlDataSource db)
    {
        await using var checkpoint = db.CreateCommand("CHECKPOINT");
        try { await checkpoint.ExecuteNonQueryAsync(); }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege) { } // not a superuser: measure as is
    }

    private static ClusterConnection? _cluster;

    // Submits through the cluster, as the console does; the first call waits for a silo's gateway.
    // The median time of a whole status of the import, over 50 calls.
    private static async Task<double> StatusMillisecondsAsync(NpgsqlDataSource db, long id)
    {
        var catalog = new ImportCatalog(db);
        var times = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var clock = Stopwatch.StartNew();
            await catalog.GetStatusAsync(id);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return times.Order().ElementAt(times.Count / 2);
    }

    internal static async Task<(long Id, long Rows, double Seconds)> IngestAsync(NpgsqlDataSource db, ImportSpec spec)
    {
        var store = new ImportCatalog(db);
        while (_cluster is null)
        {
            (_cluster, _) = await ClusterConnection.TryConnectAsync(db.ConnectionString, "ingest");
            if (_cluster is null) await Task.Delay(500);
        }
        var (id, _) = await new ImportControl(store, _ => Task.FromResult<IClusterClient?>(_cluster.Client)).SubmitAsync(spec);
        // Polls the import's state alone, so that following the import costs the measured window little.
        while (!(await store.GetImportAsync(id))!.State.IsFinal()) await Task.Delay(100);
        var status = (await store.GetStatusAsync(id))!;
        if (status.State != ImportState.Completed)
            throw new InvalidOperationException($"import ended {status.State.Name()}: {status.Error} {status.FailedUnits.FirstOrDefault()?.Error}");
        return (id, status.Rows.Read, (status.FinishedAt!.Value - status.StartedAt!.Value).TotalSeconds);
    }

    /// <summary>Connects to the cluster once a silo's gateway answers (outside a measured window).</summary>
    internal static async Task ConnectAsync(NpgsqlDataSource db)
    {
        while (_cluster is null)
        {
            (_cluster, _) = await ClusterConnection.TryConnectAsync(db.ConnectionString, "ingest");
            if (_cluster is null) await Task.Delay(500);
        }
    }

    /// <summary>Submits through the cluster, as the console does, and returns the import's id at once.</summary>
    internal static async Task<long> SubmitOnlyAsync(NpgsqlDataSource db, ImportSpec spec)
    {
        await ConnectAsync(db);
        return (await Control(db).SubmitAsync(spec)).Id;
    }

    /// <summary>Cancels an import through the cluster (a continuous one runs until then).</summary>
    internal static async Task CancelAsync(NpgsqlDataSource db, long id) => await Control(db).CancelAsync(id);

    private static ImportControl Control(NpgsqlDataSource db) => new(new ImportCatalog(db), _ => Task.FromResult<IClusterClient?>(_cluster!.Client));

    /// <summary>
    /// <c>ingest submit SPEC --wait</c>, as a user runs it: the whole command timed, and the import's
    /// own start to end (the newest import named <paramref name="name"/>), which must have completed.
    /// </summary>
    internal static async Task<(long Id, double Command, double Import)> SubmitWaitAsync(NpgsqlDataSource db, string specFile, string name)
    {
        var (_, seconds) = await PostgresTools.RunAsync("dotnet", ProgramDll("Client"), "submit", specFile, "--wait");
        await using var cmd = db.CreateCommand("SELECT id, extract(epoch FROM finished_at - started_at)::float8, state FROM ingest.imports WHERE name = $1 ORDER BY id DESC LIMIT 1");
        cmd.Parameters.AddWithValue(name);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        if (StateNames.ToImportState(reader.GetString(2)) != ImportState.Completed) throw new InvalidOperationException($"{name} ended {reader.GetString(2)}");
        return (reader.GetInt64(0), seconds, reader.GetDouble(1));
    }

    public static Process StartSilo(string cs, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(ProgramDll("Silo"));
        psi.Environment["INGEST_DB"] = cs;
        foreach (var (name, value) in env ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        return process;
    }

    // VmHWM: the process's peak resident set.
    internal static double PeakRssMiB(Process process) =>
        File.ReadLines($"/proc/{process.Id}/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0).FirstOrDefault();

    /// <summary>
    /// A program's assembly: the Release build's, or under <c>INGEST_BENCH_APP</c> when set (a folder
    /// holding <c>silo/</c> and <c>client/</c>, e.g. published with ReadyToRun, to compare).
    /// </summary>
    public static string ProgramDll(string project) => Environment.GetEnvironmentVariable("INGEST_BENCH_APP") is { Length: > 0 } app
        ? Path.Combine(app, project.ToLowerInvariant(), $"Ingest.{project}.dll")
        : Path.Combine(RepoRoot(), project, "bin", "Release", "net10.0", $"Ingest.{project}.dll");

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OrleansIngest.sln"))) return dir.FullName;
        throw new InvalidOperationException("OrleansIngest.sln not found");
    }

    internal static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }
}
