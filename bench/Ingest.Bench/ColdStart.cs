using Ingest.GrainInterfaces;
using Ingest.Engine.Loading;
using Npgsql;
using Ingest.Catalog;

namespace Ingest.Bench;

/// <summary>
/// End to end and cold, as a user meets it: <c>ingest submit --wait</c> of N rows on two silos that
/// just started (JIT, connection pools and all), against <c>psql \copy</c> of the same rows as TSV
/// into the same kind of table. Both are timed as whole commands.
/// </summary>
public static class ColdStart
{
    public static async Task RunAsync(NpgsqlDataSource db, string cs, string work, int rows, int parallelism)
    {
        const int perFile = 5000;
        var files = Math.Max(1, rows / perFile);
        var pages = Path.Combine(work, "cold");
        RawgSample.Write(pages, files, perFile);
        var specFile = Path.Combine(work, "cold.json");
        await File.WriteAllTextAsync(specFile, RawgSample.Spec("bench-cold", pages, "games_cold", parallelism));
        var spec = ImportSpecParser.ParseJson(await File.ReadAllTextAsync(specFile));
        var tsv = Path.Combine(work, "cold.tsv");
        var written = await PsqlCopyBaseline.WriteTsvAsync(spec, pages, tsv);
        var mib = Directory.GetFiles(pages).Sum(f => new FileInfo(f).Length) / 1048576.0;

        // The baseline: the same table (name aside), created beforehand, loaded by psql \copy.
        var baseline = new TargetTable(spec.Target with { Table = "games_cold_psql" });
        await using (var connection = await db.OpenConnectionAsync()) await baseline.EnsureAsync(connection);
        await Benchmark.CheckpointAsync(db);
        var (_, psql) = await PostgresTools.RunAsync(Path.Combine(PostgresTools.Bin(), "psql"), PostgresTools.ConnInfo(cs),
            "-v", "ON_ERROR_STOP=1", "-c", $"\\copy {baseline.QualifiedName} FROM '{tsv}'");

        // Two silos that just started: wait until both are active, then submit from the console.
        await Benchmark.CheckpointAsync(db);
        var silos = new[] { Benchmark.StartSilo(cs), Benchmark.StartSilo(cs) };
        try
        {
            var catalog = new ImportCatalog(db);
            var pids = silos.Select(s => s.Id).ToHashSet();
            while ((await catalog.ListSilosAsync("ingest")).Count(s => s.Status == "active" && s.Pid is { } pid && pids.Contains(pid)) < 2)
                await Task.Delay(100);
            var (_, ingest) = await PostgresTools.RunAsync("dotnet", Benchmark.ProgramDll("Client"),
                "submit", specFile, "--wait");
            var loaded = await db.CreateCommand("SELECT count(*) FROM games_cold").ExecuteScalarAsync();
            Console.WriteLine($"cold, end to end  : {written:N0} rows ({mib:F0} MiB of JSON, {files} files): psql \\copy of TSV {psql:F2} s = {written / psql,9:N0} rows/s | " +
                $"submit --wait on two just-started silos {ingest:F2} s = {written / ingest,9:N0} rows/s ({loaded:N0} rows) | ratio {psql / ingest:F2}");
        }
        finally
        {
            foreach (var silo in silos)
            {
                silo.Kill();
                await silo.WaitForExitAsync();
            }
        }
    }
}
