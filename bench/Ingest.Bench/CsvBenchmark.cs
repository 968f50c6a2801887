using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ingest.Catalog;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// One large CSV file of ten columns into a keyed table, split into ranges across the silos, as a
/// user runs it (<c>ingest submit --wait</c>), against <c>psql \copy … (format csv, header)</c> of
/// the same file into the same kind of table, in interleaved rounds of the same run; the same file
/// loaded as one unit (<c>--whole</c>); <c>pgloader</c> when it is installed. With <c>--kill</c>:
/// a silo SIGKILLed when 90 % of the file is read, the time from the kill to the end against the
/// time of one range loaded alone; and the silos' peak resident memory.
/// </summary>
public static class CsvBenchmark
{
    private const string Header = "id,code,name,city,category,quantity,price,rate,day,note";

    private static readonly string[] Cities = ["Madrid", "Sevilla", "A Coruña", "Bilbao", "València", "Málaga"];

    public static async Task<int> RunAsync(string[] args)
    {
        // About 85 bytes a row: ten million rows make a file of about 820 MiB.
        var rows = Benchmark.Option(args, "--rows", 10_000_000);
        var silos = Benchmark.Option(args, "--silos", 2);
        var runs = Benchmark.Option(args, "--runs", 3);
        var splitBytes = (long)Benchmark.Option(args, "--split-mib", (int)(SourceSpec.DefaultSplitBytes >> 20)) << 20;
        var whole = args.Contains("--whole");
        var kill = args.Contains("--kill");
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }
        var work = Directory.CreateTempSubdirectory("ingest-bench-csv-").FullName;
        var processes = new List<Process>();
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            var data = Path.Combine(work, "data");
            Directory.CreateDirectory(data);
            var file = Path.Combine(data, "ventas.csv");
            Write(file, rows);
            var warm = Path.Combine(work, "warm");
            Directory.CreateDirectory(warm);
            Write(Path.Combine(warm, "warm.csv"), 200_000);
            var size = new FileInfo(file).Length;
            var mib = size / 1048576.0;
            Console.WriteLine($"csv data: {rows:N0} rows, {mib:F0} MiB in one file, ranges of {splitBytes >> 20} MiB; {silos} silos; {Environment.ProcessorCount} cores");

            processes.AddRange(Enumerable.Range(0, silos).Select(_ => Benchmark.StartSilo(cs)));
            for (var i = 0; i < 3; i++) await SubmitAsync(db, work, warm, $"csv_warm_{i}", splitBytes);

            var split = new List<double>();
            var unsplit = new List<double>();
            for (var run = 1; run <= runs; run++)
            {
                var before = CpuClock.Read(processes);
                var psql = await PsqlCopyAsync(db, processes, cs, data, file);
                var psqlCpu = CpuClock.Read(processes) - before;
                await Benchmark.QuiesceAsync(db, processes);
                before = CpuClock.Read(processes);
                var ingest = await SubmitAsync(db, work, data, "csv_ingest", splitBytes);
                var ingestCpu = CpuClock.Read(processes) - before;
                split.Add(psql / ingest.Command);
                Console.WriteLine($"round {run}: psql \\copy {psql:F2} s | submit --wait, split {ingest.Command:F2} s (import {ingest.Import:F2} s, {ingest.Units} units, the pass over the file {ingest.Planning:F2} s) | ratio {psql / ingest.Command:F2}");
                Console.WriteLine($"         CPU: psql \\copy {psqlCpu} | split {Silos(ingestCpu)}");
                if (!whole) continue;
                await Benchmark.QuiesceAsync(db, processes);
                before = CpuClock.Read(processes);
                var one = await SubmitAsync(db, work, data, "csv_whole", long.MaxValue);
                var oneCpu = CpuClock.Read(processes) - before;
                unsplit.Add(psql / one.Command);
                Console.WriteLine($"round {run}: submit --wait, one unit {one.Command:F2} s (import {one.Import:F2} s) | ratio {psql / one.Command:F2}");
                Console.WriteLine($"         CPU: one unit {Silos(oneCpu)}");
            }
            Console.WriteLine($"csv, one {mib:F0} MiB file split across {silos} silos / psql \\copy: median {Median(split):F2}   goal ≥ 1.0   (each: {string.Join(", ", split.Select(r => r.ToString("F2")))})");
            if (whole) Console.WriteLine($"csv, the same file as one unit / psql \\copy:        median {Median(unsplit):F2}   goal ≥ 0.9   (each: {string.Join(", ", unsplit.Select(r => r.ToString("F2")))})");
            Console.WriteLine($"peak RSS per silo: {string.Join(", ", processes.Select(p => $"{Benchmark.PeakRssMiB(p):F0} MiB"))}   goal ≤ 200 MiB");

            if (kill) await KillAsync(db, cs, processes, work, data, file, rows, size, splitBytes);

            if (Which("pgloader") is { } pgloader)
            {
                var target = new TargetTable(Spec(data, "csv_pgloader", splitBytes).Target);
                await using (var connection = await db.OpenConnectionAsync()) await target.EnsureAsync(connection);
                await Benchmark.QuiesceAsync(db, processes);
                var csb = new NpgsqlConnectionStringBuilder(cs);
                var url = $"postgresql://{Uri.EscapeDataString(csb.Username ?? Environment.UserName)}{(csb.Password is { } pw ? ":" + Uri.EscapeDataString(pw) : "")}@{csb.Host}:{csb.Port}/{csb.Database}?csv_pgloader";
                var (_, seconds) = await PostgresTools.RunAsync(pgloader, "--type", "csv", "--field", Header, "--with", "skip header = 1",
                    "--with", "fields terminated by ','", "--with", "fields optionally enclosed by '\"'", file, url);
                Console.WriteLine($"csv, the same file: pgloader {seconds:F2} s = {rows / seconds,10:N0} rows/s");
                await DropAsync(db, "csv_pgloader");
            }
            else Console.WriteLine("pgloader is not installed (apt-get install pgloader): its ratio is not measured");
            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited) process.Kill();
                await process.WaitForExitAsync();
            }
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Silos(CpuClock cpu) => cpu.ToString().Replace("nodes", "silos");

    // A silo SIGKILLed once 90 % of the file is read: the time from the kill to the end, against one range's file loaded alone.
    private static async Task KillAsync(NpgsqlDataSource db, string cs, List<Process> processes, string work, string data, string file, int rows, long size, long splitBytes)
    {
        var one = Path.Combine(work, "one");
        Directory.CreateDirectory(one);
        Write(Path.Combine(one, "range.csv"), (int)(rows * (double)splitBytes / size));
        await Benchmark.QuiesceAsync(db, processes);
        var alone = await SubmitAsync(db, work, one, "csv_range", long.MaxValue);

        await Benchmark.QuiesceAsync(db, processes);
        var name = "bench-csv-killed";
        var specFile = Path.Combine(work, "killed.json");
        await File.WriteAllTextAsync(specFile, SpecJson(data, "csv_killed", splitBytes).Replace("bench-csv_killed", name));
        var submit = PostgresTools.RunAsync("dotnet", Benchmark.ProgramDll("Client"), "submit", specFile, "--wait");
        var catalog = new ImportCatalog(db);
        long id;
        while (true)
        {
            await Task.Delay(100);
            if ((await catalog.ListAsync()).FirstOrDefault(i => i.Name == name) is not { } import) continue;
            id = import.Id;
            var status = (await catalog.GetStatusAsync(id))!;
            if (status.BytesTotal >= size && status.BytesRead >= 0.9 * size) break;
        }
        var victim = processes[0];
        victim.Kill();
        var clock = Stopwatch.StartNew();
        await submit;
        var after = clock.Elapsed.TotalSeconds;
        var final = (await catalog.GetStatusAsync(id))!;
        Console.WriteLine($"SIGKILL at 90 %: {final.State.Name()}, {final.Rows.Inserted:N0} rows inserted of {rows:N0}; from the kill to the end {after:F2} s | " +
                          $"one range ({splitBytes >> 20} MiB) loaded alone {alone.Command:F2} s (import {alone.Import:F2} s)");
        Console.WriteLine($"peak RSS of the surviving silos: {string.Join(", ", processes.Skip(1).Select(p => $"{Benchmark.PeakRssMiB(p):F0} MiB"))}");
        processes.RemoveAt(0);
        await DropAsync(db, "csv_killed");
        await DropAsync(db, "csv_range");
    }

    // psql \copy: PostgreSQL parses the CSV itself, into a fresh table made like the import's.
    private static async Task<double> PsqlCopyAsync(NpgsqlDataSource db, List<Process> processes, string cs, string data, string file)
    {
        var table = new TargetTable(Spec(data, "csv_psql", SourceSpec.DefaultSplitBytes).Target);
        await using (var connection = await db.OpenConnectionAsync()) await table.EnsureAsync(connection);
        await Benchmark.QuiesceAsync(db, processes);
        var (_, seconds) = await PostgresTools.RunAsync(Path.Combine(PostgresTools.Bin(), "psql"), PostgresTools.ConnInfo(cs),
            "-v", "ON_ERROR_STOP=1", "-c", $"\\copy {table.QualifiedName} FROM '{file}' (FORMAT csv, HEADER)");
        await DropAsync(db, "csv_psql");
        return seconds;
    }

    // From the import's start to the end of its listing: for a split file, the pass that finds its ranges (while they load).
    private static async Task<double> PlanningSecondsAsync(NpgsqlDataSource db, long id)
    {
        await using var cmd = db.CreateCommand("SELECT extract(epoch FROM planned_at - started_at)::float8 FROM ingest.imports WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        return (double)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<(double Command, double Import, long Units, double Planning)> SubmitAsync(NpgsqlDataSource db, string work, string folder, string table, long splitBytes)
    {
        var name = "bench-" + table;
        var specFile = Path.Combine(work, table + ".json");
        await File.WriteAllTextAsync(specFile, SpecJson(folder, table, splitBytes));
        var (id, command, import) = await Benchmark.SubmitWaitAsync(db, specFile, name);
        var units = (await new ImportCatalog(db).GetStatusAsync(id))!.Units.Total;
        await DropAsync(db, table);
        return (command, import, units, await PlanningSecondsAsync(db, id));
    }

    // Tables left behind would be vacuumed by autovacuum during a later measurement.
    private static async Task DropAsync(NpgsqlDataSource db, string table)
    {
        await using var drop = db.CreateCommand($"DROP TABLE IF EXISTS {SqlIdentifier.Quote(table)}");
        await drop.ExecuteNonQueryAsync();
    }

    private static double Median(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);

    private static ImportSpec Spec(string folder, string table, long splitBytes) => ImportSpecParser.ParseJson(SpecJson(folder, table, splitBytes));

    private static string SpecJson(string folder, string table, long splitBytes) => $$"""
        {
          "name": "bench-{{table}}",
          "source": { "kind": "files", "path": {{System.Text.Json.JsonSerializer.Serialize(folder)}}, "pattern": "*.csv", "csv": { "delimiter": "," }, "splitBytes": {{splitBytes}} },
          "target": { "table": "{{table}}", "key": ["id"], "create": true, "columns": {
            "id":       { "path": "id",       "type": "bigint" },
            "code":     { "path": "code",     "type": "text" },
            "name":     { "path": "name",     "type": "text" },
            "city":     { "path": "city",     "type": "text" },
            "category": { "path": "category", "type": "int" },
            "quantity": { "path": "quantity", "type": "int" },
            "price":    { "path": "price",    "type": "numeric" },
            "rate":     { "path": "rate",     "type": "double" },
            "day":      { "path": "day",      "type": "date" },
            "note":     { "path": "note",     "type": "text" } } }
        }
        """;

    // Ten columns of the usual kinds; one row in fifty quotes a field holding the delimiter.
    private static void Write(string path, int rows)
    {
        using var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        file.Write(Header + "\n");
        var day = new DateOnly(2024, 1, 1);
        for (var i = 1; i <= rows; i++)
        {
            file.Write(string.Create(CultureInfo.InvariantCulture,
                $"{i},C{i % 100_000:D6},Cliente número {i % 9973},{Cities[i % Cities.Length]},{i % 40},{i % 17 + 1},{i % 1000 + 0.99m},{i % 97 / 7.0:F4},{day.AddDays(i % 730):yyyy-MM-dd},"));
            file.Write(i % 50 == 0 ? "\"entregado, con retraso\"\n" : "entregado\n");
        }
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);
}
