using System.Diagnostics;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// A SQL database as the source: a table of ten columns read in key ranges by the silos
/// (<c>ingest submit --wait</c>) against the same table piped between the same two databases by
/// the engines' own clients, in interleaved rounds of the same run. PostgreSQL → PostgreSQL
/// (5,000,000 rows by default) against <c>psql \copy (SELECT …) TO STDOUT (FORMAT binary) | psql
/// \copy t FROM STDIN (FORMAT binary)</c>; and (unless <c>--no-mariadb</c>) MariaDB → PostgreSQL (1,000,000
/// rows) against <c>mariadb --batch | psql \copy</c>, on a MariaDB started for the run
/// (<see cref="LocalMariaDb"/>). Both databases live on this machine's servers.
/// </summary>
public static class SqlBenchmark
{
    private const string Columns = "id, customer_id, product_id, quantity, price, discount, status, created_at, shipped_on, note";

    public static async Task<int> RunAsync(string[] args)
    {
        var rows = Benchmark.Option(args, "--rows", 5_000_000);
        var mariaRows = Benchmark.Option(args, "--maria-rows", 1_000_000);
        var silos = Benchmark.Option(args, "--silos", 2);
        var runs = Benchmark.Option(args, "--runs", 3);
        var ranges = Benchmark.Option(args, "--ranges", 16);
        // One range in flight per silo: on two cores, more concurrent COPYs into one keyed table cost
        // PostgreSQL more (each splits the key's index pages in the middle) than they overlap.
        var parallelism = Benchmark.Option(args, "--parallelism", 2);
        var cs = Environment.GetEnvironmentVariable("INGEST_DB");
        if (string.IsNullOrEmpty(cs))
        {
            Console.Error.WriteLine("INGEST_DB is not set (bin/bench sets it to a database on the local PostgreSQL)");
            return 64;
        }
        var work = Directory.CreateTempSubdirectory("ingest-bench-sql-").FullName;
        var processes = new List<Process>();
        LocalMariaDb? maria = null;
        try
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await SchemaMigrator.MigrateAsync(db);
            var shop = await CreateShopAsync(cs, rows);
            var env = new Dictionary<string, string> { ["SHOP_DB"] = shop };
            if (!args.Contains("--no-mariadb"))
            {
                maria = await LocalMariaDb.StartAsync(work);
                await maria.ExecuteAsync($"""
                    CREATE DATABASE shop; USE shop;
                    CREATE TABLE sales (id BIGINT PRIMARY KEY, customer_id INT, product_id INT, quantity INT, price DECIMAL(12,2), discount DOUBLE,
                                        status VARCHAR(12), created_at TIMESTAMP(6), shipped_on DATE, note VARCHAR(60));
                    INSERT INTO sales SELECT seq, seq % 50000, seq % 2000, 1 + seq % 9, (seq % 100000) / 100, (seq % 20) / 100, ELT(1 + seq % 3, 'paid', 'shipped', 'returned'),
                           TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, DATE '2024-01-01' + INTERVAL (seq % 700) DAY, CONCAT('order ', seq, ' of the shop')
                    FROM seq_1_to_{mariaRows};
                    """);
                env["MARIA_DB"] = maria.ConnectionString("shop");
            }
            Console.WriteLine($"sql data: {rows:N0} rows in PostgreSQL{(maria is null ? "" : $", {mariaRows:N0} in MariaDB")}; {ranges} ranges; {silos} silos; {Environment.ProcessorCount} cores");
            processes.AddRange(Enumerable.Range(0, silos).Select(_ => Benchmark.StartSilo(cs, env)));
            // Warm silos, as a cluster that runs is: three small imports first.
            for (var i = 1; i <= 3; i++) await SubmitAsync(db, work, "postgres", "SHOP_DB", "sql_warm", ranges, $"WHERE id <= {200_000 * i}", parallelism);

            var ratios = new List<double>();
            var mariaRatios = new List<double>();
            for (var run = 1; run <= runs; run++)
            {
                var before = CpuClock.Read(processes);
                var psql = await PipeAsync(db, processes, cs, "sql_psql", $"""
                    '{Psql()}' '{PostgresTools.ConnInfo(shop)}' -v ON_ERROR_STOP=1 -c "\copy (SELECT {Columns} FROM sales) TO STDOUT (FORMAT binary)" | '{Psql()}' '{PostgresTools.ConnInfo(cs)}' -v ON_ERROR_STOP=1 -c "\copy sql_psql FROM STDIN (FORMAT binary)"
                    """);
                var psqlCpu = CpuClock.Read(processes) - before;
                await Benchmark.QuiesceAsync(db, processes);
                before = CpuClock.Read(processes);
                var ingest = await SubmitAsync(db, work, "postgres", "SHOP_DB", "sql_ingest", ranges, parallelism: parallelism);
                var ingestCpu = CpuClock.Read(processes) - before;
                ratios.Add(psql / ingest.Command);
                Console.WriteLine($"round {run}: PostgreSQL → PostgreSQL: psql | psql {psql:F2} s | submit --wait {ingest.Command:F2} s (import {ingest.Import:F2} s) = {rows / ingest.Command:N0} rows/s | ratio {psql / ingest.Command:F2}");
                Console.WriteLine($"         CPU: psql | psql {psqlCpu} | ingest {ingestCpu.ToString().Replace("nodes", "silos")}");
                if (maria is null) continue;
                var batch = await PipeAsync(db, processes, cs, "sql_mariadb", $"""
                    '{maria.Client}' --socket='{maria.Socket}' -uroot --batch --skip-column-names -e "SELECT {Columns} FROM shop.sales" | '{Psql()}' '{PostgresTools.ConnInfo(cs)}' -v ON_ERROR_STOP=1 -c "\copy sql_mariadb FROM STDIN (FORMAT text, NULL 'NULL')"
                    """);
                await Benchmark.QuiesceAsync(db, processes);
                var fromMaria = await SubmitAsync(db, work, "mysql", "MARIA_DB", "sql_maria_ingest", ranges, parallelism: parallelism);
                mariaRatios.Add(batch / fromMaria.Command);
                Console.WriteLine($"round {run}: MariaDB → PostgreSQL: mariadb --batch | psql {batch:F2} s = {mariaRows / batch:N0} rows/s | submit --wait {fromMaria.Command:F2} s = {mariaRows / fromMaria.Command:N0} rows/s | ratio {batch / fromMaria.Command:F2}");
            }
            Console.WriteLine($"sql, PostgreSQL → PostgreSQL across {silos} silos / psql | psql: median {Median(ratios):F2}   goal ≥ 0.8   (each: {string.Join(", ", ratios.Select(r => r.ToString("F2")))})");
            if (maria is not null) Console.WriteLine($"sql, MariaDB → PostgreSQL / mariadb --batch | psql: median {Median(mariaRatios):F2}   (each: {string.Join(", ", mariaRatios.Select(r => r.ToString("F2")))})");
            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited) process.Kill();
                await process.WaitForExitAsync();
            }
            if (maria is not null) await maria.DisposeAsync();
            Directory.Delete(work, recursive: true);
        }
    }

    // The shop: a database of its own on the same server, with the sales table.
    private static async Task<string> CreateShopAsync(string cs, int rows)
    {
        await using (var admin = NpgsqlDataSource.Create(cs))
        await using (var cmd = admin.CreateCommand("DROP DATABASE IF EXISTS ingest_bench_shop WITH (FORCE); CREATE DATABASE ingest_bench_shop"))
            await cmd.ExecuteNonQueryAsync();
        var shop = new NpgsqlConnectionStringBuilder(cs) { Database = "ingest_bench_shop", CommandTimeout = 0 }.ConnectionString;
        await using var source = NpgsqlDataSource.Create(shop);
        await using var fill = source.CreateCommand($"""
            CREATE TABLE sales (id bigint PRIMARY KEY, customer_id int, product_id int, quantity int, price numeric(12,2), discount double precision,
                                status text, created_at timestamptz, shipped_on date, note text);
            INSERT INTO sales SELECT g, g % 50000, g % 2000, 1 + g % 9, (g % 100000) / 100.0, (g % 20) / 100.0, (ARRAY['paid', 'shipped', 'returned'])[1 + g % 3],
                   timestamptz '2024-01-01' + g * interval '1 second', date '2024-01-01' + g % 700, 'order ' || g || ' of the shop'
            FROM generate_series(1, {rows}) g;
            """);
        await fill.ExecuteNonQueryAsync();
        await using var vacuum = source.CreateCommand("VACUUM ANALYZE sales");
        await vacuum.ExecuteNonQueryAsync();
        return shop;
    }

    // A shell pipe between the engines' clients into a fresh table made like the import's; its seconds.
    private static async Task<double> PipeAsync(NpgsqlDataSource db, List<Process> processes, string cs, string table, string pipe)
    {
        await CreateTargetAsync(db, table);
        await Benchmark.QuiesceAsync(db, processes);
        var (_, seconds) = await PostgresTools.RunAsync("bash", "-o", "pipefail", "-c", pipe.Trim());
        await DropAsync(db, table);
        return seconds;
    }

    private static async Task<(double Command, double Import)> SubmitAsync(NpgsqlDataSource db, string work, string engine, string variable, string table, int ranges, string where = "", int parallelism = 0)
    {
        var name = "bench-" + table;
        var specFile = Path.Combine(work, table + ".json");
        var from = engine == "postgres" ? "sales" : "shop.sales";
        await File.WriteAllTextAsync(specFile, $$"""
            {
              "name": "{{name}}",
              "source": { "kind": "sql", "engine": "{{engine}}", "connection": "${{{variable}}}", "query": "SELECT {{Columns}} FROM {{from}} {{where}}", "splitBy": "id", "ranges": {{ranges}} },
              "target": { "table": "{{table}}", "key": ["id"], "create": true, "columns": {{TargetColumns}} }{{(parallelism > 0 ? $", \"parallelism\": {parallelism}" : "")}}
            }
            """);
        var (_, command, import) = await Benchmark.SubmitWaitAsync(db, specFile, name);
        await DropAsync(db, table);
        return (command, import);
    }

    private const string TargetColumns = """
        {
          "id": { "path": "id", "type": "bigint" }, "customer_id": { "path": "customer_id", "type": "int" }, "product_id": { "path": "product_id", "type": "int" },
          "quantity": { "path": "quantity", "type": "int" }, "price": { "path": "price", "type": "numeric" }, "discount": { "path": "discount", "type": "double" },
          "status": { "path": "status", "type": "text" }, "created_at": { "path": "created_at", "type": "timestamptz" }, "shipped_on": { "path": "shipped_on", "type": "date" },
          "note": { "path": "note", "type": "text" }
        }
        """;

    private static async Task CreateTargetAsync(NpgsqlDataSource db, string table)
    {
        await using var cmd = db.CreateCommand($"""
            CREATE TABLE {SqlIdentifier.Quote(table)} (id bigint PRIMARY KEY, customer_id integer, product_id integer, quantity integer, price numeric,
                discount double precision, status text, created_at timestamptz, shipped_on date, note text)
            """);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task DropAsync(NpgsqlDataSource db, string table)
    {
        await using var drop = db.CreateCommand($"DROP TABLE IF EXISTS {SqlIdentifier.Quote(table)}");
        await drop.ExecuteNonQueryAsync();
    }

    private static string Psql() => Path.Combine(PostgresTools.Bin(), "psql");

    private static double Median(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);
}
