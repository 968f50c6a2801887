using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// Incremental imports on real silos: one name imported again and again loads only what changed,
/// by what the watermark store says committed; a silo killed between units' commits and the
/// import's end; a failed import's files loaded next time; reset, state, --full and a changed spec
/// through the console.
/// </summary>
public class IncrementalTests(ITestOutputHelper output)
{
    // A page of records id first..first+count-1 named "{tag}-{id}": the same ids with another tag of the same length are a rewrite of the same size.
    private static string Page(int first, int count, string tag) =>
        "{\"results\": [" + string.Join(", ", Enumerable.Range(first, count).Select(id => $$"""{"id": {{id}}, "name": "{{tag}}-{{id:D4}}"}""")) + "]}";

    /// <summary>Where an incremental import reads: a local folder, or an S3 prefix.</summary>
    private interface IPlace : IAsyncDisposable
    {
        Task PutAsync(string name, string content);

        /// <summary>Rewrites the file with other bytes of the same length.</summary>
        Task RewriteAsync(string name, string content);

        /// <summary>Gives the file a new modification time, with the same bytes.</summary>
        Task TouchAsync(string name);

        Task RemoveAsync(string name);

        IDictionary<string, string>? Environment { get; }

        string Spec(string name);
    }

    private sealed class Folder : IPlace
    {
        private readonly TempFolder _folder = new();
        private int _minutes;

        public string Path => _folder.Path;

        public IDictionary<string, string>? Environment => null;

        public Task PutAsync(string name, string content)
        {
            _folder.Write(name, content);
            return Task.CompletedTask;
        }

        // The modification time moves on by whole minutes: what the test means, whatever the clock's resolution.
        public Task RewriteAsync(string name, string content)
        {
            var before = File.GetLastWriteTimeUtc(System.IO.Path.Combine(Path, name));
            _folder.Write(name, content);
            File.SetLastWriteTimeUtc(System.IO.Path.Combine(Path, name), before.AddMinutes(++_minutes));
            return Task.CompletedTask;
        }

        public Task TouchAsync(string name)
        {
            var path = System.IO.Path.Combine(Path, name);
            File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddMinutes(++_minutes));
            return Task.CompletedTask;
        }

        public Task RemoveAsync(string name)
        {
            File.Delete(System.IO.Path.Combine(Path, name));
            return Task.CompletedTask;
        }

        public string Spec(string name) => Specs.Files(Path, name: name, incremental: true);

        public ValueTask DisposeAsync()
        {
            _folder.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Bucket(S3Server s3, AmazonS3Client client, string bucket) : IPlace
    {
        public static async Task<Bucket> CreateAsync()
        {
            var s3 = await S3Server.SharedAsync();
            var client = s3.CreateClient();
            var bucket = $"incremental-{Guid.NewGuid():N}"[..30];
            await client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
            return new Bucket(s3, client, bucket);
        }

        public IDictionary<string, string>? Environment => s3.Environment;

        public Task PutAsync(string name, string content) => s3.PutAsync(client, bucket, "pages/" + name, content);

        public Task RewriteAsync(string name, string content) => PutAsync(name, content);

        // Uploaded again as it was: a new modification time, the same ETag.
        public async Task TouchAsync(string name)
        {
            using var current = await client.GetObjectAsync(bucket, "pages/" + name);
            using var reader = new StreamReader(current.ResponseStream);
            await PutAsync(name, await reader.ReadToEndAsync());
        }

        public Task RemoveAsync(string name) => client.DeleteObjectAsync(bucket, "pages/" + name);

        public string Spec(string name) => Specs.S3(bucket, "pages/", name: name, incremental: true);

        public ValueTask DisposeAsync()
        {
            client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    [Theory]
    [InlineData("folder")]
    [InlineData("s3")]
    public async Task Three_imports_of_one_name_load_only_what_was_added_or_rewritten_and_skip_what_was_touched(string kind)
    {
        await using IPlace place = kind == "s3" ? await Bucket.CreateAsync() : new Folder();
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: place.Environment);
        var spec = place.Spec("nightly");
        for (var p = 1; p <= 3; p++) await place.PutAsync($"page-{p}.json", Page(5 * p - 4, 5, "aaa"));

        // 1: everything is new.
        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, first.State);
        Assert.Equal((3, 0L), (first.Units.Total, first.Files.Skipped));
        Assert.Equal(new RowCounts(15, 15, 0, 0, 0), first.Rows);

        // Added, rewritten with the same size, touched with the same bytes, removed.
        await place.PutAsync("page-4.json", Page(16, 5, "aaa"));
        await place.RewriteAsync("page-2.json", Page(6, 5, "bbb"));
        await place.TouchAsync("page-3.json");
        await place.RemoveAsync("page-1.json");

        // 2: the added and the rewritten files load; the touched one is skipped.
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, second.State);
        Assert.Equal(new UnitCounts(2, 2, 0, 0, 0, 0), second.Units);
        Assert.Equal(1, second.Files.Skipped);
        Assert.Equal(new RowCounts(10, 5, 5, 0, 0), second.Rows);
        var files = (await db.Catalog.GetStatusAsync(second.Id, files: true))!.Files;
        Assert.Equal(["page-2.json", "page-4.json"], files.Units!.Select(f => Key(f.Key)));
        var skipped = Assert.Single(files.SkippedFiles!);
        Assert.Equal(("page-3.json", first.Id), (Key(skipped.Key), skipped.CommittedBy));
        var json = await CliProcess.RunAsync(db.ConnectionString, "status", second.Id.ToString(), "--json");
        Assert.Equal("""{"skipped":1}""", JsonDocument.Parse(json.Stdout).RootElement.GetProperty("files").GetRawText());

        // 3: nothing new (the last page only touched): completed, nothing loaded, every file skipped.
        await place.TouchAsync("page-4.json");
        var third = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, third.State);
        Assert.Equal(new UnitCounts(0, 0, 0, 0, 0, 0), third.Units);
        Assert.Equal(3, third.Files.Skipped);
        Assert.Equal(new RowCounts(0, 0, 0, 0, 0), third.Rows);

        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("aaa-0001,bbb-0006,aaa-0011,aaa-0016", await db.ScalarAsync<string>(
            "SELECT string_agg(name, ',' ORDER BY id) FROM games WHERE id IN (1, 6, 11, 16)"));
        // Entries outlive the files and the imports that wrote them; the touched files' entries now hold their new versions.
        var state = (await db.Catalog.GetWatermarksAsync("nightly"))!;
        Assert.Equal(["page-1.json", "page-2.json", "page-3.json", "page-4.json"], state.Files.Select(f => Key(f.Key)));
        Assert.Equal([first.Id, second.Id, first.Id, second.Id], state.Files.Select(f => f.ImportId));
        if (place is Folder folder)
        {
            var versions = Directory.GetFiles(folder.Path, "page-*.json").Order(StringComparer.Ordinal)
                .Select(f => new FileInfo(f)).Select(f => $"{f.Length:x}-{new DateTimeOffset(f.LastWriteTimeUtc, TimeSpan.Zero).UtcTicks:x}");
            Assert.Equal(versions, state.Files.Skip(1).Select(f => f.Version));
        }

        // Every file gone: nothing matches, which is still an error, however much the store holds.
        for (var p = 2; p <= 4; p++) await place.RemoveAsync($"page-{p}.json");
        var fourth = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Failed, fourth.State);
        Assert.Contains("no files match '*.json'", fourth.Error);
    }

    // A file's name, without the S3 prefix.
    private static string Key(string key) => key[(key.LastIndexOf('/') + 1)..];

    [Fact]
    public async Task A_silo_killed_after_units_committed_and_before_the_import_ended_leaves_exactly_their_entries_and_nothing_loads_twice()
    {
        const int files = 8, perFile = 20, slowId = files * perFile; // the last record of the last file
        using var data = new TempFolder();
        for (var p = 1; p <= files; p++) data.Write($"page-{p}.json", Page(perFile * (p - 1) + 1, perFile, "aaa"));
        await using var db = await TestDatabase.CreateAsync();
        // Plain inserts into a table with a primary key: a file loaded twice fails its unit. Its last file waits in a sleep.
        await db.ExecuteAsync("CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (3600)");
        await SlowTarget.CreateWithTriggerAsync(db, $"IF NEW.id = {slowId} THEN PERFORM pg_sleep((SELECT seconds FROM test_delay)); END IF;", forEachRow: true);
        var silo = db.StartSilo(batches: false);
        await silo.StartedAsync();
        var spec = Specs.Files(data.Path, keyed: false, parallelism: 2, name: "nightly", incremental: true);
        var id = await db.SubmitAsync(spec);

        await Poll.UntilAsync(async () => await db.UnitsAsync(id, UnitState.Done) == files - 1 && await db.UnitsAsync(id, UnitState.Running) == 1,
            TimeSpan.FromSeconds(60), () => $"all units but the slow one done; silo output:\n{db.SiloOutput}");
        silo.Kill();

        // What is in the store committed, and nothing committed is missing from it.
        var done = await db.ScalarAsync<string>($"SELECT string_agg(key, ',' ORDER BY key) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Done}");
        Assert.Equal(done, await db.ScalarAsync<string>("SELECT string_agg(key, ',' ORDER BY key) FROM ingest.watermark_files WHERE name = 'nightly'"));
        Assert.DoesNotContain($"page-{files}.json", done);
        Assert.Equal(ImportState.Running, (await db.StatusAsync(id)).State);

        await db.ExecuteAsync("UPDATE test_delay SET seconds = 0");
        db.StartSilo(batches: false);
        var status = await db.WaitForAsync(id);
        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new RowCounts(files * perFile, files * perFile, 0, 0, 0), status.Rows);
        Assert.Equal(1, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND attempts > 1"));

        var again = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, again.State);
        Assert.Equal((0, (long)files), (again.Units.Total, again.Files.Skipped));
        Assert.Equal(files * perFile, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(files, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.watermark_files WHERE name = 'nightly'"));
    }

    [Fact]
    public async Task A_failed_imports_incomplete_files_load_next_time_and_its_committed_ones_do_not()
    {
        using var data = new TempFolder();
        for (var p = 1; p <= 3; p++) data.Write($"page-{p}.json", Page(10 * p - 9, 10, "aaa"));
        // A big file that commits in chunks of 1,000 records; its second chunk fails.
        data.Write("page-9.json", Page(1001, 2500, "aaa"));
        await using var db = await TestDatabase.CreateAsync();
        await SlowTarget.CreateWithTriggerAsync(db, "IF NEW.id = 2005 THEN RAISE EXCEPTION 'the target refuses id 2005'; END IF;", forEachRow: true);
        db.StartSilo();
        var spec = Specs.Files(data.Path, attempts: 1, name: "nightly", incremental: true).Replace("\"pattern\":", "\"chunkRows\": 1000, \"pattern\":");

        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.CompletedWithErrors, first.State);
        Assert.Equal(new UnitCounts(4, 3, 1, 0, 0, 0), first.Units);
        Assert.Equal("page-9.json", Assert.Single(first.FailedUnits).Key);
        Assert.Equal(1030, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("page-1.json,page-2.json,page-3.json",
            await db.ScalarAsync<string>("SELECT string_agg(key, ',' ORDER BY key) FROM ingest.watermark_files WHERE name = 'nightly'"));

        await db.ExecuteAsync("DROP TRIGGER test_trigger ON games");
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));

        Assert.Equal(ImportState.Completed, second.State);
        Assert.Equal((1, 3L), (second.Units.Total, second.Files.Skipped));
        // The whole file again: its committed chunk's rows are there already, unchanged.
        Assert.Equal(new RowCounts(2500, 1500, 0, 1000, 0), second.Rows);
        Assert.Equal(2530, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal(4, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.watermark_files WHERE name = 'nightly'"));
    }

    private const long SplitBytes = 16 * 1024;

    // The entries of big.csv in the store, as start-end, in file order.
    private static Task<string?> RangesCommittedAsync(TestDatabase db) => db.ScalarAsync<string?>(
        "SELECT string_agg(range_start || '-' || range_end, ',' ORDER BY range_start) FROM ingest.watermark_files WHERE name = 'nightly' AND key = 'big.csv'");

    // The ranges of big.csv that an import's units completed, as start-end, in file order.
    private static Task<string?> RangesDoneAsync(TestDatabase db, long id) => db.ScalarAsync<string?>($"""
        SELECT string_agg((descriptor->'range'->>'start') || '-' || (descriptor->'range'->>'end'), ',' ORDER BY unit_no)
        FROM ingest.units WHERE import_id = {id} AND descriptor->>'key' = 'big.csv' AND state = {StateSql.Unit.Done}
        """);

    // Whether the store's entries of big.csv cover all of its current bytes.
    private static async Task<bool> BigCoveredAsync(TestDatabase db, string path)
    {
        var entries = (await db.Catalog.GetWatermarksAsync("nightly"))!.Files.Where(f => f.Key == "big.csv").ToList();
        return entries.All(f => f.Version == LocalVersion(path)) && Engine.Sources.FileWatermark.Cover(entries, new FileInfo(path).Length);
    }

    // A local file's version: its size and modification time.
    private static string LocalVersion(string path)
    {
        var file = new FileInfo(path);
        return $"{file.Length:x}-{new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero).UtcTicks:x}";
    }

    [Fact]
    public async Task A_split_file_is_skipped_only_once_all_its_ranges_committed_a_failed_range_loads_it_again_and_touched_it_is_hashed_range_by_range()
    {
        const int rows = 3000;
        using var data = new TempFolder();
        var big = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(big, rows, SplitBytes, new SplitCsv.Dialect());
        data.Write("small.csv", "id,name,note\n100001,a,b\n100002,c,d\n");
        await using var db = await TestDatabase.CreateAsync();
        // The target refuses a record in the middle of big.csv: its range fails (one attempt), the others commit.
        await db.ExecuteAsync("""
            CREATE TABLE ventas (id bigint PRIMARY KEY, name text, note text);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.id = 1500 THEN RAISE EXCEPTION 'the target refuses id 1500'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_trigger BEFORE INSERT ON ventas FOR EACH ROW EXECUTE FUNCTION test_trigger();
            """);
        db.StartSilo();
        var spec = Specs.SplitCsvFiles(data.Path, SplitBytes, name: "nightly", incremental: true, attempts: 1);
        async Task<CliResult> Cli(params string[] args)
        {
            var result = await CliProcess.RunAsync(db.ConnectionString, args);
            output.WriteLine($"ingest {string.Join(' ', args)}: {result}");
            Assert.True(result.ExitCode == 0, result.ToString());
            return result;
        }

        // 1: one range fails. The store holds the ranges that committed, which do not cover the file.
        var first = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.CompletedWithErrors, first.State);
        var ranges = first.Units.Total - 1;
        Assert.True(ranges >= 4, $"{ranges} ranges");
        var failed = Assert.Single(first.FailedUnits).Key;
        Assert.StartsWith("big.csv [", failed);
        Assert.DoesNotContain("big.csv [0-", failed);
        Assert.Equal(await RangesDoneAsync(db, first.Id), await RangesCommittedAsync(db));
        Assert.Equal(ranges - 1, (await RangesCommittedAsync(db))!.Split(',').Length);
        Assert.False(await BigCoveredAsync(db, big));
        Assert.Contains("1 files committed, 1 in part", (await Cli("state", "nightly")).Stdout);

        // 2: big.csv loads again, every range of it (the rows committed before are unchanged); small.csv is skipped.
        await db.ExecuteAsync("DROP TRIGGER test_trigger ON ventas");
        var loaded = await db.ScalarAsync<long>("SELECT count(*) FROM ventas WHERE id <= 3000");
        var second = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, second.State);
        Assert.Equal((ranges, 1L), (second.Units.Total, second.Files.Skipped));
        Assert.Equal(new RowCounts(rows, rows - loaded, 0, loaded, 0), second.Rows);
        Assert.True(await BigCoveredAsync(db, big));
        Assert.Equal(await RangesDoneAsync(db, second.Id), await RangesCommittedAsync(db));
        // status --files: big.csv one line with its ranges, small.csv skipped; in JSON and in the tables.
        var files = JsonDocument.Parse((await Cli("status", second.Id.ToString(), "--files", "--json")).Stdout).RootElement.GetProperty("files");
        Assert.Equal(1, files.GetProperty("skipped").GetInt64());
        var file = Assert.Single(files.GetProperty("units").EnumerateArray());
        Assert.Equal(("big.csv", ranges, "done"), (file.GetProperty("key").GetString(), file.GetProperty("units").GetInt32(), file.GetProperty("state").GetString()));
        Assert.Equal(["small.csv"], files.GetProperty("skippedFiles").EnumerateArray().Select(f => f.GetProperty("key").GetString()));
        var table = (await Cli("status", second.Id.ToString(), "--files")).Stdout;
        // The file's cell says "big.csv (N ranges)" (wrapped in 80 columns).
        Assert.Matches($@"big\.csv\s+(done\s[^(]*)?\({ranges}\s+ranges\)", table);
        Assert.Contains("files skipped (committed before", table);
        Assert.Contains("small.csv", table);
        Assert.Contains("2 files committed", (await Cli("state", "nightly")).Stdout);

        // 3: touched, the same bytes: each range hashed as its entry says, skipped, and the entries take the new version.
        File.SetLastWriteTimeUtc(big, File.GetLastWriteTimeUtc(big).AddMinutes(1));
        var third = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, third.State);
        Assert.Equal((0, 2L), (third.Units.Total, third.Files.Skipped));
        Assert.True(await BigCoveredAsync(db, big));
        Assert.Equal(ranges, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.watermark_files WHERE name = 'nightly' AND key = 'big.csv' AND import_id = {second.Id}"));
        Assert.Equal(rows + 2, await db.ScalarAsync<long>("SELECT count(*) FROM ventas"));
    }

    [Fact]
    public async Task A_split_file_whose_silo_was_killed_mid_range_is_not_committed_and_loads_again_whole()
    {
        const int rows = 3000;
        using var data = new TempFolder();
        var big = Path.Combine(data.Path, "big.csv");
        SplitCsv.Write(big, rows, SplitBytes, new SplitCsv.Dialect(Newline: "\r\n"));
        await using var db = await TestDatabase.CreateAsync();
        // Each chunk of 100 records sleeps: ranges commit chunk by chunk, slowly.
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0.3);
            CREATE TABLE ventas (id bigint PRIMARY KEY, name text, note text);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            CREATE TRIGGER test_trigger BEFORE INSERT ON ventas FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();
            """);
        var silo = db.StartSilo(batches: false);
        await silo.StartedAsync();
        var spec = Specs.SplitCsvFiles(data.Path, SplitBytes, name: "nightly", incremental: true, chunkRows: 100);
        var id = await db.SubmitAsync(spec);

        // A range that committed a chunk and goes on: its silo is SIGKILLed there, and the import cancelled.
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"""
            SELECT count(*) FROM ingest.units WHERE import_id = {id} AND state = {StateSql.Unit.Running} AND descriptor ? 'range'
               AND (checkpoint->>'records')::bigint > (descriptor->'range'->>'records')::bigint
            """) > 0, TimeSpan.FromSeconds(60), () => $"a range committed mid-way; silo output:\n{db.SiloOutput}");
        silo.Kill();
        Assert.Equal(await RangesDoneAsync(db, id), await RangesCommittedAsync(db));
        Assert.False(await BigCoveredAsync(db, big));
        Assert.True((await db.Catalog.CancelAsync(id)).Applied);
        var ranges = (await db.StatusAsync(id)).Units.Total;

        // The next import loads the file again, every range; the one after skips it.
        await SlowTarget.SetDelayAsync(db, 0);
        db.StartSilo();
        var again = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal(ImportState.Completed, again.State);
        Assert.Equal((ranges, 0L), (again.Units.Total, again.Files.Skipped));
        Assert.Equal(rows, again.Rows.Read);
        Assert.Equal(rows, again.Rows.Inserted + again.Rows.Unchanged);
        Assert.True(await BigCoveredAsync(db, big));
        var last = await db.WaitForAsync(await db.SubmitAsync(spec));
        Assert.Equal((ImportState.Completed, 0, 1L), (last.State, last.Units.Total, last.Files.Skipped));
        Assert.Equal(rows, await db.ScalarAsync<long>("SELECT count(*) FROM ventas"));
    }

    [Fact]
    public async Task The_console_shows_and_resets_the_state_loads_everything_with_full_and_refuses_a_changed_spec_without_reset_or_keep_state()
    {
        using var data = new TempFolder();
        for (var p = 1; p <= 3; p++) data.Write($"page-{p}.json", Page(10 * p - 9, 10, "aaa"));
        var spec = data.Write("nightly.spec.json", Specs.Files(data.Path, pattern: "page-*.json", name: "nightly", incremental: true));
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        async Task<CliResult> Cli(params string[] args)
        {
            var result = await CliProcess.RunAsync(db.ConnectionString, args);
            output.WriteLine($"ingest {string.Join(' ', args)}: {result}");
            return result;
        }
        async Task<JsonElement> SubmitAsync(params string[] args)
        {
            var result = await Cli(["submit", .. args, "--wait", "--json"]);
            Assert.True(result.ExitCode == 0, result.ToString());
            return JsonDocument.Parse(result.Stdout).RootElement;
        }
        static (int Units, int Skipped) Counts(JsonElement status) =>
            (status.GetProperty("units").GetProperty("total").GetInt32(), status.GetProperty("files").GetProperty("skipped").GetInt32());

        // No silo yet: the first import waits, and the state cannot be reset under it.
        Assert.Equal(0, (await Cli("submit", spec)).ExitCode);
        var refused = await Cli("reset", "nightly");
        Assert.Equal(64, refused.ExitCode);
        Assert.Contains("import 1 named 'nightly' is pending", refused.Stderr);
        var nothing = await Cli("state", "nightly");
        Assert.Equal(66, nothing.ExitCode);
        Assert.Contains("no incremental state for 'nightly'", nothing.Stderr);
        await db.StartSilo().StartedAsync();
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(1)).State);

        // The state: each file with its version and the import that committed it.
        var state = JsonDocument.Parse((await Cli("state", "nightly", "--json")).Stdout).RootElement;
        Assert.Equal(data.Path, state.GetProperty("source").GetProperty("path").GetString());
        var entries = state.GetProperty("files").EnumerateArray().ToList();
        Assert.Equal(["page-1.json", "page-2.json", "page-3.json"], entries.Select(f => f.GetProperty("key").GetString()));
        Assert.All(entries, f => Assert.Equal(1, f.GetProperty("importId").GetInt64()));
        Assert.All(entries, f => Assert.Equal(64, f.GetProperty("contentHash").GetString()!.Length));
        Assert.Contains("page-2.json", (await Cli("state", "nightly")).Stdout);

        // Again: nothing to load; --files lists what was skipped and who committed it.
        var again = await SubmitAsync(spec);
        Assert.Equal(("completed", (0, 3)), (again.GetProperty("state").GetString(), Counts(again)));
        var files = JsonDocument.Parse((await Cli("status", again.GetProperty("id").ToString(), "--files", "--json")).Stdout).RootElement.GetProperty("files");
        Assert.Equal(["page-1.json", "page-2.json", "page-3.json"], files.GetProperty("skippedFiles").EnumerateArray().Select(f => f.GetProperty("key").GetString()));
        Assert.All(files.GetProperty("skippedFiles").EnumerateArray(), f => Assert.Equal(1, f.GetProperty("committedBy").GetInt64()));
        Assert.Contains("files skipped (committed before", (await Cli("status", again.GetProperty("id").ToString(), "--files")).Stdout);

        // --full loads everything this once, and the state then says it did.
        var full = await SubmitAsync(spec, "--full");
        Assert.Equal((3, 0), Counts(full));
        Assert.Equal(0, full.GetProperty("rows").GetProperty("inserted").GetInt64());
        Assert.Equal(3, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.watermark_files WHERE import_id = {full.GetProperty("id")}"));

        // Reset one file: only it loads. Reset all: everything does.
        var one = await Cli("reset", "nightly", "--file", "page-2.json");
        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.Equal((1, 2), Counts(await SubmitAsync(spec)));
        var missing = await Cli("reset", "nightly", "--file", "page-9.json");
        Assert.Equal(66, missing.ExitCode);
        Assert.Contains("'page-9.json' has no entry in the state of 'nightly'", missing.Stderr);
        var all = await Cli("reset", "nightly");
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains("3 file entries and the spec they were written under cleared", all.Stdout);
        Assert.Equal(66, (await Cli("state", "nightly")).ExitCode);
        Assert.Equal((3, 0), Counts(await SubmitAsync(spec)));

        // A changed pattern is refused, naming the change and what to do; nothing is stored.
        var imports = await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports");
        var repatterned = data.Write("repatterned.spec.json", Specs.Files(data.Path, pattern: "page-?.json", name: "nightly", incremental: true));
        var changed = await Cli("submit", repatterned, "--wait");
        Assert.Equal(64, changed.ExitCode);
        Assert.Contains("source.pattern: \"page-*.json\" → \"page-?.json\"", changed.Stderr);
        Assert.Contains("--reset", changed.Stderr);
        Assert.Contains("--keep-state", changed.Stderr);
        Assert.Equal(imports, await db.ScalarAsync<long>("SELECT count(*) FROM ingest.imports"));
        // --keep-state: warned, and the same files are skipped; the state now holds the new pattern.
        var kept = await Cli("submit", repatterned, "--keep-state", "--wait", "--json");
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.Contains("warning: the source or target of 'nightly' changed", kept.Stderr);
        Assert.Equal((0, 3), Counts(JsonDocument.Parse(kept.Stdout).RootElement));
        Assert.Equal((0, 3), Counts(await SubmitAsync(repatterned)));
        // Another table: --reset clears the state, and everything loads into it.
        var moved = data.Write("moved.spec.json", Specs.Files(data.Path, pattern: "page-?.json", table: "games2", name: "nightly", incremental: true));
        Assert.Contains("target.table: \"games\" → \"games2\"", (await Cli("submit", moved)).Stderr);
        var reset = await Cli("submit", moved, "--reset", "--wait", "--json");
        Assert.True(reset.ExitCode == 0, reset.ToString());
        Assert.Contains("--reset clears the state: every file loads", reset.Stderr);
        Assert.Equal((3, 0), Counts(JsonDocument.Parse(reset.Stdout).RootElement));
        Assert.Equal(30, await db.ScalarAsync<long>("SELECT count(*) FROM games2"));
        // Another table with --full: warned, everything loads, and the state is then the new spec's.
        var again3 = data.Write("again.spec.json", Specs.Files(data.Path, pattern: "page-?.json", table: "games3", name: "nightly", incremental: true));
        var fullChanged = await Cli("submit", again3, "--full", "--wait", "--json");
        Assert.True(fullChanged.ExitCode == 0, fullChanged.ToString());
        Assert.Contains("--full loads every file", fullChanged.Stderr);
        Assert.Equal((3, 0), Counts(JsonDocument.Parse(fullChanged.Stdout).RootElement));
        Assert.Equal((0, 3), Counts(await SubmitAsync(again3)));

        // An import that committed nothing leaves only the spec it started under: reset clears that too.
        data.Write("broken-1.json", "{ not json");
        var broken = data.Write("broken.spec.json", Specs.Files(data.Path, pattern: "broken-*.json", name: "broken", incremental: true, attempts: 1));
        Assert.Equal("completed_with_errors", JsonDocument.Parse((await Cli("submit", broken, "--wait", "--json")).Stdout).RootElement.GetProperty("state").GetString());
        var clearedSpec = await Cli("reset", "broken");
        Assert.True(clearedSpec.ExitCode == 0, clearedSpec.ToString());
        Assert.Contains("reset 'broken': 0 file entries and the spec they were written under cleared", clearedSpec.Stdout);
        Assert.Equal(66, (await Cli("reset", "broken")).ExitCode);

        // The state options need an incremental source, and --reset and --keep-state exclude each other.
        var plain = data.Write("plain.spec.json", Specs.Files(data.Path, pattern: "page-*.json", name: "plain"));
        var notIncremental = await Cli("submit", plain, "--full");
        Assert.Equal(64, notIncremental.ExitCode);
        Assert.Contains("--full: only for an incremental source", notIncremental.Stderr);
        Assert.Equal(64, (await Cli("submit", moved, "--reset", "--keep-state")).ExitCode);
    }
}
