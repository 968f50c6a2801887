using Ingest.GrainInterfaces;

namespace Ingest.Engine.Sources.Sql;

/// <summary>
/// Every statement a SQL source runs on its database, for one engine: the table or query as a
/// relation <c>q</c>, the columns it reads, the key's statistics and quantiles, and a key range's
/// rows in key order. Identifiers are validated by the spec and quoted here; key values reach the
/// SQL only as literals written from parsed values (<see cref="KeyValues.Literal"/>). With a
/// <paramref name="window"/> (an incremental import), <c>q</c> holds only the rows of the window, so
/// the key's statistics, its quantiles and every range cover only those.
/// </summary>
public sealed class SourceSql(SqlSourceSpec spec, SqlWindow? window = null)
{
    private const string Alias = "q";

    /// <summary>An identifier quoted for the engine.</summary>
    public string Quote(string identifier) => spec.Engine == SqlEngine.Postgres
        ? "\"" + identifier.Replace("\"", "\"\"") + "\""
        : "`" + identifier.Replace("`", "``") + "`";

    /// <summary>A column of the relation.</summary>
    public string Column(string name) => $"{Alias}.{Quote(name)}";

    /// <summary>The table, or the query as a derived table, named <c>q</c>; within the window, when there is one.</summary>
    public string Relation => window is null ? Whole : $"(SELECT * FROM {Whole} WHERE {window.Where(this)}) AS {Alias}";

    /// <summary>The window the statements read within; null: every row.</summary>
    public SqlWindow? Window => window;

    // The table, or the query as a derived table, named q: every row.
    private string Whole => spec.Table is { } table
        ? $"{string.Join('.', table.Split('.').Select(Quote))} AS {Alias}"
        : $"(\n{spec.Query!.Trim().TrimEnd(';').TrimEnd()}\n) AS {Alias}";

    /// <summary>The columns read, by name; <c>*</c> when <paramref name="columns"/> is null (every column).</summary>
    public string List(IReadOnlyList<string>? columns) => columns is null ? $"{Alias}.*" : string.Join(", ", columns.Select(Column));

    /// <summary>The columns' names and types, without a row: it fails, with the engine's message, on a missing table or column or a query that does not run.</summary>
    public string Describe(IReadOnlyList<string>? columns) => $"SELECT {List(columns)} FROM {Whole} WHERE 1 = 0";

    /// <summary>
    /// The source's clock less <paramref name="lagSeconds"/>, as the cursor's kind reads it: PostgreSQL's
    /// <c>now()</c> for timestamptz, <c>localtimestamp</c> for timestamp and date; MySQL's <c>NOW(6)</c>
    /// (the session is in UTC). A date cursor takes its date.
    /// </summary>
    public string Clock(KeyKind kind, double lagSeconds)
    {
        var micros = ((long)Math.Round(lagSeconds * 1_000_000)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var at = spec.Engine == SqlEngine.Postgres
            ? $"{(kind == KeyKind.TimestampTz ? "now()" : "localtimestamp")} - {micros} * interval '1 microsecond'"
            : $"NOW(6) - INTERVAL {micros} MICROSECOND";
        return $"SELECT {(kind == KeyKind.Date ? (spec.Engine == SqlEngine.Postgres ? $"CAST({at} AS date)" : $"DATE({at})") : at)}";
    }

    /// <summary>
    /// The key's minimum and maximum, the rows whose key is NULL, and the rows; or, unless
    /// <paramref name="counted"/>, 1 when any key is NULL (else 0) and no count, without reading every row when the key has an index.
    /// </summary>
    public string KeyStats(string key, bool counted) => counted
        ? $"SELECT min({Column(key)}), max({Column(key)}), count(*) - count({Column(key)}), count(*) FROM {Relation}"
        : $"SELECT min({Column(key)}), max({Column(key)}), CASE WHEN EXISTS (SELECT 1 FROM {Relation} WHERE {Column(key)} IS NULL) THEN 1 ELSE 0 END, NULL FROM {Relation}";

    /// <summary>The first key of each of <paramref name="tiles"/> groups of about as many rows, ascending.</summary>
    public string Quantiles(string key, int tiles) =>
        $"SELECT min(ingest_key) FROM (SELECT {Column(key)} AS ingest_key, NTILE({tiles}) OVER (ORDER BY {Column(key)}) AS ingest_tile " +
        $"FROM {Relation} WHERE {Column(key)} IS NOT NULL) AS t GROUP BY ingest_tile ORDER BY 1";

    /// <summary>
    /// The rows a unit reads, in key order when it has a key range: those of the range from
    /// <paramref name="resumeAt"/> on (the key of the last committed row, whose ties the reader skips).
    /// </summary>
    public string Rows(IReadOnlyList<string> expressions, KeyRange? range, string? resumeAt)
    {
        var select = $"SELECT {string.Join(", ", expressions)} FROM {Relation}";
        if (range is null) return select;
        var (key, kind) = (Column(range.Column), range.Kind);
        var where = $"{key} >= {KeyValues.Literal(kind, range.From)} AND {key} {(range.Last ? "<=" : "<")} {KeyValues.Literal(kind, range.To)}";
        if (resumeAt is not null) where += $" AND {key} >= {KeyValues.Literal(kind, resumeAt)}";
        return $"{select} WHERE {where} ORDER BY {key}";
    }

    /// <summary>PostgreSQL: a query's rows in binary COPY format.</summary>
    public static string CopyOut(string query) => $"COPY ({query}) TO STDOUT (FORMAT BINARY)";

    /// <summary>
    /// PostgreSQL: how a column of the given type is read from a binary COPY. Types Npgsql reads
    /// natively are sent as they are; numeric as its exact text; arrays as JSON; anything else as its text.
    /// </summary>
    public string PostgresExpression(string name, string internalType, bool array) => array
        ? $"to_json({Column(name)})::text"
        : PostgresReader.IsNative(internalType) ? Column(name) : $"{Column(name)}::text";

    /// <summary>
    /// MariaDB: the JSON columns of the table (its JSON type is LONGTEXT with a <c>json_valid</c>
    /// check named after the column, which the protocol does not tell apart from text); null for a query.
    /// </summary>
    public string? MariaDbJsonColumns() => spec.Table is not { } table ? null
        : "SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS WHERE CHECK_CLAUSE LIKE 'json_valid(%' " +
          $"AND CONSTRAINT_SCHEMA = {(table.Contains('.') ? Text(table.Split('.')[0]) : "DATABASE()")} AND TABLE_NAME = {Text(table.Split('.')[^1])}";

    // A validated identifier as a string literal.
    private static string Text(string identifier) => "'" + identifier.Replace("'", "''") + "'";

    /// <summary>MySQL: the session's time zone, so that TIMESTAMP values read as UTC.</summary>
    public const string MySqlUtc = "SET time_zone = '+00:00'";

    /// <summary>PostgreSQL: the transaction reads, and only reads.</summary>
    public const string PostgresReadOnly = "SET TRANSACTION READ ONLY";
}
