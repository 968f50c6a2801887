using System.Text.Json;
using System.Text.RegularExpressions;
using Ingest.Catalog;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Xunit;

namespace Ingest.Tests;

/// <summary>
/// The states' one mapping to names (<see cref="StateNames"/>) agrees with the catalog's CHECK
/// constraints, and states keep their names in JSON and their values through Orleans.
/// </summary>
public class StateMappingTests
{
    [Fact]
    public async Task The_catalog_checks_list_exactly_the_states_names_and_store_each_literal()
    {
        await using var db = await TestDatabase.CreateAsync();
        Assert.Equal(Enum.GetValues<ImportState>().Select(s => s.Name()).Order(), await CheckedNamesAsync(db, "ingest.imports"));
        Assert.Equal(Enum.GetValues<UnitState>().Select(s => s.Name()).Order(), await CheckedNamesAsync(db, "ingest.units"));

        // Each literal as the statements write it is stored, and read back as its state.
        var id = await db.StoreAsync(Specs.Files("/nowhere"));
        foreach (var state in Enum.GetValues<ImportState>())
        {
            await db.ExecuteAsync($"UPDATE ingest.imports SET state = {StateSql.Literal(state)} WHERE id = {id}");
            Assert.Equal(state, (await db.Catalog.GetImportAsync(id))!.State);
        }
        var units = Enum.GetValues<UnitState>();
        await db.ExecuteAsync($"""
            INSERT INTO ingest.units (import_id, unit_no, key, state)
            VALUES {string.Join(", ", units.Select((s, n) => $"({id}, {n}, 'unit-{n}', {StateSql.Literal(s)})"))}
            """);
        var files = (await db.Catalog.GetStatusAsync(id, files: true))!.Files.Units!;
        Assert.Equal(units, files.Select(f => f.State));
    }

    [Fact]
    public void States_are_written_in_JSON_by_their_names_and_read_back()
    {
        Assert.Equal("completed_with_errors", ImportState.CompletedWithErrors.Name());
        foreach (var state in Enum.GetValues<ImportState>())
            AssertJsonName(state, state.Name(), StateNames.ToImportState);
        foreach (var state in Enum.GetValues<UnitState>())
            AssertJsonName(state, state.Name(), StateNames.ToUnitState);

        // As status --json and list --json print them, and as dictionary keys (status without an id).
        var rows = new RowCounts(1, 1, 0, 0, 0);
        var status = new ImportStatus(7, "nightly", ImportState.CompletedWithErrors, new UnitCounts(2, 1, 1, 0, 0, 0), rows, 0, 0, 0, 0, null,
            DateTimeOffset.UnixEpoch, null, null, [], null, Files: new FileTotals(0, [new FileCounts(0, "a.json", UnitState.Done, rows)]));
        var json = JsonSerializer.Serialize(status, ImportSpecJson.Options);
        Assert.Contains("\"state\":\"completed_with_errors\"", json);
        Assert.Contains("\"state\":\"done\"", json);
        var read = JsonSerializer.Deserialize<ImportStatus>(json, ImportSpecJson.Options)!;
        Assert.Equal((ImportState.CompletedWithErrors, UnitState.Done), (read.State, read.Files.Units![0].State));

        var cluster = new ClusterStatus([], new Dictionary<ImportState, int> { [ImportState.CompletedWithErrors] = 2, [ImportState.Running] = 1 });
        json = JsonSerializer.Serialize(cluster, ImportSpecJson.Options);
        Assert.Equal("""{"liveSilos":[],"importsByState":{"completed_with_errors":2,"running":1}}""", json);
        Assert.Equal(cluster.ImportsByState, JsonSerializer.Deserialize<ClusterStatus>(json, ImportSpecJson.Options)!.ImportsByState);

        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ImportState>("\"CompletedWithErrors\"", ImportSpecJson.Options));
        Assert.Throws<FormatException>(() => StateNames.ToUnitState("ok"));
    }

    [Fact]
    public void A_change_result_crosses_Orleans_with_its_state()
    {
        using var services = new ServiceCollection().AddSerializer(s => s.AddAssembly(typeof(ChangeResult).Assembly)).BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        foreach (var result in Enum.GetValues<ImportState>().Select(s => new ChangeResult(true, s)).Append(new ChangeResult(false, null)))
            Assert.Equal(result, serializer.Deserialize<ChangeResult>(serializer.SerializeToArray(result)));
    }

    private static void AssertJsonName<TState>(TState state, string name, Func<string, TState> parse) where TState : struct, Enum
    {
        Assert.Matches("^[a-z]+(_[a-z]+)*$", name);
        Assert.Equal(state, parse(name));
        var json = JsonSerializer.Serialize(state, ImportSpecJson.Options);
        Assert.Equal($"\"{name}\"", json);
        Assert.Equal(state, JsonSerializer.Deserialize<TState>(json, ImportSpecJson.Options));
    }

    // The names a table's CHECK constraint on its state column allows, as PostgreSQL shows the
    // constraint: CHECK ((state = ANY (ARRAY['pending'::text, …]))).
    private static async Task<IEnumerable<string>> CheckedNamesAsync(TestDatabase db, string table)
    {
        var check = await db.ScalarAsync<string>($"""
            SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.conrelid = '{table}'::regclass AND c.contype = 'c' AND a.attname = 'state'
            """);
        return Regex.Matches(check, @"'([^']*)'::text").Select(m => m.Groups[1].Value).Order();
    }
}
