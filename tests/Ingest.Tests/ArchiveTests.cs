using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.S3;
using Amazon.S3.Model;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// Raw files archived to S3 (s3rver) after their load, with the registry (<c>ingest.archive</c>): on
/// silo processes and a real PostgreSQL.
/// </summary>
public class ArchiveTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Loaded_files_go_to_their_templated_keys_byte_for_byte_and_the_registry_and_status_say_so_and_one_without_a_key_value_is_an_error()
    {
        var (s3, client) = await BucketAsync("archive-keys");
        using var _ = client;
        using var data = new TempFolder();
        data.Write("a.json", """{"results": [{"id": 1, "reclamo": "RC-100"}, {"id": 2, "reclamo": "RC-999"}]}""");
        data.Write("b.ndjson", "{\"id\": 3, \"reclamo\": 200}\n{\"id\": 4, \"reclamo\": 201}\n");
        // Compressed: archived as the source holds it; a '/' in a value stays inside its segment.
        await using (var gz = new GZipStream(File.Create(Path.Combine(data.Path, "c.json.gz")), CompressionLevel.Optimal))
            await gz.WriteAsync("""{"results": [{"id": 5, "reclamo": "RC/300"}]}"""u8.ToArray());
        // No value for the key: not archived, and the load stands.
        data.Write("d.json", """{"results": [{"id": 6}, {"id": 7, "reclamo": "RC-400"}]}""");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: Env(s3));

        var id = await db.SubmitAsync(Spec(data.Path, "archive-keys", "oficina-virtual/{tenant}/{yyyy}/{MM}/{dd}/{record:reclamo}/{file}"));
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id)).State);
        var status = await ArchivedAsync(db, id, files: 4);

        Assert.Equal(new ArchiveCounts(3, 0, 1, 0), status.Archive);
        Assert.Equal(7, status.Rows.Inserted);
        // The load date is the day (UTC) each file's unit committed.
        var days = await ReadAsync(db, "SELECT key, to_char(finished_at AT TIME ZONE 'UTC', 'YYYY/MM/DD') FROM ingest.units WHERE import_id = " + id);
        var expected = new[] { ("a.json", "RC-100"), ("b.ndjson", "200"), ("c.json.gz", "RC_300") }
            .Select(f => (File: f.Item1, Key: $"oficina-virtual/afinia/{days.Single(d => d[0] == f.Item1)[1]}/{f.Item2}/{f.Item1}")).ToList();
        foreach (var (file, key) in expected)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(data.Path, file));
            Assert.Equal(bytes, await GetAsync(client, "archive-keys", key));
            var head = await client.GetObjectMetadataAsync("archive-keys", key);
            Assert.Equal(Sha256(bytes), head.Metadata["x-amz-meta-sha256"]);
        }
        Assert.Equal(expected.Select(e => e.Key).Order(StringComparer.Ordinal), await KeysAsync(client, "archive-keys"));
        Assert.Equal(
            expected.Select(e => $"{e.Key} {e.File} {new FileInfo(Path.Combine(data.Path, e.File)).Length} {Sha256(File.ReadAllBytes(Path.Combine(data.Path, e.File)))} uploaded {id}")
                .Order(StringComparer.Ordinal),
            await RegistryAsync(db, "archive-keys"));
        Assert.Equal(["application/gzip", "application/json", "application/x-ndjson"],
            (await ReadAsync(db, "SELECT content_type FROM ingest.archive ORDER BY content_type")).Select(r => r[0]));
        Assert.Equal(["a.json uploaded", "b.ndjson uploaded", "c.json.gz uploaded", "d.json error"],
            (await ReadAsync(db, $"SELECT file || ' ' || outcome FROM ingest.archived_files WHERE import_id = {id} ORDER BY file")).Select(r => r[0]));

        var report = (await new ImportReports(db.DataSource, db.Catalog).ImportAsync(id))!;
        Assert.Equal(status.Archive, report.Status.Archive);
        Assert.Equal(status.Archive, (await new ImportReports(db.DataSource, db.Catalog).OverviewAsync(DateTimeOffset.UtcNow.AddDays(-1))).Archive);
        var failure = Assert.Single(report.ArchiveFailures);
        Assert.Equal(("d.json", null), (failure.File, failure.Key));
        Assert.Equal("d.json: not archived: its first record has no value at 'reclamo' for the key's {record:reclamo}", failure.Error);
    }

    [Fact]
    public async Task A_CSV_file_split_into_ranges_is_archived_once_whole_after_its_ranges_load_keyed_by_a_header_field()
    {
        const string bucket = "archive-split";
        var (_, client) = await BucketAsync(bucket);
        using var __ = client;
        using var data = new TempFolder();
        var csv = new StringBuilder("id,Código Reclamo,nota\n");
        for (var i = 0; i < 4000; i++) csv.Append($"{i},RC-{i},\"nota {i}, {new string('n', i % 30)}\"\n");
        data.Write("export.csv", csv.ToString());
        data.Write("small.csv", "id,Código Reclamo,nota\n9000,RC-9000,x\n");
        var spec = $$"""
            {
              "name": "archive-split",
              "source": { "kind": "files", "path": {{JsonSerializer.Serialize(data.Path)}}, "pattern": "*.csv", "splitBytes": 16384 },
              "target": { "table": "reclamos", "key": ["id"], "create": true,
                          "columns": { "id": { "path": "id", "type": "bigint" }, "codigo": { "path": "Código Reclamo", "type": "text" } } },
              "archive": { "bucket": "{{bucket}}", "key": "{record:Código Reclamo}/{file}" }
            }
            """;
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: Env(s3: await S3Server.SharedAsync()));

        var id = await db.SubmitAsync(spec);
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id)).State);
        var status = await ArchivedAsync(db, id, files: 2);

        Assert.Equal(new ArchiveCounts(2, 0, 0, 0), status.Archive);
        Assert.Equal(4001, status.Rows.Inserted);
        Assert.True(await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND descriptor->>'key' = 'export.csv'") > 3);
        Assert.Equal(["RC-0/export.csv", "RC-9000/small.csv"], await KeysAsync(client, bucket));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(data.Path, "export.csv")), await GetAsync(client, bucket, "RC-0/export.csv"));
        // Under the file's first range.
        Assert.Equal(
            await db.ScalarAsync<long>($"SELECT min(unit_no) FROM ingest.units WHERE import_id = {id} AND descriptor->>'key' = 'export.csv'"),
            await db.ScalarAsync<long>($"SELECT unit_no FROM ingest.archived_files WHERE import_id = {id} AND file = 'export.csv'"));
    }

    [Fact]
    public async Task Objects_already_at_a_key_are_pre_existing_when_the_same_and_an_error_otherwise_never_overwritten_and_a_second_import_uploads_nothing_again()
    {
        const string bucket = "archive-conflicts";
        var (s3, client) = await BucketAsync(bucket);
        using var _ = client;
        using var data = new TempFolder();
        var same = """{"results": [{"id": 1, "reclamo": "R1"}]}""";
        data.Write("same.json", same);
        data.Write("clash.json", """{"results": [{"id": 2, "reclamo": "R2"}]}""");
        data.Write("fresh.json", """{"results": [{"id": 3, "reclamo": "R3"}]}""");
        // Put there by someone else, without this archive's metadata: the same bytes, and other bytes.
        await s3.PutAsync(client, bucket, "afinia/R1/same.json", same);
        await s3.PutAsync(client, bucket, "afinia/R2/clash.json", "someone else's file");
        var spec = Spec(data.Path, bucket, "{tenant}/{record:reclamo}/{file}");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: Env(s3));

        var first = await db.SubmitAsync(spec);
        var loaded = await db.WaitForAsync(first);
        var status = await ArchivedAsync(db, first, files: 3);

        // The load stands, whole, whatever archiving did.
        Assert.Equal(ImportState.Completed, loaded.State);
        Assert.Equal(new RowCounts(3, 3, 0, 0, 0), status.Rows);
        Assert.Equal(new ArchiveCounts(1, 1, 1, 0), status.Archive);
        Assert.Equal("someone else's file", Encoding.UTF8.GetString(await GetAsync(client, bucket, "afinia/R2/clash.json")));
        var registry = await ReadAsync(db, $"SELECT key, status, coalesce(error, ''), import_id::text FROM ingest.archive WHERE bucket = '{bucket}' ORDER BY key");
        Assert.Equal(["afinia/R1/same.json", "afinia/R2/clash.json", "afinia/R3/fresh.json"], registry.Select(r => r[0]));
        Assert.Equal(["pre_existing", "error", "uploaded"], registry.Select(r => r[1]));
        Assert.Contains("s3://archive-conflicts/afinia/R2/clash.json already holds another object (19 bytes", registry[1][2]);
        Assert.Contains("it is not overwritten", registry[1][2]);
        var report = (await new ImportReports(db.DataSource, db.Catalog).ImportAsync(first))!;
        var failure = Assert.Single(report.ArchiveFailures);
        Assert.Equal(("clash.json", "afinia/R2/clash.json"), (failure.File, failure.Key));
        Assert.Contains("already holds another object", failure.Error);
        Assert.Contains(report.Timeline, e => e.Kind == "archive_failed" && e.Message!.Contains("clash.json"));

        // A mark on the object this archive uploaded: a second upload would drop it.
        var fresh = await File.ReadAllBytesAsync(Path.Combine(data.Path, "fresh.json"));
        var marked = new PutObjectRequest { BucketName = bucket, Key = "afinia/R3/fresh.json", ContentBody = Encoding.UTF8.GetString(fresh), UseChunkEncoding = false };
        marked.Metadata.Add("x-amz-meta-sha256", Sha256(fresh));
        marked.Metadata.Add("x-amz-meta-mark", "first");
        await client.PutObjectAsync(marked);

        var second = await db.SubmitAsync(spec);
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(second)).State);
        Assert.Equal(new ArchiveCounts(0, 2, 1, 0), (await ArchivedAsync(db, second, files: 3)).Archive);
        Assert.Equal("first", (await client.GetObjectMetadataAsync(bucket, "afinia/R3/fresh.json")).Metadata["x-amz-meta-mark"]);
        Assert.Equal(
            [$"afinia/R1/same.json pre_existing {first}", $"afinia/R2/clash.json error {second}", $"afinia/R3/fresh.json uploaded {first}"],
            (await ReadAsync(db, $"SELECT key || ' ' || status || ' ' || import_id FROM ingest.archive WHERE bucket = '{bucket}' ORDER BY key")).Select(r => r[0]));
        Assert.Equal("someone else's file", Encoding.UTF8.GetString(await GetAsync(client, bucket, "afinia/R2/clash.json")));

        // Another file's content at a key the registry holds: refused by the registry, the object untouched.
        data.Write("fresh.json", """{"results": [{"id": 3, "reclamo": "R3", "changed": true}]}""");
        var third = await db.SubmitAsync(spec);
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(third)).State);
        Assert.Equal(new ArchiveCounts(0, 1, 2, 0), (await ArchivedAsync(db, third, files: 3)).Archive);
        var refused = await db.ScalarAsync<string>($"SELECT error FROM ingest.archived_files WHERE import_id = {third} AND file = 'fresh.json'");
        Assert.Contains($"fresh.json: not archived to s3://{bucket}/afinia/R3/fresh.json: the key is registered for another file, fresh.json of import {first} (", refused);
        Assert.Equal(fresh, await GetAsync(client, bucket, "afinia/R3/fresh.json"));
        Assert.Equal(3, (await KeysAsync(client, bucket)).Count);
    }

    [Fact]
    public async Task A_silo_killed_mid_upload_leaves_its_file_to_another_and_the_registry_ends_exact()
    {
        const string bucket = "archive-kill";
        const int files = 3, lines = 12_000;
        var (s3, client) = await BucketAsync(bucket);
        using var _ = client;
        using var data = new TempFolder();
        for (var f = 0; f < files; f++)
        {
            var text = new StringBuilder();
            for (var i = 0; i < lines; i++) text.Append($$"""{"id": {{f * lines + i}}, "reclamo": "R{{f}}", "pad": "{{new string('x', 80)}}"}""").Append('\n');
            data.Write($"part-{f}.ndjson", text.ToString());
        }
        // The first silo uploads through a proxy that lets through 256 KiB/s: a file of 1.2 MB takes seconds.
        await using var proxy = new SlowProxy(s3.Endpoint, 256 * 1024);
        await using var db = await TestDatabase.CreateAsync();
        var doomed = db.StartSilo(env: Env(s3, proxy.Endpoint));

        var id = await db.SubmitAsync(Spec(data.Path, bucket, "{record:reclamo}/{file}", pattern: "*.ndjson"));
        // Registered, and half a file sent.
        await Poll.UntilAsync(async () => proxy.BytesSent > 600_000 && await db.ScalarAsync<long>("SELECT count(*) FROM ingest.archive WHERE status = 'pending'") == 1,
            Patience, () => $"an upload under way ({proxy.BytesSent} bytes sent); silo output:\n{db.SiloOutput}");
        doomed.Kill();
        await doomed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        var cut = await ReadAsync(db, "SELECT a.key, f.claim::text FROM ingest.archive a JOIN ingest.archived_files f ON f.claim = a.claim WHERE a.status = 'pending'");
        var (key, claim) = (Assert.Single(cut)[0], cut[0][1]);

        db.StartSilo(env: Env(s3));
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id, Patience)).State);
        var status = await ArchivedAsync(db, id, files);

        // Exact: one row per key, each uploaded once and counted once; the cut file finished by the new silo.
        Assert.Equal(new ArchiveCounts(files, 0, 0, 0), status.Archive);
        Assert.Equal(new RowCounts(files * lines, files * lines, 0, 0, 0), status.Rows);
        var expected = Enumerable.Range(0, files).Select(f => $"R{f}/part-{f}.ndjson").ToList();
        Assert.Equal(expected, await KeysAsync(client, bucket));
        Assert.Equal(expected.Select(k => $"{k} uploaded"), (await ReadAsync(db, "SELECT key || ' ' || status FROM ingest.archive ORDER BY key")).Select(r => r[0]));
        Assert.Equal(expected.Select(k => $"{k} uploaded"),
            (await ReadAsync(db, $"SELECT key || ' ' || outcome FROM ingest.archived_files WHERE import_id = {id} ORDER BY key")).Select(r => r[0]));
        Assert.NotEqual(claim, await db.ScalarAsync<string>($"SELECT claim::text FROM ingest.archive WHERE key = '{key}'"));
        foreach (var k in expected)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(data.Path, k[(k.IndexOf('/') + 1)..]));
            Assert.Equal(Sha256(bytes), Sha256(await GetAsync(client, bucket, k)));
            Assert.Equal($"{bytes.Length} {Sha256(bytes)}", await db.ScalarAsync<string>($"SELECT size_bytes || ' ' || sha256 FROM ingest.archive WHERE key = '{k}'"));
        }
        Assert.Equal(files, await db.ScalarAsync<long>($"SELECT sum(value) FROM ingest.import_counters WHERE import_id = {id} AND scope = 'archive'"));
    }

    [Fact]
    public async Task Uploads_that_meet_an_S3_outage_wait_and_retry_and_once_it_ends_each_file_is_archived_once()
    {
        const string bucket = "archive-outage";
        const int files = 3;
        var (s3, client) = await BucketAsync(bucket);
        using var _ = client;
        using var data = new TempFolder();
        for (var f = 0; f < files; f++)
            data.Write($"part-{f}.ndjson", string.Concat(Enumerable.Range(0, 100).Select(i => $$"""{"id": {{f * 100 + i}}, "reclamo": "R{{f}}"}""" + "\n")));
        // S3 is down (every connection reset) from before the import starts.
        await using var proxy = new SlowProxy(s3.Endpoint, bytesPerSecond: 64 << 20) { Refusing = true };
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: Env(s3, proxy.Endpoint));

        var id = await db.SubmitAsync(Spec(data.Path, bucket, "{record:reclamo}/{file}", pattern: "*.ndjson"));
        // The load does not wait for the archive; the uploads are under way, retrying.
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id, Patience)).State);
        await Poll.UntilAsync(() => Task.FromResult(proxy.Refused >= 6), Patience, () => $"uploads retried ({proxy.Refused} connections refused)");
        var during = await db.StatusAsync(id);
        Assert.Equal(0, during.Archive!.Archived + during.Archive.Errors);
        Assert.True(during.Archive.Pending > 0, $"{during.Archive}");
        Assert.Empty(await KeysAsync(client, bucket));

        proxy.Refusing = false;
        var status = await ArchivedAsync(db, id, files);
        Assert.Equal(new ArchiveCounts(files, 0, 0, 0), status.Archive);
        var expected = Enumerable.Range(0, files).Select(f => $"R{f}/part-{f}.ndjson").ToList();
        Assert.Equal(expected, await KeysAsync(client, bucket));
        Assert.Equal(expected.Select(k => $"{k} uploaded"), (await ReadAsync(db, "SELECT key || ' ' || status FROM ingest.archive ORDER BY key")).Select(r => r[0]));
        for (var f = 0; f < files; f++)
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(data.Path, $"part-{f}.ndjson")), await GetAsync(client, bucket, expected[f]));
        Assert.Equal(files * 100, await db.ScalarAsync<long>("SELECT count(*) FROM reclamos"));
    }

    [Fact]
    public async Task Claims_left_pending_by_a_dead_silo_are_taken_over_and_an_object_it_had_put_is_kept_as_its_upload()
    {
        const string bucket = "archive-stale";
        var (s3, client) = await BucketAsync(bucket);
        using var _ = client;
        using var data = new TempFolder();
        foreach (var (file, n) in new[] { ("put.json", 1), ("cut.json", 2), ("untouched.json", 3) })
            data.Write(file, $$"""{"results": [{"id": {{n}}, "reclamo": "R{{n}}"}]}""");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: Env(s3));
        // Loaded without an archive; then the spec gains one, as if a silo had died while archiving: it had
        // claimed put.json and cut.json and registered their keys an hour ago, and put put.json's object.
        var spec = JsonNode.Parse(Spec(data.Path, bucket, "{record:reclamo}/{file}"))!.AsObject();
        var archive = spec["archive"]!.ToJsonString();
        spec.Remove("archive");
        var id = await db.SubmitAsync(spec.ToJsonString());
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(id)).State);
        var put = await File.ReadAllBytesAsync(Path.Combine(data.Path, "put.json"));
        var request = new PutObjectRequest { BucketName = bucket, Key = "R1/put.json", ContentBody = Encoding.UTF8.GetString(put), UseChunkEncoding = false };
        request.Metadata.Add("x-amz-meta-sha256", Sha256(put));
        request.Metadata.Add("x-amz-meta-mark", "dead silo");
        await client.PutObjectAsync(request);
        var claim = Guid.NewGuid();
        var rows = new[] { ("put.json", "R1/put.json"), ("cut.json", "R2/cut.json") }.Select(f =>
        {
            var bytes = File.ReadAllBytes(Path.Combine(data.Path, f.Item1));
            return $"""
                INSERT INTO ingest.archived_files (import_id, unit_no, file, outcome, claim, claimed_at)
                  SELECT {id}, unit_no, key, 'pending', '{claim}', now() - interval '1 hour' FROM ingest.units WHERE import_id = {id} AND key = '{f.Item1}';
                INSERT INTO ingest.archive (bucket, key, file, size_bytes, sha256, content_type, status, import_id, claim)
                  VALUES ('{bucket}', '{f.Item2}', '{f.Item1}', {bytes.Length}, '{Sha256(bytes)}', 'application/json', 'pending', {id}, '{claim}');
                """;
        });
        await db.ExecuteAsync($$"""
            BEGIN;
            {{string.Join("\n", rows)}}
            UPDATE ingest.imports SET spec = jsonb_set(spec, '{archive}', '{{archive}}') WHERE id = {{id}};
            COMMIT;
            """);

        var status = await ArchivedAsync(db, id, files: 3);

        Assert.Equal(new ArchiveCounts(3, 0, 0, 0), status.Archive);
        Assert.Equal(["R1/put.json uploaded", "R2/cut.json uploaded", "R3/untouched.json uploaded"],
            (await ReadAsync(db, $"SELECT key || ' ' || status FROM ingest.archive WHERE bucket = '{bucket}' ORDER BY key")).Select(r => r[0]));
        Assert.Equal(0, await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.archived_files WHERE claim = '{claim}' OR outcome <> 'uploaded'"));
        Assert.Equal("dead silo", (await client.GetObjectMetadataAsync(bucket, "R1/put.json")).Metadata["x-amz-meta-mark"]);
        Assert.Equal(["R1/put.json", "R2/cut.json", "R3/untouched.json"], await KeysAsync(client, bucket));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(data.Path, "cut.json")), await GetAsync(client, bucket, "R2/cut.json"));
    }

    // The shared s3rver, a client of it, and a new bucket.
    private static async Task<(S3Server S3, AmazonS3Client Client)> BucketAsync(string bucket)
    {
        var s3 = await S3Server.SharedAsync();
        var client = s3.CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        return (s3, client);
    }

    private static string Spec(string folder, string bucket, string key, string pattern = "*") => $$"""
        {
          "name": "archive-test",
          "source": { "kind": "files", "path": {{JsonSerializer.Serialize(folder)}}, "pattern": "{{pattern}}", "records": "results" },
          "target": { "table": "reclamos", "key": ["id"], "create": true,
                      "columns": { "id": { "path": "id", "type": "bigint" }, "reclamo": { "path": "reclamo", "type": "text" } } },
          "archive": { "bucket": "{{bucket}}", "key": "{{key}}", "tenant": "afinia" }
        }
        """;

    // The silos reach S3 as the S3 sources do, through their AWS environment (or through a proxy).
    private static Dictionary<string, string> Env(S3Server s3, string? endpoint = null) => new(s3.Environment)
    {
        ["AWS_ENDPOINT_URL_S3"] = endpoint ?? s3.Endpoint,
        ["INGEST_ARCHIVE_SECONDS"] = "0.5",
        ["INGEST_ARCHIVE_LEASE_SECONDS"] = "3",
    };

    private static Task<ImportStatus> ArchivedAsync(TestDatabase db, long id, int files) => Poll.UntilAsync(() => db.StatusAsync(id),
        s => s.Archive is { Pending: 0 } a && a.Archived + a.PreExisting + a.Errors == files, Patience,
        () => $"import {id}'s {files} files to be archived; silo output:\n{db.SiloOutput}");

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task<byte[]> GetAsync(IAmazonS3 client, string bucket, string key)
    {
        using var response = await client.GetObjectAsync(bucket, key);
        using var bytes = new MemoryStream();
        await response.ResponseStream.CopyToAsync(bytes);
        return bytes.ToArray();
    }

    private static async Task<List<string>> KeysAsync(IAmazonS3 client, string bucket) =>
        [.. ((await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket })).S3Objects ?? []).Select(o => o.Key).Order(StringComparer.Ordinal)];

    private static async Task<List<string>> RegistryAsync(TestDatabase db, string bucket) =>
        [.. (await ReadAsync(db, $"SELECT key || ' ' || file || ' ' || size_bytes || ' ' || sha256 || ' ' || status || ' ' || import_id FROM ingest.archive WHERE bucket = '{bucket}' ORDER BY key COLLATE \"C\""))
            .Select(r => r[0])];

    private static async Task<List<string[]>> ReadAsync(TestDatabase db, string sql)
    {
        await using var cmd = db.DataSource.CreateCommand(sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<string[]>();
        while (await r.ReadAsync()) rows.Add([.. Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "" : Convert.ToString(r.GetValue(i))!)]);
        return rows;
    }
}
