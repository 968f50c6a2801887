using Ingest.Grains;
using Ingest.Tests.Harness;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Ingest.Tests;

/// <summary>The lease token fences completion: a claim that was taken over commits nothing.</summary>
public class FencingTests
{
    [Fact]
    public async Task A_claim_whose_lease_was_taken_over_commits_no_row_and_the_new_claim_commits_once()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 20);
        await using var db = await TestDatabase.CreateAsync();
        // Plain insert: a second commit of the unit would show as duplicate rows.
        var id = await db.SubmitAsync(Specs.Files(data.Path, keyed: false));
        var queue = new UnitQueue(db.DataSource, new ClusterOptions { ConnectionString = db.ConnectionString, LeaseDuration = TimeSpan.FromMinutes(5) });
        Assert.True(await new ImportPlanner(db.DataSource, NullLogger.Instance).PlanNextAsync());

        var stale = await queue.TryClaimAsync(Guid.NewGuid());
        // The first claimant stalls past its lease (a long pause, a partition): another node takes over.
        await db.ExecuteAsync($"UPDATE ingest.units SET lease_until = now() - interval '1 second' WHERE import_id = {id}");
        var current = await queue.TryClaimAsync(Guid.NewGuid());
        Assert.NotNull(stale);
        Assert.NotNull(current);
        Assert.Equal(stale.UnitNo, current.UnitNo);
        Assert.Equal(stale.LeaseToken + 1, current.LeaseToken);

        var runner = new UnitRunner(db.DataSource, NullLogger.Instance);
        await runner.RunAsync(stale, CancellationToken.None);

        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("running", await db.ScalarAsync<string>($"SELECT state FROM ingest.units WHERE import_id = {id}"));

        await runner.RunAsync(current, CancellationToken.None);

        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("done|20|2", await db.ScalarAsync<string>($"SELECT state || '|' || rows_inserted || '|' || attempts FROM ingest.units WHERE import_id = {id}"));
    }
}
