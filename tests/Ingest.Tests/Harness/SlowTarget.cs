namespace Ingest.Tests.Harness;

/// <summary>
/// Makes units take a controllable time without touching the product: the target table gets a
/// statement trigger that sleeps for the seconds held in <c>test_delay</c>, which a test can change.
/// </summary>
public static class SlowTarget
{
    public static async Task CreateAsync(TestDatabase db, double seconds, string table = "games")
    {
        await db.ExecuteAsync($"""
            CREATE TABLE {table} (id bigint PRIMARY KEY, name text, released date, rating double precision, esrb text);
            CREATE TABLE test_delay (seconds double precision NOT NULL);
            INSERT INTO test_delay VALUES ({seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)});
            CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            CREATE TRIGGER test_slow BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION test_slow();
            """);
    }

    public static Task SetDelayAsync(TestDatabase db, double seconds) =>
        db.ExecuteAsync($"UPDATE test_delay SET seconds = {seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
}
