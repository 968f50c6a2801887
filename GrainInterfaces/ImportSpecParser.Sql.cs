using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Ingest.GrainInterfaces;

// source with kind 'sql': a table or query of a database, and how it is split into key ranges.
public static partial class ImportSpecParser
{
    [GeneratedRegex(@"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")]
    private static partial Regex EnvironmentOnly();

    private static SourceSpec? ReadSqlSource(JsonObject s, List<string> p)
    {
        const string where = "source";
        var engineText = RequiredString(s, "engine", where + ".engine", p);
        SqlEngine? engine = engineText is not null && SqlSourceSpec.EngineNames.TryGetValue(engineText, out var e) ? e : null;
        if (engineText is not null && engine is null)
            p.Add($"{where}.engine: unknown engine '{engineText}' (expected {string.Join(", ", SqlSourceSpec.EngineNames.Keys)})");
        var connection = RequiredString(s, "connection", where + ".connection", p);
        // A literal connection string would store its password with the import.
        if (connection is not null && !EnvironmentOnly().IsMatch(connection))
            p.Add($"{where}.connection: must name a variable of the silos' environment that holds the connection string, like \"${{SHOP_DB}}\", so that credentials are never stored");
        var table = OptionalString(s, "table", where + ".table", p);
        var query = OptionalString(s, "query", where + ".query", p);
        if (table is null == (query is null)) p.Add($"{where}: give either table (a table or schema.table) or query (a SELECT), not {(table is null ? "neither" : "both")}");
        if (table is not null && !(table.Split('.') is { Length: 1 or 2 } parts && parts.All(SqlIdentifier.IsValid)))
            p.Add($"{where}.table: '{table}' is not a table name or schema.table ({IdentifierRule})");
        if (query is { Length: 0 } || (query is not null && string.IsNullOrWhiteSpace(query))) p.Add($"{where}.query: must not be empty");

        var splitBy = OptionalString(s, "splitBy", where + ".splitBy", p);
        if (splitBy is not null && !SqlIdentifier.IsValid(splitBy)) p.Add($"{where}.splitBy: '{splitBy}' {IdentifierRule}");
        int? ranges = s.ContainsKey("ranges") ? OptionalInt(s, "ranges", where + ".ranges", 1, p) : null;
        long? rowsPerRange = s.ContainsKey("rowsPerRange") ? OptionalLong(s, "rowsPerRange", where + ".rowsPerRange", 1, p) : null;
        if (ranges is < 1 or > 100_000) p.Add($"{where}.ranges: must be between 1 and 100000");
        if (rowsPerRange is < 1) p.Add($"{where}.rowsPerRange: must be at least 1");
        var splitText = OptionalString(s, "split", where + ".split", p);
        var split = splitText switch
        {
            null or "equal" => KeySplit.Equal,
            "quantiles" => KeySplit.Quantiles,
            _ => Problem(p, $"{where}.split: '{splitText}' is not 'equal' (equal-width ranges) or 'quantiles' (skewed keys)", KeySplit.Equal),
        };
        if (splitBy is not null && ranges is null == (rowsPerRange is null))
            p.Add($"{where}: splitBy needs either ranges (how many) or rowsPerRange (about how many rows each), not {(ranges is null ? "neither" : "both")}");
        if (splitBy is null && (ranges is not null || rowsPerRange is not null || splitText is not null))
            p.Add($"{where}.splitBy: required with ranges, rowsPerRange or split (the column whose values are cut into ranges)");
        var chunkRows = OptionalInt(s, "chunkRows", where + ".chunkRows", SourceSpec.DefaultChunkRows, p);
        if (chunkRows < 1) p.Add($"{where}.chunkRows: must be at least 1");
        // The watermark store keeps file versions; a table's changed rows need a version column of their own.
        if (s.ContainsKey("incremental"))
            p.Add($"{where}.incremental: not available yet for a SQL source (incremental loads are for files and S3 objects); load the table or query whole, or a query that selects the new rows");
        Unknown(s, where, p, "kind", "engine", "connection", "table", "query", "splitBy", "ranges", "rowsPerRange", "split", "chunkRows", "incremental");
        if (engine is null || connection is null || (table is null && query is null)) return null;
        return new SourceSpec(SourceKind.Sql, null, null, null, "", null, ChunkRows: chunkRows,
            Sql: new SqlSourceSpec(engine.Value, connection, table, query, splitBy, ranges, rowsPerRange, split));
    }
}
