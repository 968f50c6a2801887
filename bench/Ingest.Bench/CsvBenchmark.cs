using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ingest.Catalog;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// One large CSV file of ten columns into a keyed table: the import on warm silos, against
/// <c>psql \copy … (format csv, header)</c> of the same file into the same kind of table, and
/// <c>pgloader</c> when it is installed, in the same run. The file is one unit (one silo reads it;
/// loading ranges of one file in parallel is the next issue's), committed in chunks.
/// </summary>
public static class CsvBenchmark
{
    private const string Header = "id,code,name,city,category,quantity,price,rate,day,note";

    private static readonly string[] Cities = ["Madrid", "Sevilla", "A Coruña", "Bilbao", "València", "Málaga"];

    public static async Task<int> RunAsync(string[] args)
    {
        // About 110 bytes a row: ten million rows make a file of about 1 GiB.
        var rows = Benchmark.Option(args, "--rows", 10_000_000);
        var silos = Benchmark.Option(args, "--silos", 2);
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
            var mib = new FileInfo(file).Length / 1048576.0;
            Console.WriteLine($"csv data: {rows:N0} rows, {mib:F0} MiB in one file; {silos} silos; {Environment.ProcessorCount} cores");

            processes.AddRange(Enumerable.Range(0, silos).Select(_ => Benchmark.StartSilo(cs)));
            for (var i = 0; i < 3; i++) await Benchmark.IngestAsync(db, Spec(warm, $"csv_warm_{i}"));

            // psql \copy: PostgreSQL parses the CSV itself.
            var table = new TargetTable(Spec(data, "csv_psql").Target);
            await using (var connection = await db.OpenConnectionAsync()) await table.EnsureAsync(connection);
            await Benchmark.QuiesceAsync(db, processes);
            var (_, psql) = await PostgresTools.RunAsync(Path.Combine(PostgresTools.Bin(), "psql"), PostgresTools.ConnInfo(cs),
                "-v", "ON_ERROR_STOP=1", "-c", $"\\copy {table.QualifiedName} FROM '{file}' (FORMAT csv, HEADER)");

            await Benchmark.QuiesceAsync(db, processes);
            var (_, loaded, ingest) = await Benchmark.IngestAsync(db, Spec(data, "csv_ingest"));
            Console.WriteLine($"csv, one {mib:F0} MiB file into a keyed table: psql \\copy (format csv) {psql:F2} s = {rows / psql,10:N0} rows/s | " +
                              $"ingest {ingest:F2} s = {loaded / ingest,10:N0} rows/s | ratio {psql / ingest:F2}");

            if (Which("pgloader") is { } pgloader)
            {
                var target = new TargetTable(Spec(data, "csv_pgloader").Target);
                await using (var connection = await db.OpenConnectionAsync()) await target.EnsureAsync(connection);
                await Benchmark.QuiesceAsync(db, processes);
                var csb = new NpgsqlConnectionStringBuilder(cs);
                var url = $"postgresql://{Uri.EscapeDataString(csb.Username ?? Environment.UserName)}{(csb.Password is { } pw ? ":" + Uri.EscapeDataString(pw) : "")}@{csb.Host}:{csb.Port}/{csb.Database}?csv_pgloader";
                var (_, seconds) = await PostgresTools.RunAsync(pgloader, "--type", "csv", "--field", Header, "--with", "skip header = 1",
                    "--with", "fields terminated by ','", "--with", "fields optionally enclosed by '\"'", file, url);
                Console.WriteLine($"csv, the same file: pgloader {seconds:F2} s = {rows / seconds,10:N0} rows/s | ingest / pgloader ratio {seconds / ingest:F2}");
            }
            else Console.WriteLine("pgloader is not installed (apt-get install pgloader): its ratio is not measured");
            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
            Directory.Delete(work, recursive: true);
        }
    }

    private static ImportSpec Spec(string folder, string table) => ImportSpecParser.ParseJson($$"""
        {
          "name": "bench-{{table}}",
          "source": { "kind": "files", "path": {{System.Text.Json.JsonSerializer.Serialize(folder)}}, "pattern": "*.csv", "csv": { "delimiter": "," } },
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
        """);

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
