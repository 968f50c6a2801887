namespace Ingest.GrainInterfaces;

/// <summary>
/// A SQL database as a source (<c>kind: "sql"</c>): a table or a query, read in one unit, or in key
/// ranges of <see cref="SplitBy"/> spread across the silos.
/// </summary>
/// <param name="Engine">The database engine.</param>
/// <param name="Connection">
/// A reference to the silos' environment (<c>${SHOP_DB}</c>) holding the engine's connection string,
/// resolved where a unit runs: the credentials are never stored.
/// </param>
/// <param name="Table">A table (<c>name</c> or <c>schema.name</c>), validated and quoted; or null with <paramref name="Query"/>.</param>
/// <param name="Query">A query, run as given inside a read-only transaction; or null with <paramref name="Table"/>.</param>
/// <param name="SplitBy">An integer, numeric, date or timestamp column of the table or query: its values are cut into key ranges.</param>
/// <param name="Ranges">How many key ranges (with <paramref name="SplitBy"/>); or null with <paramref name="RowsPerRange"/>.</param>
/// <param name="RowsPerRange">About how many rows each range holds (with <paramref name="SplitBy"/>); or null with <paramref name="Ranges"/>.</param>
/// <param name="Split">How the ranges are cut: equal widths between the key's minimum and maximum, or at its quantiles (skewed keys).</param>
public sealed record SqlSourceSpec(
    SqlEngine Engine,
    string Connection,
    string? Table,
    string? Query,
    string? SplitBy = null,
    int? Ranges = null,
    long? RowsPerRange = null,
    KeySplit Split = KeySplit.Equal)
{
    /// <summary>The engine names a spec may use, each with its engine (<c>mariadb</c> is read as MySQL).</summary>
    public static IReadOnlyDictionary<string, SqlEngine> EngineNames { get; } = new Dictionary<string, SqlEngine>(StringComparer.Ordinal)
    {
        ["postgres"] = SqlEngine.Postgres,
        ["mysql"] = SqlEngine.Mysql,
        ["mariadb"] = SqlEngine.Mysql,
    };
}

/// <summary>The database engines a SQL source can read.</summary>
public enum SqlEngine
{
    /// <summary>PostgreSQL, read with binary <c>COPY (…) TO STDOUT</c>.</summary>
    Postgres,

    /// <summary>MySQL or MariaDB.</summary>
    Mysql,
}

/// <summary>How a SQL source's key is cut into ranges.</summary>
public enum KeySplit
{
    /// <summary>Ranges of equal width between the key's minimum and maximum.</summary>
    Equal,

    /// <summary>Ranges holding about as many rows each, cut at the key's quantiles (for skewed keys).</summary>
    Quantiles,
}
