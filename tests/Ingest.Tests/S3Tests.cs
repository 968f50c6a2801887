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
        Assert.Contains("no files match '*.json' in s3://empty-prefix/rawg/", status.Error);
    }

    [Fact]
    public async Task A_storage_that_cannot_be_reached_is_retried_a_bounded_number_of_times_showing_its_error_then_fails_the_import()
    {
        var s3 = await S3Server.SharedAsync();
        await using var db = await TestDatabase.CreateAsync();
        var env = new Dictionary<string, string>(s3.Environment)
        {
            // Nothing listens there: every listing fails, which retrying could have fixed.
            ["AWS_ENDPOINT_URL_S3"] = $"http://127.0.0.1:{ExternalCommand.FreePort()}",
            ["AWS_MAX_ATTEMPTS"] = "1",
            ["INGEST_PLAN_ATTEMPTS"] = "3",
            ["INGEST_PLAN_BACKOFF_SECONDS"] = "1",
        };
        db.StartSilo(env: env);
        var id = await db.SubmitAsync(Specs.S3("rawg", "rawg/"));

        // Meanwhile status shows why it waits.
        var retrying = await Poll.UntilAsync(() => db.StatusAsync(id), s => s.Error is not null || s.State.IsFinal(), TimeSpan.FromSeconds(60), "the planning error to show");
        Assert.Equal(ImportState.Pending, retrying.State);
        Assert.Contains("planning attempt 1/3 failed, retrying", retrying.Error);
        var status = await db.WaitForAsync(id);

        Assert.Equal(ImportState.Failed, status.State);
        Assert.Contains("planning failed 3 times; last error:", status.Error);
        Assert.Equal(0, status.Units.Total);
    }
}
