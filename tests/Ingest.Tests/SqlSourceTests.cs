using Ingest.Engine;
using Ingest.Engine.Sources;
using Ingest.Engine.Sources.Sql;
using Ingest.GrainInterfaces;
using Ingest.Tests.Harness;
using MySqlConnector;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Ingest.Tests;

/// <summary>
/// A SQL database as a source, against a second PostgreSQL (asking for passwords) and a MariaDB
/// started by the harness: every common type converted exactly, row by row, on both engines; key
/// ranges spread over two silos, one SIGKILLed mid-range, every row once; planning errors with the
/// engine's message; the connection's password nowhere in the catalog, the logs or the traces.
/// </summary>
public class SqlSourceTests(SqlSources sources, ITestOutputHelper output) : IClassFixture<SqlSources>
{
    private const string Null = "∅";

    private static string Spec(string name, string engine, string table, string columns, string extra = "", string target = "kinds") => $$"""
        {
          "name": "{{name}}",
          "source": { "kind": "sql", "engine": "{{engine}}", "connection": "${SHOP_DB}", {{table}}{{extra}} },
          "target": { "table": "{{target}}", "key": ["id"], "create": true, "columns": { {{columns}} } },
          "retry": { "attempts": 3, "backoffSeconds": 0.2 }
        }
        """;

    private static Dictionary<string, string> Env(string connectionString) => new() { ["SHOP_DB"] = connectionString };

    [Fact]
    public async Task Every_PostgreSQL_type_converts_exactly_row_by_row()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, """
            CREATE TABLE kinds (
              id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, n numeric, n2 numeric(12,4), b boolean,
              t text, vc varchar(20), ch char(5), d date, ts timestamp, tz timestamptz, u uuid, by bytea, j json, jb jsonb, ai integer[], "at" text[], iv interval);
            INSERT INTO kinds VALUES
              (1, 7, 70000, 9000000000, 1.1, 2.5, 12.5, 12.3400, true, 'O''Brien "quoted" ñandú 東京 🎉', 'vc', 'ab', '2024-02-29', '2024-02-29 13:14:15.123456',
               '2024-03-10 01:30:00-08', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10', '{"a": [1, 2.50, "x\"y"], "b": null}', '{"k": {"n": 1}}',
               '{1,NULL,3}', '{"a b","c\"d",NULL}', '1 day 02:03:04'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (3, 32767, -2147483648, -9223372036854775808, -0.5, 1e-300, -98765432109876543210.12345678, -0.0001, false, E'line1\nline2\ttab \\ back', '', '',
               '1900-02-28', '0001-01-01 00:00:00', '2024-03-10 12:00:00+05:30', '00000000-0000-0000-0000-000000000000', '', '[]', '[1, "two", {"3": [4]}]',
               '{}', '{}', '-1 mon'),
              (4, 1, 1, 1, 1, 1, 0.12345678901234567890123456789012, 1, true, 'too big', 'x', 'x', '2000-01-01', '2000-01-01', '2000-01-01Z', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (5, -1, 0, 1, 3.25, -7.75, 0, 99999999.9999, true, '🎉', 'z', 'abcde', '2099-12-31', '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999+00',
               'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x5c27', '"just a string"', 'null', '{-5}', '{""}', '00:00:00.000001');
            """);
        string[] columns = ["i2:int", "i4:int", "i8:bigint", "f4:double", "f8:double", "n:numeric", "n2:numeric", "b:boolean", "t:text", "vc:text", "ch:text", "d:date",
            "ts:timestamp", "tz:timestamptz", "u:uuid", "by:bytea", "j:jsonb", "jb:jsonb", "ai:jsonb", "at:jsonb", "iv:text"];
        var spec = Spec("pg-types", "postgres", "\"table\": \"public.kinds\"", Map(columns));

        await using var db = await TestDatabase.CreateAsync();
        var status = await LoadAsync(db, spec, shop);
        Assert.True(new RowCounts(5, 4, 0, 0, 1) == status.Rows, $"{status.Rows}: {string.Join("; ", status.FailedUnits.Select(u => u.Error))}\n{db.SiloOutput}");
        Assert.Equal(ImportState.Completed, status.State);
        // Too many digits to load exactly: rejected, never rounded.
        Assert.Contains("significant digits", await db.ScalarAsync<string>("SELECT reason FROM ingest.rejects"));

        // The same text on both sides, for every column of every row.
        string Source(string c) => c switch
        {
            "ch" => "rpad(ch::text, 5)",
            "tz" => "to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            "by" => "encode(by, 'hex')",
            "j" => "j::jsonb::text",
            // A row reaches the mapper as JSON, where a JSON null is no value: documented.
            "jb" => "nullif(jb, 'null')::text",
            "ai" or "at" => $"to_jsonb(\"{c}\")::text",
            _ => $"\"{c}\"::text",
        };
        string Target(string c) => c switch
        {
            "tz" => "to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            "by" => "encode(by, 'hex')",
            _ => $"\"{c}\"::text",
        };
        var names = columns.Select(c => c.Split(':')[0]).ToArray();
        var expected = await Rows(admin, $"SELECT id, {Row(names.Select(Source))} FROM kinds WHERE id <> 4 ORDER BY id");
        var actual = await Rows(db.DataSource, $"SELECT id, {Row(names.Select(Target))} FROM kinds ORDER BY id");
        Assert.Equal(string.Join("\n", expected), string.Join("\n", actual));
        Assert.Equal("timestamp without time zone,uuid,bytea", await db.ScalarAsync<string>(
            "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'kinds'::regclass AND attname IN ('u', 'by', 'ts')"));
    }

    [Fact]
    public async Task Rows_relayed_as_PostgreSQL_sends_them_load_what_the_mapper_loads_and_a_row_without_its_key_goes_back_to_the_mapper()
    {
        const int rows = 3_000;
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        // Every type the relay passes through, NULLs in every column but the key, and edge values.
        await Execute(admin, $"""
            CREATE TABLE relayed (id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f8 double precision, n numeric(30,6), b boolean, t text, vc varchar(10),
                                  ch char(4), d date, ts timestamp, tz timestamptz, u uuid, by bytea, iv interval, code integer);
            INSERT INTO relayed SELECT g, (g % 30000 - 15000)::smallint, g * 7 - 10000, g::bigint * 3000000000, g / 7.0, (g * 1234567.891011)::numeric(30,6),
                   g % 2 = 0, 'row ' || g || E' ñ 東京 "q" \ 	', 'v' || g % 100, 'c' || g % 10, date '2000-01-01' + g, timestamp '1999-12-31 23:59:59.999999' + g * interval '1 hour',
                   timestamptz '2024-03-10 01:30:00-08' + g * interval '1 minute', md5(g::text)::uuid, decode(md5(g::text), 'hex'), g * interval '1 second', g
            FROM generate_series(1, {rows}) g;
            UPDATE relayed SET i2 = NULL, i4 = NULL, i8 = NULL, f8 = NULL, n = NULL, b = NULL, t = NULL, vc = NULL, ch = NULL, d = NULL, ts = NULL, tz = NULL, u = NULL, by = NULL, iv = NULL
            WHERE id % 10 = 3;
            UPDATE relayed SET n = 9999999999999999999999.999999, t = '', f8 = 1e-300, ts = '0001-01-01', d = '0001-01-01' WHERE id = 5;
            UPDATE relayed SET code = NULL WHERE id = 1234;
            -- A row larger than the reader's buffer.
            UPDATE relayed SET t = repeat('wide ', 100000) WHERE id = 7;
            """);
        string[] columns = ["i2:int", "i4:bigint", "i8:bigint", "f8:double", "n:numeric", "b:boolean", "t:text", "vc:text", "ch:text", "d:date", "ts:timestamp",
            "tz:timestamptz", "u:uuid", "by:bytea", "iv:text"];
        string SpecOf(string name, string target, string more = "") => Spec(name, "postgres", "\"table\": \"relayed\"", Map(columns) + more,
            extra: """, "splitBy": "id", "ranges": 3, "chunkRows": 500""", target: target);
        var relayed = SpecOf("relayed", "relayed");
        // A constant column: the mapper reads every row.
        var mapped = SpecOf("mapped", "mapped", """, "origin": { "value": "mapper", "type": "text" }""");

        var variable = $"SHOP_DB_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, shop);
        async Task<bool> EncodedAsync(string spec)
        {
            var source = TestSources.Registry.For(ImportSpecParser.ParseJson(spec.Replace("SHOP_DB", variable)));
            await using var reading = await source.OpenAsync(await source.PlanAsync().FirstAsync(), null, encoded: true);
            Assert.True(await reading.MoveNextAsync());
            return reading.Encoded;
        }
        Assert.True(await EncodedAsync(relayed));
        Assert.False(await EncodedAsync(mapped));

        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: Env(shop));
        await silo.StartedAsync();
        foreach (var spec in (string[])[relayed, mapped])
        {
            var status = await db.WaitForAsync(await db.SubmitAsync(spec), TimeSpan.FromSeconds(60));
            Assert.True(status.State == ImportState.Completed && status.Rows == new RowCounts(rows, rows, 0, 0, 0), $"{status.State} {status.Rows}\n{db.SiloOutput}");
        }
        var names = string.Join(", ", ["id", .. columns.Select(c => c.Split(':')[0])]);
        var expected = await Rows(db.DataSource, $"SELECT {names} FROM mapped ORDER BY id");
        Assert.Equal(rows, expected.Count);
        Assert.Equal(string.Join("\n", expected), string.Join("\n", await Rows(db.DataSource, $"SELECT {names} FROM relayed ORDER BY id")));
        Assert.Equal("0", (await Rows(db.DataSource, $"SELECT count(*) FROM (SELECT {names} FROM relayed EXCEPT SELECT {names} FROM mapped) d"))[0]);

        // Loaded again, every key exists: the relayed rows are staged with their ordinals and merged.
        await Execute(admin, "UPDATE relayed SET t = 'changed ' || id WHERE id % 300 = 0");
        var again = await db.WaitForAsync(await db.SubmitAsync(relayed), TimeSpan.FromSeconds(60));
        Assert.True(again.State == ImportState.Completed && again.Rows == new RowCounts(rows, 0, 10, rows - 10, 0), $"{again.State} {again.Rows}\n{db.SiloOutput}");
        Assert.Equal(10, await db.ScalarAsync<long>("SELECT count(*) FROM relayed WHERE t = 'changed ' || id"));

        // Upserted on a key one row lacks: that row is rejected by the mapper, saying why; the others load.
        var byCode = SpecOf("by-code", "by_code").Replace("\"key\": [\"id\"]", "\"key\": [\"code\"]") ;
        byCode = byCode.Replace("\"iv\": {", "\"code\": { \"path\": \"code\", \"type\": \"int\" }, \"iv\": {");
        Assert.True(await EncodedAsync(byCode));
        var keyed = await db.WaitForAsync(await db.SubmitAsync(byCode), TimeSpan.FromSeconds(60));
        Assert.True(keyed.Rows == new RowCounts(rows, rows - 1, 0, 0, 1), $"{keyed.State} {keyed.Rows}\n{db.SiloOutput}");
        Assert.Contains("key column 'code' has no value", await db.ScalarAsync<string>("SELECT string_agg(reason, ' ') FROM ingest.rejects"));
        Assert.Equal(rows - 1, await db.ScalarAsync<long>("SELECT count(*) FROM by_code WHERE code IS NOT NULL"));
    }

    [Fact]
    public async Task Every_MariaDB_type_converts_exactly_row_by_row_zero_dates_NULL_and_counted()
    {
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync("""
            SET sql_mode = '';
            SET time_zone = '+02:00';
            CREATE TABLE kinds (
              id BIGINT UNSIGNED PRIMARY KEY, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT, ub BIGINT UNSIGNED, fl FLOAT, db DOUBLE,
              de DECIMAL(38,10), bo BOOLEAN, vc VARCHAR(50), tx TEXT, ch CHAR(36), d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL,
              bl BLOB, js JSON, en ENUM('a','b'), tm TIME, yr YEAR) CHARACTER SET utf8mb4;
            INSERT INTO kinds VALUES
              (1, -128, 32767, 8388607, -2147483648, -9223372036854775808, 18446744073709551615, 1.1, 2.5, 123456789012345678.1234567890, TRUE,
               'O''Brien "quoted"', 'ñandú 東京 🎉', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '2024-02-29 13:14:15.123456',
               '2024-06-01 12:00:00.5', x'00ff10', '{"a": [1, 2.50, "x\\"y"], "b": null}', 'b', '12:34:56', 2024),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (3, 0, 0, 0, 0, 0, 9223372036854775808, -0.5, 1e-300, -0.0000000001, FALSE, '', 'line1\nline2\ttab \\ back', '00000000-0000-0000-0000-000000000000',
               '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', x'', '[]', 'a', '-01:00:00', 1901),
              (18446744073709551615, 1, 1, 1, 1, 1, 0, 3.25, -7.75, 0, TRUE, 'max key', '🎉', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '1000-01-01',
               '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', x'5c27', '"just a string"', 'a', '00:00:00', 2155);
            """, database);
        string[] columns = ["id:numeric", "ti:int", "si:int", "mi:int", "i:int", "bi:bigint", "ub:numeric", "fl:double", "db:double", "de:numeric", "bo:boolean", "vc:text",
            "tx:text", "ch:uuid", "d:date", "dt:timestamp", "ts:timestamptz", "bl:bytea", "js:jsonb", "en:text", "tm:text", "yr:int"];
        var spec = Spec("maria-types", "mysql", "\"table\": \"kinds\"", Map(columns));

        await using var db = await TestDatabase.CreateAsync();
        var status = await LoadAsync(db, spec, maria.ConnectionString(database, user, password));
        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(status.Id) + await db.ScalarAsync<string>("SELECT coalesce(string_agg(reason, '; '), '') FROM ingest.rejects"));
        Assert.Equal(new RowCounts(4, 4, 0, 0, 0), status.Rows);
        // The zero date, datetime and timestamp of row 3: NULL, and counted.
        Assert.Equal(new Dictionary<string, long> { ["zeroDate.d"] = 1, ["zeroDate.dt"] = 1, ["zeroDate.ts"] = 1 }, status.Quality?.Violations);

        string Source(string c) => c switch
        {
            "fl" or "db" or "de" or "ub" or "bi" or "i" or "mi" or "si" or "ti" or "yr" or "id" => $"CAST(`{c}` AS CHAR)",
            "bo" => "IF(bo IS NULL, NULL, IF(bo, 'true', 'false'))",
            "d" => "IF(d = '0000-00-00', NULL, DATE_FORMAT(d, '%Y-%m-%d'))",
            "dt" => "IF(dt = '0000-00-00', NULL, DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'))",
            "ts" => "IF(ts = '0000-00-00', NULL, DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'))",
            "bl" => "LOWER(HEX(bl))",
            "js" => "JSON_COMPACT(js)",
            _ => $"`{c}`",
        };
        string Target(string c) => c switch
        {
            "dt" => "to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US')",
            "ts" => "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            "bl" => "encode(bl, 'hex')",
            "js" => "replace(js::text, ' ', '')",
            "fl" or "db" => $"\"{c}\"::text",
            "tm" => "tm",
            _ => $"\"{c}\"::text",
        };
        var names = columns.Select(c => c.Split(':')[0]).ToArray();
        var expected = new List<string>();
        await using (var conn = new MySqlConnection(maria.RootConnectionString(database)))
        {
            await conn.OpenAsync();
            await using (var utc = new MySqlCommand("SET time_zone = '+00:00'", conn)) await utc.ExecuteNonQueryAsync();
            await using var cmd = new MySqlCommand($"SELECT CONCAT_WS('|', {string.Join(", ", names.Select(n => $"COALESCE({Source(n)}, '{Null}')"))}) FROM kinds ORDER BY id", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) expected.Add(reader.GetString(0));
        }
        var actual = await Rows(db.DataSource, $"SELECT {Row(names.Select(Target))} FROM kinds ORDER BY id");
        Assert.Equal(string.Join("\n", expected.Select(e => e.Replace(" ", ""))), string.Join("\n", actual.Select(a => a.Replace(" ", ""))));
    }

    [Fact]
    public async Task Sixteen_key_ranges_over_two_silos_one_SIGKILLed_mid_range_load_every_row_once()
    {
        const int rows = 48_000;
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        // Gaps and a skewed tail, so that equal widths are not equal counts.
        await Execute(admin, $"""
            CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, created_at timestamptz NOT NULL, total numeric(12,2) NOT NULL);
            INSERT INTO orders SELECT g * 3, g % 97, timestamptz '2024-01-01' + g * interval '1 minute', (g % 1000) / 7.0 FROM generate_series(1, {rows}) g;
            """);
        var spec = Spec("orders-ranges", "postgres", """
            "query": "SELECT o.id, o.customer_id, o.created_at, o.total FROM orders o"
            """, Map(["customer_id:int", "created_at:timestamptz", "total:numeric"]),
            extra: """, "splitBy": "id", "ranges": 16, "chunkRows": 500""", target: "orders");

        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0.15);
            CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, created_at timestamptz, total numeric);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            CREATE TRIGGER test_trigger BEFORE INSERT ON orders FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();
            """);
        var silos = new[] { db.StartSilo(slots: 2, env: Env(shop)), db.StartSilo(slots: 2, env: Env(shop)) };
        foreach (var silo in silos) await silo.StartedAsync();
        // Plain inserts would fail a unit on a row loaded twice; an upsert would hide it in the counts: both are checked.
        var id = await db.SubmitAsync(spec.Replace("\"key\": [\"id\"], ", ""));

        const string midRange = "state = 'running' AND descriptor ? 'keys' AND (checkpoint->>'records')::bigint > 0";
        await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT count(*) FROM ingest.units WHERE import_id = {id} AND {midRange}") > 0,
            TimeSpan.FromSeconds(60), () => $"a range committed mid-way; silo output:\n{db.SiloOutput}");
        var victim = await db.ScalarAsync<string>($"SELECT silo FROM ingest.units WHERE import_id = {id} AND {midRange} LIMIT 1");
        var resumedUnit = await db.ScalarAsync<int>($"SELECT unit_no FROM ingest.units WHERE import_id = {id} AND {midRange} AND silo = '{victim}' LIMIT 1");
        var (killed, survivor) = silos[0].Address == victim ? (silos[0], silos[1]) : (silos[1], silos[0]);
        killed.Kill();
        await SlowTarget.SetDelayAsync(db, 0);
        var status = await db.WaitForAsync(id, TimeSpan.FromMinutes(2));

        Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id) + "\n" + db.SiloOutput);
        Assert.Equal(16, status.Units.Total);
        Assert.Equal(new RowCounts(rows, rows, 0, 0, 0), status.Rows);
        Assert.Equal("", await db.CountersMismatchAsync(id));
        Assert.Equal($"{rows},{rows},3,{rows * 3}", await db.ScalarAsync<string>("SELECT count(*) || ',' || count(DISTINCT id) || ',' || min(id) || ',' || max(id) FROM orders"));
        var expected = await Rows(admin, "SELECT sum(id * 7 + customer_id)::text || ' ' || sum(total)::text || ' ' || sum(extract(epoch FROM created_at))::text FROM orders");
        Assert.Equal(expected, await Rows(db.DataSource, "SELECT sum(id * 7 + customer_id)::text || ' ' || sum(total)::text || ' ' || sum(extract(epoch FROM created_at))::text FROM orders"));
        // The killed range went on from its checkpoint (the key it had reached), on the survivor.
        Assert.Contains($"unit {id}/{resumedUnit} start", survivor.Output);
        Assert.Matches($@"unit {id}/{resumedUnit} start: .* \(attempt 2/3\) from record [1-9]", survivor.Output);
    }

    [Fact]
    public async Task A_star_schema_from_the_shop_database_and_a_CSV_of_products_with_a_date_dimension_loads_exact_rows()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, """
            CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL);
            CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL);
            CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, created_at timestamptz NOT NULL);
            CREATE TABLE order_lines (order_id bigint REFERENCES orders, line_no int, product_id bigint REFERENCES products, qty int NOT NULL, price numeric(10,2) NOT NULL,
                                      PRIMARY KEY (order_id, line_no));
            INSERT INTO customers SELECT g, 'c' || g || '@shop.example', 'Cliente ' || g FROM generate_series(1, 40) g;
            INSERT INTO products SELECT g, 'Producto ' || g, g * 1.25 FROM generate_series(1, 30) g;
            INSERT INTO orders SELECT g, 1 + g % 37, timestamptz '2023-12-28 22:00:00+00' + g * interval '9 hours' FROM generate_series(1, 300) g;
            INSERT INTO order_lines SELECT o, l, 1 + (o * l) % 25, 1 + (o + l) % 4, (1 + (o * l) % 25) * 1.25 FROM generate_series(1, 300) o, generate_series(1, 3) l WHERE (o + l) % 5 <> 0;
            """);
        var fact = Spec("sales", "postgres", """
            "query": "SELECT l.order_id, l.line_no, l.qty, l.qty * l.price AS amount, (o.created_at AT TIME ZONE 'UTC')::date AS order_date, l.product_id, p.name AS product_name, c.email, c.name AS customer_name FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id JOIN customers c ON c.id = o.customer_id"
            """, "", extra: """, "splitBy": "order_id", "ranges": 4""", target: "fact_sales")
            .Replace("\"key\": [\"id\"]", "\"key\": [\"order_id\", \"line_no\"], \"foreignKeys\": true")
            .Replace("\"columns\": {  }", """
                "columns": {
                  "order_id": { "path": "order_id", "type": "bigint" }, "line_no": { "path": "line_no", "type": "int" }, "qty": { "path": "qty", "type": "int" },
                  "amount": { "path": "amount", "type": "numeric" }, "order_date": { "path": "order_date", "type": "date" }, "product_id": { "path": "product_id", "type": "bigint" } },
                "references": [
                  { "columns": ["order_date"], "dimension": { "table": "dim_fecha", "kind": "date" } },
                  { "columns": ["product_id"], "dimension": { "table": "dim_product", "key": ["id"],
                      "columns": { "id": { "path": "product_id", "type": "bigint" }, "name": { "path": "product_name", "type": "text" } } } },
                  { "column": "customer_sk", "dimension": { "table": "dim_customer", "key": ["email"], "surrogate": "customer_sk",
                      "columns": { "email": { "path": "email", "type": "text" }, "name": { "path": "customer_name", "type": "text" } } } } ]
                """);
        // The catalogue's CSV: products the database has (other names: the database has priority) and some it has not.
        using var data = new TempFolder();
        data.Write("products.csv", "id,name\n" + string.Join("\n", Enumerable.Range(20, 21).Select(i => $"{i},Catálogo {i}")) + "\n");
        var products = $$"""
            { "name": "catalogue", "source": { "kind": "files", "path": "{{data.Path}}", "pattern": "*.csv" },
              "target": { "table": "dim_product", "key": ["id"], "onConflict": "keep",
                          "columns": { "id": { "path": "id", "type": "bigint" }, "name": { "path": "name", "type": "text" } } } }
            """;

        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: Env(shop));
        await silo.StartedAsync();
        var sales = await db.WaitForAsync(await db.SubmitAsync(fact), TimeSpan.FromSeconds(60));
        Assert.True(sales.State == ImportState.Completed, await db.DescribeAsync(sales.Id) + string.Join("; ", sales.FailedUnits.Select(u => u.Error)));
        var catalogue = await db.WaitForAsync(await db.SubmitAsync(products), TimeSpan.FromSeconds(60));
        Assert.Equal(ImportState.Completed, catalogue.State);

        var expectedFacts = await Rows(admin, """
            SELECT l.order_id, l.line_no, l.qty, (l.qty * l.price)::text, (o.created_at AT TIME ZONE 'UTC')::date::text, l.product_id, c.email
            FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id ORDER BY 1, 2
            """);
        Assert.Equal(expectedFacts, await Rows(db.DataSource, """
            SELECT f.order_id, f.line_no, f.qty, f.amount::text, f.order_date::text, f.product_id, c.email
            FROM fact_sales f JOIN dim_customer c USING (customer_sk) JOIN dim_fecha d ON d.date = f.order_date JOIN dim_product p ON p.id = f.product_id ORDER BY 1, 2
            """));
        // One calendar row per date the facts use, its parts as PostgreSQL computes them (2023-12-31 is ISO week 52 of 2023, 2024-01-01 week 1).
        Assert.Equal(await Rows(admin, """
            SELECT d::text, extract(year FROM d), extract(quarter FROM d), extract(month FROM d), extract(day FROM d), extract(isodow FROM d), extract(week FROM d),
                   trim(to_char(d, 'Month'))
            FROM (SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS d FROM orders o WHERE EXISTS (SELECT FROM order_lines l WHERE l.order_id = o.id)) x ORDER BY 1
            """), await Rows(db.DataSource, "SELECT date::text, year, quarter, month, day, weekday, iso_week, month_name FROM dim_fecha ORDER BY 1"));
        Assert.Equal("2023-12-31 2023 52 7 December|2024-01-01 2024 1 1 January", await db.ScalarAsync<string>(
            "SELECT string_agg(concat_ws(' ', date, year, iso_week, weekday, month_name), '|' ORDER BY date) FROM dim_fecha WHERE date IN ('2023-12-31', '2024-01-01')"));
        // Products: the database's names for those the facts use, the catalogue's only for the others.
        var expectedProducts = (await Rows(admin, "SELECT DISTINCT p.id, p.name FROM products p JOIN order_lines l ON l.product_id = p.id ORDER BY 1")).ToList();
        var fromDb = expectedProducts.Select(r => long.Parse(r.Split('|')[0])).ToHashSet();
        expectedProducts.AddRange(Enumerable.Range(20, 21).Where(i => !fromDb.Contains(i)).Select(i => $"{i}|Catálogo {i}"));
        Assert.Equal(expectedProducts.OrderBy(r => long.Parse(r.Split('|')[0])), await Rows(db.DataSource, "SELECT id, name FROM dim_product ORDER BY id"));
        Assert.Equal(fromDb.Count(i => i >= 20), catalogue.Rows.Kept);
        Assert.Equal(await Rows(admin, "SELECT DISTINCT c.email, c.name FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_lines l ON l.order_id = o.id ORDER BY 1"),
            await Rows(db.DataSource, "SELECT email, name FROM dim_customer ORDER BY 1"));
    }

    [Fact]
    public async Task A_source_connection_dropped_mid_range_is_transient_and_the_range_goes_on_from_its_checkpoint()
    {
        const int rows = 40_000;
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        var role = new NpgsqlConnectionStringBuilder(shop).Username!;
        // Wide rows and a slow target: the source waits on its socket mid-stream when it is cut.
        await Execute(admin, $"CREATE TABLE orders (id bigint PRIMARY KEY, note text); INSERT INTO orders SELECT g, repeat('x', 400) FROM generate_series(1, {rows}) g;");
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync($"CREATE TABLE orders (id BIGINT PRIMARY KEY, note TEXT); INSERT INTO orders SELECT seq, REPEAT('x', 400) FROM seq_1_to_{rows};", database);

        await using var db = await TestDatabase.CreateAsync();
        await db.ExecuteAsync("""
            CREATE TABLE test_delay (seconds double precision NOT NULL); INSERT INTO test_delay VALUES (0.1);
            CREATE FUNCTION test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep((SELECT seconds FROM test_delay)); RETURN NULL; END $$;
            """);
        foreach (var table in new[] { "pg_orders", "maria_orders" })
            await db.ExecuteAsync($"CREATE TABLE {table} (id bigint PRIMARY KEY, note text); CREATE TRIGGER test_trigger BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION test_trigger();");
        var env = new Dictionary<string, string> { ["SHOP_DB"] = shop, ["MARIA_DB"] = maria.ConnectionString(database, user, password) };
        var silo = db.StartSilo(env: env);
        await silo.StartedAsync();
        var columns = Map(["note:text"]);
        const string split = """, "splitBy": "id", "ranges": 1, "chunkRows": 1000""";
        var ids = new[]
        {
            await db.SubmitAsync(Spec("pg-drop", "postgres", "\"table\": \"orders\"", columns, split, target: "pg_orders").Replace("\"key\": [\"id\"], ", "")),
            await db.SubmitAsync(Spec("maria-drop", "mysql", "\"table\": \"orders\"", columns, split, target: "maria_orders").Replace("\"key\": [\"id\"], ", "").Replace("SHOP_DB", "MARIA_DB")),
        };
        foreach (var id in ids)
            await Poll.UntilAsync(async () => await db.ScalarAsync<long>($"SELECT coalesce(max((checkpoint->>'records')::bigint), 0) FROM ingest.units WHERE import_id = {id}") > 0,
                TimeSpan.FromSeconds(60), () => $"import {id} committed a chunk; {db.SiloOutput}");
        // Cut both sources' connections in the middle of their ranges.
        Assert.Equal(1, (await Rows(admin, $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '{role}' AND query LIKE 'COPY%'")).Count(r => r == "1"));
        await using (var conn = new MySqlConnection(maria.RootConnectionString()))
        {
            await conn.OpenAsync();
            var sessions = new List<long>();
            await using (var list = new MySqlCommand($"SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{user}'", conn))
            await using (var reader = await list.ExecuteReaderAsync())
                while (await reader.ReadAsync()) sessions.Add(reader.GetInt64(0));
            Assert.NotEmpty(sessions);
            foreach (var session in sessions)
                await using (var kill = new MySqlCommand($"KILL CONNECTION {session}", conn)) await kill.ExecuteNonQueryAsync();
        }
        await SlowTarget.SetDelayAsync(db, 0);

        foreach (var (id, table) in ids.Zip(["pg_orders", "maria_orders"]))
        {
            var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(90));
            Assert.True(status.State == ImportState.Completed, await db.DescribeAsync(id) + "\n" + db.SiloOutput);
            Assert.Equal(new RowCounts(rows, rows, 0, 0, 0), status.Rows);
            Assert.Equal($"{rows},{rows}", await db.ScalarAsync<string>($"SELECT count(*) || ',' || count(DISTINCT id) FROM {table} WHERE length(note) = 400"));
            // Within the same attempt: the cut was transient.
            Assert.Equal(1, await db.ScalarAsync<int>($"SELECT attempts FROM ingest.units WHERE import_id = {id}"));
            Assert.Matches($@"unit {id}/0: .*; trying again from record [1-9]", silo.Output);
        }
    }

    [Fact]
    public async Task Validate_and_diff_read_a_SQL_source_the_warehouse_keys_no_longer_in_the_shop_counted()
    {
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync("""
            CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(50), score INT);
            INSERT INTO customers VALUES (1, 'Ana', 5), (2, 'Luis', 7), (3, 'Marta', 11), (4, 'Pedro', 2), (5, 'Sofía', 9), (6, 'Jorge', 1);
            """, database);
        var spec = Spec("customers", "mysql", "\"table\": \"customers\"", Map(["name:text", "score:int"]), """, "splitBy": "id", "ranges": 2""", target: "customers")
            .Replace("\"create\": true,", "\"create\": true, \"validate\": { \"ranges\": { \"score\": { \"max\": 10 } } },");
        using var specs = new TempFolder();
        var file = specs.Write("spec.json", spec);
        var env = Env(maria.ConnectionString(database, user, password));

        var validate = await CliProcess.RunAsync(null, env, "validate", file, "--json");
        Assert.True(validate.ExitCode == 1, validate.ToString());
        using (var report = System.Text.Json.JsonDocument.Parse(validate.Stdout))
        {
            var r = report.RootElement;
            Assert.Equal((6L, 1L), (r.GetProperty("records").GetInt64(), r.GetProperty("rejected").GetInt64()));
            Assert.Contains("range.score", r.GetProperty("rules").ToString());
        }

        await using var db = await TestDatabase.CreateAsync(migrate: false);
        await db.ExecuteAsync("""
            CREATE TABLE customers (id bigint PRIMARY KEY, name text, score integer);
            INSERT INTO customers VALUES (1, 'Ana', 5), (2, 'Luis', 8), (4, 'Pedro', 2), (5, 'Sofia', 9), (98, 'Gone', 1), (99, 'Gone too', 1);
            """);
        var diff = await CliProcess.RunAsync(db.ConnectionString, env, "diff", file, "--json");
        Assert.True(diff.ExitCode == 0, diff.ToString());
        using var d = System.Text.Json.JsonDocument.Parse(diff.Stdout);
        var root = d.RootElement;
        // 6 is new (3 breaks a rule: it would not load); 2 and 5 changed; 98 and 99 are no longer in the shop.
        Assert.Equal((1L, 2L, 2L, 2L), (root.GetProperty("inserted").GetInt64(), root.GetProperty("updated").GetInt64(), root.GetProperty("unchanged").GetInt64(),
            root.GetProperty("onlyInTable").GetInt64()));
    }

    [Fact]
    public async Task Columns_star_maps_every_source_column_by_name_with_its_own_type_on_both_engines()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, """
            CREATE TABLE things (id int PRIMARY KEY, big bigint, price numeric(10,2), ok boolean, name varchar(20), born date, seen timestamp, at timestamptz,
                                 u uuid, raw bytea, doc jsonb, tags text[], ratio real, span interval);
            INSERT INTO things VALUES (1, 9000000000, 12.50, true, 'uno', '2024-01-02', '2024-01-02 03:04:05', '2024-01-02 03:04:05+02', gen_random_uuid(), '\x01', '{"a": 1}',
                                       '{x,y}', 0.25, '1 day'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            """);
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync("""
            CREATE TABLE things (id INT PRIMARY KEY, ub BIGINT UNSIGNED, ui INT UNSIGNED, de DECIMAL(12,3), dt DATETIME, ts TIMESTAMP NULL, bl VARBINARY(10), js JSON, en ENUM('a','b'), fl DOUBLE);
            INSERT INTO things VALUES (1, 18446744073709551615, 4294967295, 1.5, '2024-01-02 03:04:05', '2024-01-02 03:04:05', x'01', '{"a": 1}', 'b', 0.25);
            """, database);
        await using var db = await TestDatabase.CreateAsync();
        var silo = db.StartSilo(env: new Dictionary<string, string> { ["SHOP_DB"] = shop, ["MARIA_DB"] = maria.ConnectionString(database, user, password) });
        await silo.StartedAsync();
        var pg = await db.SubmitAsync(Spec("star-pg", "postgres", "\"table\": \"things\"", "").Replace("\"columns\": {  }", "\"columns\": \"*\"").Replace("\"kinds\"", "\"pg_things\""));
        var my = await db.SubmitAsync(Spec("star-maria", "mysql", "\"table\": \"things\"", "").Replace("\"columns\": {  }", "\"columns\": \"*\"").Replace("\"kinds\"", "\"maria_things\"")
            .Replace("SHOP_DB", "MARIA_DB"));
        foreach (var id in new[] { pg, my })
        {
            var status = await db.WaitForAsync(id, TimeSpan.FromSeconds(60));
            Assert.True(status.State == ImportState.Completed && status.Rows.Rejected == 0, await db.DescribeAsync(id) + string.Join("; ", status.FailedUnits.Select(u => u.Error)));
        }
        const string types = "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{0}'::regclass AND attnum > 0";
        Assert.Equal("id integer, big bigint, price numeric, ok boolean, name text, born date, seen timestamp without time zone, at timestamp with time zone, u uuid, raw bytea, " +
                     "doc jsonb, tags jsonb, ratio double precision, span text", await db.ScalarAsync<string>(string.Format(types, "pg_things")));
        Assert.Equal("id integer, ub numeric, ui bigint, de numeric, dt timestamp without time zone, ts timestamp with time zone, bl bytea, js jsonb, en text, fl double precision",
            await db.ScalarAsync<string>(string.Format(types, "maria_things")));
        Assert.Equal("12.50 [\"x\", \"y\"] 0.25 1 day", await db.ScalarAsync<string>("SELECT concat_ws(' ', price, tags, ratio, span) FROM pg_things WHERE id = 1"));
        Assert.Equal("18446744073709551615 4294967295 1.500 {\"a\": 1} b", await db.ScalarAsync<string>("SELECT concat_ws(' ', ub, ui, de, js, en) FROM maria_things"));
        // The stored spec names the columns planning found, which every unit mapped.
        Assert.Equal(14, await db.ScalarAsync<int>($"SELECT jsonb_array_length(spec->'target'->'columns') FROM ingest.imports WHERE id = {pg}"));
    }

    [Fact]
    public async Task Ranges_by_quantiles_rows_per_range_and_timestamps_read_every_row_once_and_resume_inside_a_range_between_ties()
    {
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        // A skewed key: 9,000 ids close together and 1,000 far apart; grp repeats each value 50 times.
        await Execute(admin, """
            CREATE TABLE events (id bigint PRIMARY KEY, grp int NOT NULL, at timestamptz NOT NULL, doc jsonb);
            INSERT INTO events SELECT g, g / 50, timestamptz '2024-01-01' + g * interval '1 second', jsonb_build_object('address', jsonb_build_object('city', 'c' || g % 7))
              FROM generate_series(1, 9000) g;
            INSERT INTO events SELECT 1000000 + g * 1000, 10000 + g / 50, timestamptz '2025-01-01' + g * interval '1 day', NULL FROM generate_series(1, 1000) g;
            """);
        var variable = $"SHOP_DB_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, shop);
        string SpecOf(string split) => Spec("events", "postgres", "\"table\": \"events\"", Map(["grp:int", "at:timestamptz"]) + ", \"city\": { \"path\": \"doc.address.city\", \"type\": \"text\" }", split)
            .Replace("SHOP_DB", variable);

        async Task<List<(long Id, string? City)>[]> ReadRangesAsync(string split)
        {
            var source = TestSources.Registry.For(ImportSpecParser.ParseJson(SpecOf(split)));
            var units = new List<UnitDescriptor>();
            await foreach (var unit in source.PlanAsync()) units.Add(unit);
            var ranges = new List<(long, string?)>[units.Count];
            for (var i = 0; i < units.Count; i++)
            {
                ranges[i] = [];
                await using var reading = await source.OpenAsync(units[i], null);
                while (await reading.MoveNextAsync())
                {
                    using var record = System.Text.Json.JsonDocument.Parse(reading.Current);
                    var doc = record.RootElement.GetProperty("doc");
                    ranges[i].Add((record.RootElement.GetProperty("id").GetInt64(),
                        doc.ValueKind == System.Text.Json.JsonValueKind.Null ? null : doc.GetProperty("address").GetProperty("city").GetString()));
                }
            }
            return ranges;
        }

        var quantiles = await ReadRangesAsync(""", "splitBy": "id", "ranges": 4, "split": "quantiles" """);
        Assert.Equal([2500, 2500, 2500, 2500], quantiles.Select(r => r.Count));
        var equal = await ReadRangesAsync(""", "splitBy": "id", "ranges": 4""");
        Assert.Equal([9000, 0, 500, 500], equal.Select(r => r.Count)); // equal widths of a skewed key
        var perRange = await ReadRangesAsync(""", "splitBy": "id", "rowsPerRange": 3000, "split": "quantiles" """);
        Assert.Equal(4, perRange.Length);
        var byTime = await ReadRangesAsync(""", "splitBy": "at", "ranges": 3""");
        foreach (var ranges in new[] { quantiles, equal, perRange, byTime })
            Assert.Equal((10_000, 10_000), (ranges.SelectMany(r => r).Select(r => r.Id).Distinct().Count(), ranges.Sum(r => r.Count)));
        // A json column walked with a dotted path: the record holds it as JSON.
        Assert.Equal("c3", quantiles[0].Single(r => r.Id == 10).City);

        // A range of a key with ties (grp), read in chunks: each reading starts at the last checkpoint, in the middle of a tie.
        var source = TestSources.Registry.For(ImportSpecParser.ParseJson(SpecOf(""", "splitBy": "grp", "ranges": 2""")));
        var units = new List<UnitDescriptor>();
        await foreach (var unit in source.PlanAsync()) units.Add(unit);
        var ids = new List<long>();
        foreach (var unit in units)
        {
            UnitCheckpoint? checkpoint = null;
            var ended = false;
            while (!ended)
            {
                await using var reading = await source.OpenAsync(unit, checkpoint);
                for (var n = 0; n < 777; n++)
                {
                    if (!await reading.MoveNextAsync()) { ended = true; break; }
                    using var record = System.Text.Json.JsonDocument.Parse(reading.Current);
                    ids.Add(record.RootElement.GetProperty("id").GetInt64());
                }
                checkpoint = reading.Checkpoint;
            }
        }
        Assert.Equal(10_000, ids.Count);
        Assert.Equal(10_000, ids.Distinct().Count());
    }

    [Fact]
    public async Task A_reading_left_before_its_end_stops_the_source_query_on_both_engines()
    {
        const int rows = 300_000;
        var (shop, _, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        var role = new NpgsqlConnectionStringBuilder(shop).Username!;
        await Execute(admin, $"CREATE TABLE big (id bigint PRIMARY KEY, note text); INSERT INTO big SELECT g, repeat('y', 100) FROM generate_series(1, {rows}) g;");
        var maria = await sources.MariaDbAsync();
        var (database, user, password) = await maria.CreateDatabaseAsync();
        await maria.ExecuteAsync($"CREATE TABLE big (id BIGINT PRIMARY KEY, note TEXT); INSERT INTO big SELECT seq, REPEAT('y', 100) FROM seq_1_to_{rows};", database);
        var (pgVariable, mariaVariable) = ($"SHOP_DB_{Guid.NewGuid():N}", $"MARIA_DB_{Guid.NewGuid():N}");
        Environment.SetEnvironmentVariable(pgVariable, shop);
        Environment.SetEnvironmentVariable(mariaVariable, maria.ConnectionString(database, user, password));
        foreach (var (engine, variable) in new[] { ("postgres", pgVariable), ("mysql", mariaVariable) })
        {
            var source = TestSources.Registry.For(ImportSpecParser.ParseJson(Spec("big", engine, "\"table\": \"big\"", Map(["note:text"])).Replace("SHOP_DB", variable)));
            var unit = await source.PlanAsync().SingleAsync();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await using (var reading = await source.OpenAsync(unit, null))
                for (var i = 0; i < 10; i++) Assert.True(await reading.MoveNextAsync());
            output.WriteLine($"{engine}: 10 rows read and the reading closed in {clock.ElapsedMilliseconds} ms");
        }
        // Nothing of either query still runs on its server.
        await Poll.UntilAsync(async () => (await Rows(admin, $"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' AND state <> 'idle'"))[0] == "0",
            TimeSpan.FromSeconds(10), "the PostgreSQL source's COPY to stop");
        await using var conn = new MySqlConnection(maria.RootConnectionString());
        await conn.OpenAsync();
        await Poll.UntilAsync(async () =>
        {
            await using var cmd = new MySqlCommand($"SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}' AND COMMAND = 'Query'", conn);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync()) == 0;
        }, TimeSpan.FromSeconds(10), "the MariaDB source's query to stop");
    }

    [Fact]
    public async Task Planning_errors_fail_the_import_with_the_engines_message_and_the_password_is_nowhere()
    {
        var (shop, password, admin) = await sources.PostgresDatabaseAsync();
        await using var _ = admin;
        await Execute(admin, "CREATE TABLE kinds (id bigint PRIMARY KEY, name text, grp int); INSERT INTO kinds VALUES (1, 'one', 1), (2, 'two', NULL), (3, 'three', 3);");
        var maria = await sources.MariaDbAsync();
        var (database, user, mariaPassword) = await maria.CreateDatabaseAsync();
        var wrong = new NpgsqlConnectionStringBuilder(shop) { Password = "not-" + password }.ConnectionString;
        var unreachable = new NpgsqlConnectionStringBuilder(shop) { Port = ExternalCommand.FreePort(), Timeout = 2 }.ConnectionString;
        using var traces = new OtlpReceiver();
        await using var db = await TestDatabase.CreateAsync();
        var env = new Dictionary<string, string>
        {
            ["SHOP_DB"] = shop, ["WRONG_DB"] = wrong, ["GONE_DB"] = unreachable,
            ["MARIA_DB"] = new MySqlConnectionStringBuilder(maria.ConnectionString(database, user, mariaPassword)) { Password = "not-" + mariaPassword }.ConnectionString,
            ["INGEST_PLAN_ATTEMPTS"] = "2", ["INGEST_PLAN_BACKOFF_SECONDS"] = "0.2",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = traces.Endpoint, ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf", ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        };
        var silo = db.StartSilo(env: env);
        await silo.StartedAsync();
        var columns = Map(["name:text"]);
        var cases = new (string Spec, string Message)[]
        {
            (Spec("bad-password", "postgres", "\"table\": \"kinds\"", columns).Replace("SHOP_DB", "WRONG_DB"), "password authentication failed for user"),
            (Spec("bad-password-maria", "mysql", "\"table\": \"kinds\"", columns).Replace("SHOP_DB", "MARIA_DB"), "Access denied for user"),
            (Spec("unreachable", "postgres", "\"table\": \"kinds\"", columns).Replace("SHOP_DB", "GONE_DB"), "planning failed 2 times"),
            (Spec("failing-query", "postgres", "\"query\": \"SELECT id, name, 1 / 0 AS boom FROM kinds WHERE nosuch > 0\"", columns), "column \\\"nosuch\\\" does not exist".Replace("\\", "")),
            (Spec("missing-column", "postgres", "\"table\": \"kinds\"", Map(["name:text", "price:numeric"])), "column q.price does not exist"),
            (Spec("missing-table", "postgres", "\"table\": \"shop.nosuch\"", columns), "relation \"shop.nosuch\" does not exist"),
            (Spec("bad-split", "postgres", "\"table\": \"kinds\", \"splitBy\": \"name\", \"ranges\": 4", columns), "a key range needs an integer, numeric, date or timestamp column"),
            (Spec("null-split", "postgres", "\"table\": \"kinds\", \"splitBy\": \"grp\", \"ranges\": 4", columns), "'grp' is NULL in some of the rows of kinds, which no key range holds"),
            (Spec("null-split-counted", "postgres", "\"table\": \"kinds\", \"splitBy\": \"grp\", \"rowsPerRange\": 2", columns), "'grp' is NULL in 1 of the 3 rows of kinds"),
        };
        var ids = new List<long>();
        foreach (var (spec, _) in cases) ids.Add(await db.SubmitAsync(spec));
        for (var i = 0; i < cases.Length; i++)
        {
            var status = await db.WaitForAsync(ids[i], TimeSpan.FromSeconds(60));
            output.WriteLine($"{cases[i].Spec[..40]}: {status.Error}");
            Assert.Equal(ImportState.Failed, status.State);
            Assert.Contains(cases[i].Message, status.Error);
            Assert.Equal(0, status.Units.Total);
        }
        // A good one, traced, so that the source's statements are in the traces too.
        var good = await db.SubmitAsync(Spec("good", "postgres", "\"table\": \"kinds\"", columns));
        Assert.Equal(ImportState.Completed, (await db.WaitForAsync(good, TimeSpan.FromSeconds(60))).State);
        string Traces() => string.Join("\n", traces.TraceExports.Select(e => System.Text.Encoding.UTF8.GetString(e)));
        await Poll.UntilAsync(() => Task.FromResult(Traces().Contains("TO STDOUT (FORMAT BINARY)", StringComparison.Ordinal)), TimeSpan.FromSeconds(30), "the source's COPY in the traces");

        foreach (var secret in new[] { password, mariaPassword })
        {
            Assert.DoesNotContain(secret, silo.Output);
            Assert.DoesNotContain(secret, Traces());
            Assert.Equal(0, await db.ScalarAsync<long>(
                $"SELECT (SELECT count(*) FROM ingest.imports i WHERE i::text LIKE '%{secret}%') + (SELECT count(*) FROM ingest.events e WHERE e::text LIKE '%{secret}%') " +
                $"+ (SELECT count(*) FROM ingest.units u WHERE u::text LIKE '%{secret}%')"));
        }
    }

    [Fact]
    public void A_SQL_source_parses_as_documented_and_every_mistake_is_named()
    {
        var spec = ImportSpecParser.ParseJson(Spec("orders", "postgres", """
            "query": "SELECT o.id FROM orders o", "splitBy": "id", "ranges": 16, "split": "quantiles"
            """, Map(["u:uuid", "b:bytea", "t:timestamp"])));
        Assert.Equal(new SqlSourceSpec(SqlEngine.Postgres, "${SHOP_DB}", null, "SELECT o.id FROM orders o", "id", 16, null, KeySplit.Quantiles), spec.Source.Sql);
        Assert.Equal([ColumnType.Bigint, ColumnType.Uuid, ColumnType.Bytea, ColumnType.Timestamp], spec.Target.Columns.Select(c => c.Type));
        Assert.Equal(spec.Source, ImportSpecJson.Deserialize(ImportSpecJson.Serialize(spec)).Source);

        var e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson("""
            { "name": "x", "target": { "table": "t", "columns": { "id": { "path": "id", "type": "bigint" } } },
              "source": { "kind": "sql", "engine": "oracle", "connection": "Host=db;Password=hunter2", "table": "a.b.c", "query": "SELECT 1",
                          "splitBy": "id", "ranges": 4, "rowsPerRange": 10, "split": "random", "path": "/data" } }
            """));
        string[] expected =
        [
            "source.engine: unknown engine 'oracle'", "source.connection: must name a variable of the silos' environment", "not both",
            "source.table: 'a.b.c' is not a table name or schema.table", "splitBy needs either ranges (how many) or rowsPerRange", "source.split: 'random'",
            "source.path: unknown field",
        ];
        foreach (var problem in expected) Assert.Contains(e.Problems, p => p.Contains(problem, StringComparison.Ordinal));
        Assert.DoesNotContain(e.Problems, p => p.Contains("hunter2"));
        // A date dimension: referenced from one date column, nothing else to say.
        var star = ImportSpecParser.ParseJson(Spec("sales", "postgres", "\"table\": \"orders\"", Map(["day:date"])).Replace("\"columns\": {",
            "\"references\": [ { \"columns\": [\"day\"], \"dimension\": { \"table\": \"dim_fecha\", \"kind\": \"date\" } } ], \"columns\": {"));
        var calendar = Assert.Single(star.Target.References).Dimension;
        Assert.Equal((DimensionKind.Date, "date", "day"), (calendar.Kind, Assert.Single(calendar.Key), Assert.Single(calendar.Columns).Path));
        e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Spec("sales", "postgres", "\"table\": \"orders\"", Map(["day:text"])).Replace("\"columns\": {",
            "\"references\": [ { \"columns\": [\"day\"], \"dimension\": { \"table\": \"dim_fecha\", \"kind\": \"date\", \"key\": [\"x\"] } }, " +
            "{ \"columns\": [\"id\"], \"dimension\": { \"table\": \"dim_x\", \"kind\": \"month\" } } ], \"columns\": {")));
        Assert.Contains(e.Problems, p => p.Contains("a date dimension is referenced from one date column"));
        Assert.Contains(e.Problems, p => p.Contains("dimension.key: unknown field"));
        Assert.Contains(e.Problems, p => p.Contains("'month' is not 'date'"));
        // "*": only a SQL source's columns, and nothing that names columns beside it.
        Assert.True(ImportSpecParser.ParseJson(Spec("all", "postgres", "\"table\": \"orders\"", "").Replace("\"columns\": {  }", "\"columns\": \"*\"")).Target.AllColumns);
        e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson("""
            { "name": "x", "source": { "kind": "files", "path": "/data" },
              "target": { "table": "t", "columns": "*", "references": [], "validate": { "required": ["id"] } } }
            """));
        Assert.Contains(e.Problems, p => p.Contains("maps the columns of a SQL source"));
        Assert.Contains(e.Problems, p => p.StartsWith("target.references: not with \"columns\": \"*\"", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("target.validate: not with", StringComparison.Ordinal));
        // The version column of "*" is one of the columns planning finds.
        var all = Spec("all", "postgres", "\"table\": \"orders\"", "").Replace("\"columns\": {  }", "\"columns\": \"*\", \"versionColumn\": \"updated_at\"");
        Assert.Equal("updated_at", ImportSpecParser.ParseJson(all).Target.VersionColumn);
        // Incremental: read by a cursor and a tie-break column, not by file versions (true is for files), and it says so.
        e = Assert.Throws<SpecException>(() => ImportSpecParser.ParseJson(Spec("orders", "postgres", "\"table\": \"orders\"", Map([]), ", \"incremental\": true")));
        Assert.StartsWith("source.incremental: for a SQL source, an object with cursor, tieBreak and lagSeconds", Assert.Single(e.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Key_ranges_cut_equal_widths_and_quantiles_and_read_back_as_literals()
    {
        var ranges = KeyRanges.EqualWidth("id", KeyKind.Integer, "1", "100", 4);
        Assert.Equal(["1-26", "26-51", "51-76", "76-100]"], ranges.Select(r => $"{r.From}-{r.To}{(r.Last ? "]" : "")}"));
        // More ranges than keys: no empty ones by construction.
        Assert.Equal(3, KeyRanges.EqualWidth("id", KeyKind.Integer, "5", "7", 16).Count);
        Assert.Equal(["18446744073709551610", "18446744073709551613"], KeyRanges.EqualWidth("id", KeyKind.Integer, "18446744073709551610", "18446744073709551615", 2).Select(r => r.From));
        Assert.Equal(["2024-01-01", "2024-01-16"], KeyRanges.EqualWidth("d", KeyKind.Date, "2024-01-01", "2024-01-30", 2).Select(r => r.From));
        Assert.Equal(["0.5", "5.75"], KeyRanges.EqualWidth("n", KeyKind.Numeric, "0.5", "11.00", 2).Select(r => r.From));
        var at = KeyRanges.EqualWidth("t", KeyKind.TimestampTz, "2024-01-01 00:00:00.000000", "2024-01-01 00:00:01.000000", 2);
        Assert.Equal("TIMESTAMPTZ '2024-01-01 00:00:00.500000+00'", KeyValues.Literal(at[1].Kind, at[1].From));
        Assert.Equal(ranges.Count + 1, KeyRanges.AtBounds("id", KeyKind.Integer, ["1", "10", "11", "90", "95"], "100").Count);
        Assert.Throws<SourceDataException>(() => KeyValues.Literal(KeyKind.Integer, "1; DROP TABLE orders"));
        Assert.Throws<SourceDataException>(() => KeyValues.Literal(KeyKind.Date, "2024-01-01'--"));
    }

    // Loads a spec on one silo that can reach the shop's database; returns its final status.
    private static async Task<ImportStatus> LoadAsync(TestDatabase db, string spec, string shop)
    {
        var silo = db.StartSilo(env: Env(shop));
        await silo.StartedAsync();
        var id = await db.SubmitAsync(spec);
        return await db.WaitForAsync(id, TimeSpan.FromSeconds(60));
    }

    // Columns "name:type", each read from the source column of its name; "id" first unless given.
    private static string Map(IEnumerable<string> columns)
    {
        var list = columns.ToList();
        if (!list.Any(c => c.StartsWith("id:", StringComparison.Ordinal))) list.Insert(0, "id:bigint");
        return string.Join(", ", list.Select(c => c.Split(':')).Select(c => $"\"{c[0]}\": {{ \"path\": \"{c[0]}\", \"type\": \"{c[1]}\" }}"));
    }

    private static string Row(IEnumerable<string> expressions) => $"concat_ws('|', {string.Join(", ", expressions.Select(e => $"coalesce({e}, '{Null}')"))})";

    private static async Task Execute(NpgsqlDataSource source, string sql)
    {
        await using var cmd = source.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<List<string>> Rows(NpgsqlDataSource source, string sql)
    {
        var rows = new List<string>();
        await using var cmd = source.CreateCommand(sql);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add(string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? Null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }
}
