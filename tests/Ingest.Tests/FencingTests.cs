using Ingest.Engine;
using Ingest.GrainInterfaces;
using Ingest.Grains;
using Ingest.Tests.Harness;
using Npgsql;
using Xunit;
using Ingest.Catalog;

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
        Assert.Equal(1, await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id));
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
    public async Task A_claim_ends_the_open_transaction_of_the_attempt_it_takes_the_unit_from()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 20);
        await using var db = await TestDatabase.CreateAsync();
        // Plain insert into a keyed table: the new attempt's rows wait for the lost attempt's uncommitted keys.
        var id = await db.StoreAsync(Specs.Files(data.Path, keyed: false));
        await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id);
        var spec = ImportSpecJson.Deserialize(await db.ScalarAsync<string>($"SELECT spec::text FROM ingest.imports WHERE id = {id}"));

        var first = await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:1@1", "lost");
        Assert.Equal(0, first.EndedTransactions);
        // The attempt loads its rows, then its silo freezes before it completes: the transaction stays open.
        await using var lost = await db.DataSource.OpenConnectionAsync();
        await using var lostTx = await UnitFence.BeginAttemptAsync(lost, "lost");
        await UnitLoader.For(spec, TestSources.Registry).LoadAsync(lost, id, first.Claim!.Key);
        Assert.Equal(1, await db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ingest lost' AND state = 'idle in transaction'"));

        var claimed = await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:2@2", "current");
        Assert.Equal(1, claimed.EndedTransactions);
        // Without the end, this load would wait on the lost attempt's keys for as long as its silo stays frozen.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.True(await LoadAndCompleteAsync(db, spec, claimed.Claim!, timeout.Token));
        Assert.Equal("20,20", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => lostTx.CommitAsync());
    }

    [Fact]
    public async Task A_unit_whose_attempts_all_died_with_their_silo_fails_at_its_next_claim()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 5);
        await using var db = await TestDatabase.CreateAsync();
        var id = await db.StoreAsync(Specs.Files(data.Path, attempts: 2));
        await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id);

        Assert.NotNull((await UnitFence.ClaimAsync(db.DataSource, id, 0, "s1", "a")).Claim);
        Assert.NotNull((await UnitFence.ClaimAsync(db.DataSource, id, 0, "s2", "b")).Claim);
        var third = await UnitFence.ClaimAsync(db.DataSource, id, 0, "s3", "c");

        Assert.Null(third.Claim);
        Assert.Equal(UnitEnd.Failed, third.NotClaimed);
        Assert.Contains("stopped responding on each of its 2 attempts", third.Error);
        Assert.Equal("failed|2", await db.ScalarAsync<string>($"SELECT state || '|' || attempts FROM ingest.units WHERE import_id = {id}"));
    }

    [Fact]
    public async Task A_batch_commits_all_its_units_or_none_and_a_unit_claimed_alone_since_its_mark_fences_it_off()
    {
        using var data = new TempFolder().WithPages(files: 3, perFile: 10);
        await using var db = await TestDatabase.CreateAsync();
        // Plain insert: a second commit of a unit would show as duplicate rows.
        var id = await db.StoreAsync(Specs.Files(data.Path, keyed: false, attempts: 2));
        await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id);
        var spec = ImportSpecJson.Deserialize(await db.ScalarAsync<string>($"SELECT spec::text FROM ingest.imports WHERE id = {id}"));
        string Units() => $"SELECT string_agg(unit_no || ':' || state || ':' || attempts || ':' || coalesce(batch, '-'), ' ' ORDER BY unit_no) FROM ingest.units WHERE import_id = {id}";

        var stale = await UnitFence.MarkBatchAsync(db.DataSource, id, [0, 1, 2], "127.0.0.1:1@1", "b1");
        Assert.True(stale.ImportRunning);
        Assert.Equal([0, 1, 2], stale.Units.Select(u => u.UnitNo));
        Assert.Equal("0:running:0:b1 1:running:0:b1 2:running:0:b1", await db.ScalarAsync<string>(Units()));
        // A unit is in one batch at most: once its batch did not commit, it runs alone.
        Assert.Empty((await UnitFence.MarkBatchAsync(db.DataSource, id, [0, 1, 2], "127.0.0.1:2@2", "b2")).Units);

        // The batch's silo stalls and is declared dead: unit 1 is claimed alone, its attempt counted.
        var alone = (await UnitFence.ClaimAsync(db.DataSource, id, 1, "127.0.0.1:2@2", "alone")).Claim!;
        Assert.Equal(1, alone.Attempt);
        Assert.False(await LoadAndCompleteAsync(db, spec, id, stale.Units, batched: true));
        Assert.Equal(0, await db.ScalarAsync<long>("SELECT count(*) FROM games"));
        Assert.True(await LoadAndCompleteAsync(db, spec, id, [alone.Fenced], batched: false));
        Assert.Equal("10,10", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));

        // The failed batch lets go of what it still holds: pending again, no attempt used, alone from now on.
        await UnitFence.ReleaseBatchAsync(db.DataSource, id, stale.Units, rebatch: false);
        Assert.Equal("0:pending:0:b1 1:done:1:b1 2:pending:0:b1", await db.ScalarAsync<string>(Units()));
        Assert.Empty((await UnitFence.MarkBatchAsync(db.DataSource, id, [0, 2], "127.0.0.1:2@2", "b3")).Units);

        // Handed back by a stopping silo instead, they may be batched again; a batch that commits counts one attempt per unit.
        await db.ExecuteAsync($"UPDATE ingest.units SET batch = NULL WHERE import_id = {id} AND unit_no <> 1");
        var handedBack = await UnitFence.MarkBatchAsync(db.DataSource, id, [0, 2], "127.0.0.1:2@2", "b4");
        await UnitFence.ReleaseBatchAsync(db.DataSource, id, handedBack.Units, rebatch: true);
        var batch = await UnitFence.MarkBatchAsync(db.DataSource, id, [0, 1, 2], "127.0.0.1:3@3", "b5");
        Assert.Equal([0, 2], batch.Units.Select(u => u.UnitNo));
        Assert.True(await LoadAndCompleteAsync(db, spec, id, batch.Units, batched: true));
        Assert.Equal("0:done:1:b5 1:done:1:b1 2:done:1:b5", await db.ScalarAsync<string>(Units()));
        Assert.Equal("30,30", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
    }

    [Fact]
    public async Task A_chunk_commits_once_from_its_checkpoint_and_a_unit_with_committed_chunks_is_never_batched()
    {
        using var data = new TempFolder().WithPages(files: 1, perFile: 30);
        await using var db = await TestDatabase.CreateAsync();
        // Plain insert: a chunk committed twice would show as duplicate rows.
        var id = await db.StoreAsync(Specs.Files(data.Path, keyed: false).Replace("\"pattern\":", "\"chunkRows\": 10, \"pattern\":"));
        await new ImportPlanner(db.DataSource, TestSources.Registry).PlanAsync(id);
        var spec = ImportSpecJson.Deserialize(await db.ScalarAsync<string>($"SELECT spec::text FROM ingest.imports WHERE id = {id}"));
        var loader = UnitLoader.For(spec, TestSources.Registry);
        var claim = (await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:1@1", "a")).Claim!;

        // The first chunk, committed from no checkpoint; then the same chunk again, as a try after a
        // lost answer to its COMMIT would load it: fenced off by the checkpoint it started from.
        async Task<bool> FirstChunkAsync()
        {
            await using var connection = await db.DataSource.OpenConnectionAsync();
            await using var tx = await connection.BeginTransactionAsync();
            await using var reading = await loader.Source.OpenAsync(claim.Unit, null);
            var chunk = await loader.LoadAsync(connection, id, reading, 10);
            if (!await UnitFence.CommitChunkAsync(connection, id, new UnitFence.Completion(claim.Fenced, chunk), from: null)) return false;
            await tx.CommitAsync();
            return true;
        }
        Assert.True(await FirstChunkAsync());
        Assert.False(await FirstChunkAsync());
        Assert.Equal("10,10", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) FROM games"));
        var standing = (await UnitFence.StandingAsync(db.DataSource, id, 0))!.Value;
        Assert.Equal((claim.Token, UnitState.Running, 10L), (standing.Token, standing.State, standing.Checkpoint!.Records));
        Assert.Equal(10, await db.ScalarAsync<long>($"SELECT sum(value) FROM ingest.import_counters WHERE import_id = {id} AND scope = 'rows' AND counter = 'inserted'"));

        // Handed back by a stopping silo, its attempt does not count; with chunks committed it is not batched again.
        Assert.True(await UnitFence.HandBackAsync(db.DataSource, claim));
        Assert.Empty((await UnitFence.MarkBatchAsync(db.DataSource, id, [0], "127.0.0.1:2@2", "b")).Units);
        var resumed = (await UnitFence.ClaimAsync(db.DataSource, id, 0, "127.0.0.1:2@2", "c")).Claim!;
        Assert.Equal(10, resumed.Checkpoint!.Records);
        Assert.Equal(10, resumed.Committed.RowsRead);
    }

    private static Task<bool> LoadAndCompleteAsync(TestDatabase db, ImportSpec spec, UnitClaim claim, CancellationToken cancellationToken = default) =>
        LoadAndCompleteAsync(db, spec, claim.ImportId, [claim.Fenced], batched: false, cancellationToken);

    private static async Task<bool> LoadAndCompleteAsync(TestDatabase db, ImportSpec spec, long importId, IReadOnlyList<FencedUnit> units, bool batched, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var loader = UnitLoader.For(spec, TestSources.Registry);
        var results = batched
            ? await loader.LoadBatchAsync(connection, importId, [.. units.Select(u => u.Unit)], cancellationToken: cancellationToken)
            : [await loader.LoadAsync(connection, importId, units.Single().Key, cancellationToken)];
        var loaded = units.Zip(results, (unit, result) => new UnitFence.Completion(unit, result)).ToList();
        if (!await UnitFence.CompleteAsync(connection, importId, loaded, batched, cancellationToken)) return false;
        await tx.CommitAsync(cancellationToken);
        return true;
    }
}
