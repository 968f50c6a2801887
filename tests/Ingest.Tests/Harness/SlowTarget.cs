namespace Ingest.Tests.Harness;

/// <summary>
/// Makes the target misbehave without touching the product: the games table gets a trigger that
/// sleeps, fails or hangs. <see cref="CreateAsync"/> sleeps for the seconds held in
/// <c>test_delay</c>, which a test can change while nodes work.
/// </summary>
public static class SlowTarget
{
    /// <summary>
    /// Creates the games table whose inserts sleep <paramref name="seconds"/> per statement (a COPY), or per row;
    /// before the rows are inserted, or after (<paramref name="afterRows"/>: the transaction then holds their keys while it sleeps).
    /// </summary>
    public static async Task CreateAsync(TestDatabase db, double seconds, bool perRow = false, bool afterRows = false)
    {
        await db.ExecuteAsync($"CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES ({seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
        await CreateWithTriggerAsync(db, "PERFORM pg_sleep((SELECT seconds FROM test_delay));", forEachRow: perRow, afterRows);
    }

    /// <summary>Creates the games table with a BEFORE (or AFTER) INSERT trigger running <paramref name="body"/> (plpgsql; NEW is the row when per row).</summary>
    public static Task CreateWithTriggerAsync(TestDatabase db, string body, bool forEachRow, bool afterRows = false) => db.ExecuteAsync($"""
        CREATE TABLE games (id bigint PRIMARY KEY, name text, released date, rating double precision, esrb text, raw jsonb);
        CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN {(forEachRow ? "NEW" : "NULL")}; END $$;
        CREATE TRIGGER test_trigger {(afterRows ? "AFTER" : "BEFORE")} INSERT ON games FOR EACH {(forEachRow ? "ROW" : "STATEMENT")} EXECUTE FUNCTION test_trigger();
        """);

    public static Task SetDelayAsync(TestDatabase db, double seconds) =>
        db.ExecuteAsync($"UPDATE test_delay SET seconds = {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
}
