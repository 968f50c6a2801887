using System.Globalization;
using System.Text.RegularExpressions;
using Ingest.Engine.Loading;
using Ingest.GrainInterfaces;
using Npgsql;

namespace Ingest.Bench;

/// <summary>
/// What the server can do for tiny units: pgbench with 8 clients running the transaction a tiny
/// unit needs at the least (one row upserted into a copy of the target, one fenced update of a copy
/// of the unit's row), on the same server, for a few seconds. Returns transactions per second.
/// </summary>
public static partial class PgbenchBaseline
{
    public static async Task<double> RunAsync(NpgsqlDataSource db, string cs, ImportSpec spec, long importId, string work)
    {
        var target = new TargetTable(spec.Target with { Table = "pgbench_games" });
        await using (var connection = await db.OpenConnectionAsync()) await target.EnsureAsync(connection);
        await using (var units = db.CreateCommand(
            $"DROP TABLE IF EXISTS pgbench_units; CREATE TABLE pgbench_units AS SELECT * FROM ingest.units WHERE import_id = {importId}; " +
            "ALTER TABLE pgbench_units ADD PRIMARY KEY (import_id, unit_no)"))
            await units.ExecuteNonQueryAsync();
        var count = (long)(await db.CreateCommand("SELECT count(*) FROM pgbench_units").ExecuteScalarAsync())!;

        var script = Path.Combine(work, "tiny-unit.sql");
        await File.WriteAllTextAsync(script, $"""
            \set unit random(1, {count})
            \set id random(1, 1000000000)
            BEGIN;
            INSERT INTO {target.QualifiedName} (id, name, released, rating, esrb, raw)
              VALUES (:id, 'Game', '2001-02-03', 3.5, 'Teen', '{"{"}"id": 1, "name": "Game"{"}"}')
              ON CONFLICT (id) DO UPDATE SET name = excluded.name, released = excluded.released, rating = excluded.rating, esrb = excluded.esrb, raw = excluded.raw;
            UPDATE pgbench_units SET state = 'done', finished_at = now(), rows_read = 1, rows_inserted = 1
              WHERE import_id = {importId} AND unit_no = :unit AND fence_token = fence_token;
            END;
            """);
        var (output, _) = await PostgresTools.RunAsync(Path.Combine(PostgresTools.Bin(), "pgbench"),
            "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", "5", "-f", script, PostgresTools.ConnInfo(cs));
        var tps = Tps().Match(output);
        if (!tps.Success) throw new InvalidOperationException($"pgbench printed no rate:\n{output}");
        return double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex Tps();
}
