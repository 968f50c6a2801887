using Ingest.Engine;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Xunit;

namespace Ingest.Tests;

/// <summary>The attempt token fences completion: an attempt whose unit was claimed again commits nothing.</summary>
public class FencingTests
{
    [Fact]
    public async Task An_attempt_whose_unit_was_claimed_again_commits_no_row_and_the_new_attempt_commits_once()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 20);
        await using var db = await TestDatabase.CreateAsync();
        // Plain insert: a second commit of the unit would show as duplicate rows.
        var id = await db.StoreAsync(Specs.Files(data.Path, keyed: false));
        Assert.Equal(1, await new ImportPlanner(db.DataSource).PlanAsync(id));
        var spec = ImportSpecJson.Deserialize(await db.ScalarAsync<string>($"SELECT spec::text FROM ingest.imports WHERE id = {id}"));

        var stale = (await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:1@1", "stale")).Claim!;
        // The first attempt's silo stalls (a long pause, a partition) and is declared dead: another attempt claims the unit.
        var current = (await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:2@2", "current")).Claim!;
        Assert.Equal(stale.Token + 1, current.Token);
        Assert.Equal(2, current.Attempt);

        Assert.False(await LoadAndCompleteAsync(db, spec, stale));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("running", await db.ScalarAsync<string>($"SELECT state FROM ingest.units WHERE import_id = {id}"));

        Assert.True(await LoadAndCompleteAsync(db, spec, current));
        Assert.Equal(20, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.Equal("done|20|2", await db.ScalarAsync<string>($"SELECT state || '|' || rows_inserted || '|' || attempts FROM ingest.units WHERE import_id = {id}"));
        // Nor can the stale attempt fail or hand back the unit any more.
        Assert.Equal(UnitEnd.Superseded, (await UnitFence.FailAsync(db.DataSource, stale, "late", terminal: false)).End);
        Assert.False(await UnitFence.HandBackAsync(db.DataSource, stale));
    }

    [Fact]
    public async Task A_unit_whose_attempts_all_died_with_their_silo_fails_at_its_next_claim()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(Specs.Files(data.Path, attempts: 2));
        await new ImportPlanner(db.DataSource).PlanAsync(id);

        Assert.NotNull((await UnitFence.ClaimAsync(db.DataSource, id, 0, "s1", "a")).Claim);
        Assert.NotNull((await UnitFence.ClaimAsync(db.DataSource, id, 0, "s2", "b")).Claim);
        var third = await UnitFence.ClaimAsync(db.DataSource, id, 0, "s3", "c");

        Assert.Null(third.Claim);
        Assert.Equal(UnitEnd.Failed, third.NotClaimed);
        Assert.Contains("stopped responding on each of its 2 attempts", third.Error);
        Assert.Equal("failed|2", await db.ScalarAsync<string>($"SELECT state || '|' || attempts FROM ingest.units WHERE import_id = {id}"));
    }

    private static async Task<bool> LoadAndCompleteAsync(TestDatabase db, ImportSpec spec, UnitClaim claim)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        var result = await UnitLoader.For(spec).LoadAsync(connection, claim.ImportId, claim.Key);
        if (!await UnitFence.CompleteAsync(connection, claim, result)) return false;
        await tx.CommitAsync();
        return true;
    }
}
