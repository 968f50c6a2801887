using Amazon.S3.Model;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>Imports from a real S3-compatible server (s3rver on 127.0.0.1).</summary>
public class S3Tests
{
    [Fact]
    public async Task A_prefix_with_more_than_1000_objects_is_listed_past_the_first_page_and_loaded_whole()
    {
        const int objects = 1005;
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = "big-dump" });
        await Parallel.ForEachAsync(Enumerable.Range(1, objects), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
            await s3.PutAsync(client, "big-dump", $"rawg/page-{i:D5}.json", $$"""{"results": [{"id": {{i}}, "name": "game {{i}}"}]}"""));
        await s3.PutAsync(client, "big-dump", "rawg/README.txt", "not a page");
        await s3.PutAsync(client, "big-dump", "other/page-99999.json", """{"results": [{"id": 99999}]}""");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(slots: 4, env: s3.Environment);
        db.StartSilo(slots: 4, env: s3.Environment);

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.S3("big-dump", "rawg/", parallelism: 8)), TimeSpan.FromMinutes(3));

        Assert.Equal(ImportState.Completed, status.State);
        Assert.Equal(new UnitCounts(objects, objects, 0, 0, 0, 0), status.Units);
        Assert.Equal(new RowCounts(objects, objects, 0, 0, 0), status.Rows);
        Assert.Equal($"1-{objects}", await db.ScalarAsync<string>("SELECT min(id) || '-' || max(id) FROM games"));
    }

    [Fact]
    public async Task A_missing_bucket_fails_the_import_naming_it()
    {
        var s3 = await S3Server.SharedAsync();
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: s3.Environment);

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.S3("no-such-bucket", "rawg/")));

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("'no-such-bucket' does not exist", status.Error);
    }

    [Fact]
    public async Task A_prefix_without_matching_objects_fails_the_import()
    {
        var s3 = await S3Server.SharedAsync();
        using var client = s3.CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = "empty-prefix" });
        await s3.PutAsync(client, "empty-prefix", "rawg/notes.txt", "x");
        await using var db = await TestDatabase.CreateAsync();
        db.StartSilo(env: s3.Environment);

        var status = await db.WaitForAsync(await db.SubmitAsync(Specs.S3("empty-prefix", "rawg/")));

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("no objects match '*.json' under s3://empty-prefix/rawg/", status.Error);
    }
}
