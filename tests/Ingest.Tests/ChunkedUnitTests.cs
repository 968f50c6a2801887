using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.S3.Model;
using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// Units with a descriptor and a checkpoint: large files committed chunk by chunk and resumed where
/// their last chunk ended, compressed content, streaming planning, attempts that hang.
/// </summary>
public class ChunkedUnitTests(ITestOutputHelper output)
{
    // Records the games spec maps, as a JSON array at "results" with something after it, or as NDJSON.
    private static string WriteGames(TempFolder folder, string name, int records, bool ndjson, int firstId = 1)
    {
        var path = Path.Combine(folder.Path, name);
        using var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        if (!ndjson) file.Write("{\"count\": " + records + ", \"results\": [\n");
        for (var i = 0; i < records; i++)
        {
            var id = firstId + i;
            if (!ndjson && i > 0) file.Write(",\n");
            file.Write($$$"""{"id": {{{id}}}, "name": "Game {{{id}}} with a name long enough to make the file tens of megabytes", "released": "2020-01-{{{1 + id % 28:D2}}}", "rating": {{{id % 5}}}.5, "esrb_rating": {"name": "Teen"}}""");
            if (ndjson) file.Write('\n');
        }
        if (!ndjson) file.Write("\n], \"next\": null}\n");
        return path;
    }

    private static string Spec(string folder, string pattern, int chunkRows, bool keyed = false, int parallelism = 4, string extra = "") =>
        Specs.Files(folder, pattern: pattern, keyed: keyed, parallelism: parallelism)
            .Replace("\"pattern\":", $"\"chunkRows\": {chunkRows}, {extra}\"pattern\":");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_big_file_commits_chunk_by_chunk_and_a_silo_killed_mid_file_resumes_at_its_checkpoint(bool ndjson)
    {
        const int records = 120_000, chunkRows = 10_000;
        using var data = new TempFolder();
        var name = ndjson ? "big.ndjson" : "big.json";
        WriteGames(data, name, records, ndjson);
        output.WriteLine($"{name}: {new FileInfo(Path.Combine(data.Path, name)).Length / (1 << 20)} MiB");
        await using var db = await TestDatabase.CreateAsync();
        // Each chunk's COPY sleeps: the unit is slow enough to be killed between checkpoints.
        await SlowTarget.CreateAsync(db, seconds: 0.4);
        // Two silos up before the import starts: the one that does not hold the unit takes it over at once.
        var silos = new[] { db.StartSilo(slots: 1), db.StartSilo(slots: 1) };
        foreach (var silo in silos) await silo.StartedAsync();
        // Plain inserts into a table with a primary key: a record loaded twice fails the unit.
        var id = await db.SubmitAsync(Spec(data.Path, name, chunkRows, keyed: false, parallelism: 1).Replace("\"records\": \"results\"", ndjson ? "\"format\": \"ndjson\"" : "\"records\": \"results\""));

        // Checkpoints advance chunk by chunk while the unit runs.
        var seen = new SortedSet<long>();
        await Poll.UntilAsync(async () =>
        {
            seen.Add(await db.ScalarAsync<long>($"SELECT coalesce((SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id}), 0)"));
            return seen.Max >= 3 * chunkRows;
        }, TimeSpan.FromSeconds(60), () => $"three chunks committed; silo output:\n{db.SiloOutput}");
        var holder = await db.ScalarAsync<string>($"SELECT silo FROM ingest.units WHERE import_id = {id}");
        var (first, second) = silos[0].Address == holder ? (silos[0], silos[1]) : (silos[1], silos[0]);
        first.Kill();
        var committed = await db.ScalarAsync<long>($"SELECT (checkpoint->>'records')::bigint FROM ingest.units WHERE import_id = {id}");
        var rows = await db.ScalarAsync<long>("SELECT count(*) FROM games");
        output.WriteLine($"checkpoints seen {string.Join(", ", seen)}; killed at {committed} records committed, {rows} rows");
        Assert.True(seen.Count >= 3, $"checkpoints seen: {string.Join(", ", seen)}");
        Assert.All(seen, s => Assert.Equal(0, s % chunkRows));
        Assert.Equal(committed, rows); // a chunk's rows and its checkpoint commit together
        await SlowTarget.SetDelayAsync(db, 0);

        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(2));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(records, records, 0, 0, 0), status.Rows);
        Assert.Equal($"{records},{records},1,{records}", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) || ',' || min(id) || ',' || max(id) FROM games"));
        Assert.Equal("", await db.CountersMismatchAsync(id));
        // The second attempt started at the checkpoint the first one committed last: it read again only
        // what the killed attempt had read past it, at most one chunk.
        var resumed = Regex.Match(second.Output, @"start: big\.n?d?json \(attempt 2/3\) from record (\d+)");
        Assert.True(resumed.Success, second.Output);
        Assert.Equal(committed, long.Parse(resumed.Groups[1].Value));
        // Each of its full chunks committed a checkpoint (the last one too: the end of the file showed in a last, empty one).
        Assert.Equal((records - committed) / chunkRows, Regex.Matches(second.Output, "chunk committed").Count);
    }

    [Fact]
    public async Task Gzip_and_zstd_files_of_each_format_load_and_a_corrupt_one_fails_its_unit_naming_it()
    {
        using var data = new TempFolder();
        var plain = new TempFolder();
        var id = 1;
        foreach (var (name, ndjson) in new[] { ("a.json", false), ("b.ndjson", true), ("c.json", false), ("d.jsonl", true) })
        {
            var file = WriteGames(plain, name, 500, ndjson, firstId: id);
            id += 500;
            var zstd = name is "c.json" or "d.jsonl";
            await using var source = File.OpenRead(file);
            await using var target = File.Create(Path.Combine(data.Path, name + (zstd ? ".zst" : ".gz")));
            await using Stream compress = zstd ? new ZstdSharp.CompressionStream(target) : new GZipStream(target, CompressionLevel.Fastest);
            await source.CopyToAsync(compress);
        }
        plain.Dispose();
        // A gzip file cut short in the middle of its data.
        var whole = File.ReadAllBytes(Path.Combine(data.Path, "a.json.gz"));
        File.WriteAllBytes(Path.Combine(data.Path, "e.json.gz"), whole[..(whole.Length / 2)].Concat(new byte[64]).ToArray());
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo();

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.Files(data.Path, pattern: "*", records: "results", keyed: true)));

        Assert.Equal(ImportState.CompletedWithErrors, status.State);
        Assert.Equal(new UnitCounts(5, 4, 1, 0, 0, 0), status.Units);
        Assert.Equal(2000, await db.ScalarAsync<long>("SELECT count(DISTINCT id) FROM games"));
        var failed = Assert.Single(status.FailedUnits);
        Assert.Equal("e.json.gz", failed.Key);
        Assert.Equal(1, failed.Attempts);
        Assert.Contains("e.json.gz", failed.Error);
        Assert.Matches("corrupt gzip data|invalid JSON", failed.Error);
    }

    [Theory]
    [InlineData("a.ndjson.gz")]
    [InlineData("a.json.zst")]
    [InlineData("a.ndjson")]
    public async Task A_unit_opened_at_its_checkpoint_yields_the_records_after_it(string name)
    {
        using var data = new TempFolder();
        var ndjson = name.Contains("ndjson");
        var file = WriteGames(data, "plain", 50, ndjson);
        await using (var source = File.OpenRead(file))
        await using (var target = File.Create(Path.Combine(data.Path, name)))
        await using (Stream compress = name.EndsWith(".gz") ? new GZipStream(target, CompressionLevel.Fastest)
                   : name.EndsWith(".zst") ? new ZstdSharp.CompressionStream(target) : target)
            await source.CopyToAsync(compress);
        var spec = ImportSpecParser.ParseJson(Specs.Files(data.Path, pattern: name, records: ndjson ? null : "results"));
        var source2 = TestSources.Registry.For(spec.Source);
        var unit = await source2.PlanAsync().SingleAsync();
        Assert.NotNull(unit.ETag);

        var all = new List<string>();
        UnitCheckpoint? at17 = null;
        await using (var reading = await source2.OpenAsync(unit, null))
            while (await reading.MoveNextAsync())
            {
                all.Add(Encoding.UTF8.GetString(reading.Current.Span));
                if (reading.RecordIndex == 16) at17 = reading.Checkpoint;
            }
        Assert.Equal(50, all.Count);
        Assert.Equal(17, at17!.Records);

        var rest = new List<string>();
        await using (var resumed = await source2.OpenAsync(unit, at17))
            while (await resumed.MoveNextAsync())
            {
                Assert.Equal(17 + rest.Count, resumed.RecordIndex);
                rest.Add(Encoding.UTF8.GetString(resumed.Current.Span));
            }
        Assert.Equal(all.Skip(17), rest);

        // A checkpoint of another version of the file is refused, naming the file.
        var e = await Assert.ThrowsAsync<SourceDataException>(() => source2.OpenAsync(unit, at17 with { ETag = "other" }));
        Assert.Contains(name, e.Message);
        Assert.Contains("changed since its first 17 records were loaded", e.Message);
    }

    [Fact]
    public async Task An_S3_object_opened_at_its_checkpoint_reads_from_there_with_a_ranged_get()
    {
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = "ranged" });
        await s3.PutAsync(client, "ranged", "dump/a.ndjson", string.Concat(Enumerable.Range(1, 20).Select(i => $"{{\"id\": {i}}}\n")));
        var s3Client = s3.CreateClient();
        var registry = new SourceRegistry([new S3Connector(s3Client), new FolderConnector()], [new Engine.Formats.JsonFormat(), new Engine.Formats.NdjsonFormat()]);
        var source = registry.For(ImportSpecParser.ParseJson(Specs.S3("ranged", "dump/", pattern: "*.ndjson")).Source with { Records = null });
        var unit = await source.PlanAsync().SingleAsync();
        Assert.False(string.IsNullOrEmpty(unit.ETag)); // the listing keeps each object's ETag

        UnitCheckpoint checkpoint;
        await using (var reading = await source.OpenAsync(unit, null))
        {
            for (var i = 0; i < 12; i++) Assert.True(await reading.MoveNextAsync());
            checkpoint = reading.Checkpoint;
        }
        var ids = new List<string>();
        await using (var resumed = await source.OpenAsync(unit, checkpoint))
            while (await resumed.MoveNextAsync()) ids.Add(Encoding.UTF8.GetString(resumed.Current.Span));

        Assert.Equal(Enumerable.Range(13, 8).Select(i => $"{{\"id\": {i}}}"), ids);
    }

    [Fact]
    public async Task The_first_unit_of_a_folder_of_15000_files_starts_while_the_rest_are_still_being_stored()
    {
        const int files = 15_000; // three chunks of units: the first one loads while the others are stored
        using var data = new TempFolder();
        for (var i = 1; i <= files; i++) File.WriteAllText(Path.Combine(data.Path, $"p{i:D5}.ndjson"), $"{{\"id\": {i}, \"name\": \"g{i}\"}}\n");
        await using var db = await TestDatabase.CreateAsync();
        // Storing each chunk of units takes a second more, so that the listing outlasts the first unit's
        // start however busy the machine is: what is asserted is the pipeline, not the machine's speed.
        await db.ExecuteAsync("""
            CREATE FUNCTION test_slow_store() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
            CREATE TRIGGER test_slow_store BEFORE INSERT ON ingest.units FOR EACH STATEMENT EXECUTE FUNCTION test_slow_store();
            """);
        // Reconciliations a minute apart: the import's end must not wait for one.
        var silo = db.StartSilo(slots: 4, env: new Dictionary<string, string> { ["INGEST_RECONCILE_SECONDS"] = "60" });
        await silo.StartedAsync();

        var id = await db.SubmitAsync(Specs.Files(data.Path, pattern: "*.ndjson", records: null, parallelism: 8));
        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(3));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(files, files, 0, 0, 0, 0), status.Units);
        Assert.Equal(files, status.Rows.Inserted);
        var (firstStart, planned) = (await db.ScalarAsync<DateTime>($"SELECT min(started_at) FROM ingest.units WHERE import_id = {id}"),
            await db.ScalarAsync<DateTime>($"SELECT planned_at FROM ingest.imports WHERE id = {id}"));
        output.WriteLine($"first unit started {(planned - firstStart).TotalMilliseconds:F0} ms before the listing ended");
        Assert.True(firstStart < planned, $"first unit started at {firstStart:O}, the listing ended at {planned:O}");
        // Units reported as they end while the listing's last reconciliation reads the units: none of
        // them is taken for one still in flight, which would hold the import open until the next one.
        var lingered = await db.ScalarAsync<double>($"SELECT extract(epoch FROM i.finished_at - max(u.finished_at))::float8 FROM ingest.imports i JOIN ingest.units u ON u.import_id = i.id WHERE i.id = {id} GROUP BY i.id");
        Assert.True(lingered < 10, $"the import ended {lingered:F1} s after its last unit");
        Assert.Equal($"{files} units", await db.ScalarAsync<string>($"SELECT message FROM ingest.events WHERE import_id = {id} AND kind = 'planned'"));
        // The totals status shows come from a few counter rows, not from the import's units.
        Assert.Equal("", await db.CountersMismatchAsync(id));
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.import_counters WHERE import_id = {id}") <= 16 * 13);
    }

    [Fact]
    public async Task An_attempt_that_hangs_is_cancelled_after_attemptTimeoutSeconds_and_retried()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 20);
        await using var db = await TestDatabase.CreateAsync();
        // The first attempt's COPY hangs (a lock that never comes, say); the next one does not.
        await db.ExecuteAsync("CREATE SEQUENCE test_hang");
        await SlowTarget.CreateWithTriggerAsync(db, "IF nextval('test_hang') = 1 THEN PERFORM pg_sleep(600); END IF;", forEachRow: false);
        db.StartSilo();
        var spec = Specs.Files(data.Path).Replace("\"backoffSeconds\": 0.2", "\"backoffSeconds\": 0.2, \"attemptTimeoutSeconds\": 2");

        var status = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromSeconds(60));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(20, status.Rows.Inserted);
        Assert.Equal(2, await db.ScalarAsync<int>($"SELECT attempts FROM ingest.units WHERE import_id = {status.Id}"));
        Assert.Contains("retry.attemptTimeoutSeconds", await db.ScalarAsync<string>($"SELECT message FROM ingest.events WHERE import_id = {status.Id} AND kind = 'unit_retry'"));
    }
}
